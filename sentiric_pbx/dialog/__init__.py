"""The call itself: listening, thinking, speaking. Knows nothing of wire formats."""
