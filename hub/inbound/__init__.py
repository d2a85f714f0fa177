"""Where what the channels report meets the domain: stored events, statuses on the ladder, and
members' messages handed to the router.
"""
