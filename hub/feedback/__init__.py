"""Feedback from RT heads: tickets (complaints and service requests), polls and the staff inbox.

Above hub.broadcast (a poll is a broadcast with options) and below hub.inbound, which registers
the dialogs and keywords of this package on the router.
"""
