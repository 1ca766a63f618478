"""The eventsourcing library's own reusable test cases, pointed at tillroll's recorder."""
