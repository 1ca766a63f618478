"""The outside world: settings, PostgreSQL, Redis, embedded servers, event store wiring, CLI."""
