"""Balai Warga: the kelurahan broadcast and feedback hub."""

__version__ = "0.1.0"
