"""Telephony edges: each ingress converts its wire format to 16 kHz 20 ms frames and back."""
