"""CRM adapters: look a caller up by phone number; save a call's summary after it ends."""
