"""Between the domain and the channels: the sender that takes queued rows out through their
channel, and the router that hands members' messages to the handlers packages registered. It
knows message kinds and dialog flows only by registration (hub/runtime.py composes them).
"""
