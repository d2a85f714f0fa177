"""What officials review: participation per RT head and area, its trend and ranking.

Read-only over everything below it; nothing but the web layer and the jobs imports it.
"""
