"""The fault suite (issue #7): real processes and sockets, one fault each, every call record kept.

Run it alone with `.venv/bin/pytest tests/faults`; `bench/soak.py` runs the same faults at scale.
"""
