"""Adapters to the systems a call acts on (CRM, calendar): a small protocol each, SQLite built in, HTTP for the rest."""
