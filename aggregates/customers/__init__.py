"""Customers: the shopper behind a customer account, with a profile, addresses and a tier."""
