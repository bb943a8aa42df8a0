"""Calendar adapters: free slots, bookings, cancellations."""
