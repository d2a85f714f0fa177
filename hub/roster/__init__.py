"""Who the hub talks to: members, seats, addresses, audiences, group chats, invites, join requests,
roster imports.
"""
