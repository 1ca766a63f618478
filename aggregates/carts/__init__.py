"""Carts context: a shopper's cart, its lines and its way to checkout."""
