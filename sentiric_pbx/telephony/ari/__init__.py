"""ARI: a Stasis app (`app`) whose callers reach the agent through externalMedia — RTP (`rtp`), AudioSocket
(the audiosocket listener) or chan_websocket (`chan_websocket`)."""
