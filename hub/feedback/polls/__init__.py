"""Polls: a broadcast with options; one vote per member, changeable until it closes."""
