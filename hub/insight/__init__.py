"""What officials review: participation per RT head and area, its trend and ranking, the
five-dimension scorecard, each ticket category's SLA record, and the monthly review notes.

Read-only over everything below it (the review notes are its own rows); nothing but the web
layer and the jobs imports it.
"""
