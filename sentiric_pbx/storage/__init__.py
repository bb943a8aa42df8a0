"""Where calls are kept: the SQLite database, the context store (SQLite or Redis), the archive."""
