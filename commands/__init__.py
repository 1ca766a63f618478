"""The write side: command messages and their handlers (load, call the domain, save once)."""
