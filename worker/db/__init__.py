"""Database adapter: models, sessions and migrations."""
