"""Tasks: what the agent *does* for an intent (book, cancel, reschedule, opening hours, transfer, end call)."""
