"""Identity context: accounts that can log in, and their roles."""
