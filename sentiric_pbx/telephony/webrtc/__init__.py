"""The browser phone: the /phone page and its signalling (`ingress`), ICE address limits (`ice`) and
Opus media through aiortc (`media`)."""
