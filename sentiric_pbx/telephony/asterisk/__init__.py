"""Asterisk's control side for AudioSocket calls: FastAGI registration (who is calling) and AMI (events,
caller metadata, transfer, originate). No audio passes here."""
