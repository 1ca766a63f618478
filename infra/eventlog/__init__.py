"""The event log in one place: its schema and migrations (schema.py), the appends with the
hash chain and the idempotency records, the log-order reads and the library overrides
(recorder.py), several appends of one process in one transaction (combining.py, batch.py),
the wake-up for listeners sent after commits (notifier.py), the stream heads new events are
chained to (heads.py), the hash chain itself (chain.py) and the audit's raw reads
(audit_reads.py). docs/EVENT-LOG.md says what a position is and why no reader skips one."""
