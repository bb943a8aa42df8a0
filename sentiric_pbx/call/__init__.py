"""One call, as plain data and protocols: the bottom of the import graph.

`record` (the call's record, its turns and statuses), `phone` (caller IDs as stored), `transport` (what
every ingress offers a call: metadata, frames, playout, events, control) and `agent` (what answers it).
No I/O, no metrics, no imports from the rest of the package: everything else imports down to here.
"""
