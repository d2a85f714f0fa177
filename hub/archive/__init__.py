"""The public archive against hoaxes: the announcements staff chose to publish, readable by
anyone without a login, and the check of a verification code or a pasted text against them.

`entries` reads the archive (only what a resident may see: no recipients, no counts, no staff),
`verify` answers whether a code or a text is an official announcement, `commands` registers
`CEK <kode>` on the router. Publishing itself (the code, the fingerprints) happens as a broadcast
lives, in hub/broadcast/publication.py.
"""
