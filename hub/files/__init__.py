"""The media store: uploads, their types and tokens, and files in the outbox."""
