"""Who may see and do what, where: users, tokens, sessions, area scopes, the audit log, and the
area tree scopes are made of.
"""
