"""The audio core: the one internal frame format, G.711, resampling, VAD/endpointing, paced playout."""
