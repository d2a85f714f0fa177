"""Announcements: creating and scheduling them, fanning them out to deliveries, the read ladder,
reminders, escalation, corrections, falling back to a member's next channel, saved member groups,
and the outbox hooks of their message kinds.
"""
