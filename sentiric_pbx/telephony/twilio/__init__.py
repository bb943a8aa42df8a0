"""Twilio Media Streams: the signed voice webhook and the bidirectional stream (`ingress`), the JSON
messages (`protocol`) and the μ-law transport with marks and clear (`transport`)."""
