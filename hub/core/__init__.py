"""The hub's own machinery, with no domain knowledge: config, errors, clock, texts, tasks,
metrics, leases, database, phone numbers, exports, dialog state, and the outbox (the one
constructor of outbound rows, which every package uses to queue a message, and the per-kind
hooks registry the sender reads).
"""
