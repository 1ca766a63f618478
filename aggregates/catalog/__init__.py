"""Catalog context: products and their prices."""
