"""The visit ledger: the core domain every other package builds on.

Pure rules (pairing, anomalies, durations, motives, phones) live in plain
modules with no I/O; ``ledger.models`` maps them to tables and
``ledger.service`` is the one place that writes call events and visits.
"""
