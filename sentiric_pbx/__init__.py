"""sentiric-pbx: a self-hosted voice agent daemon for Asterisk and FreeSWITCH PBX hosts."""

__version__ = "0.1.0"
