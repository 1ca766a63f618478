"""The domain: event-sourced aggregates, their events, value objects and errors. No I/O."""
