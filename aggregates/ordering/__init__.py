"""Ordering context: orders, their lines and their lifecycle."""
