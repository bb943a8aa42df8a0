"""After the call (seed §5): summary → CRM, archive recording + transcript, analytics — through a durable queue."""
