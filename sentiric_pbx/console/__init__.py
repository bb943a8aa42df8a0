"""The admin's web console: live calls, every past call with its audio, transcript and timing (server.py)."""
