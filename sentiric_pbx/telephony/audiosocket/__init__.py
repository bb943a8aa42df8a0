"""Asterisk AudioSocket: the `AudioSocket()` application, `Dial(AudioSocket/…)` and ARI's AudioSocket
externalMedia all connect to this listener (`protocol` is the frame format, `server` the calls)."""
