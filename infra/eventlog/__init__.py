"""The event log in one place: its schema and migrations (schema.py), the one-statement
append with the hash chain and the idempotency record, the log-order reads and the library
overrides (recorder.py), the hash chain itself (chain.py) and the audit's raw reads
(audit_reads.py). docs/EVENT-LOG.md says what a position is and why no reader skips one."""
