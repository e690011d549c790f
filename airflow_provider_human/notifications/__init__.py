"""Notifiers: tell people which reconciliation day failed, what waits for them, and where to answer."""
