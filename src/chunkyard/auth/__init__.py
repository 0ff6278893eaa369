"""Authentication: users, passwords, signed session tokens and API keys."""
