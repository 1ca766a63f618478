"""tillroll: an event-sourced, CQRS commerce engine.

The installed import package. Its subpackages `tillroll.aggregates`, `commands`, `queries`,
`projections`, `api` and `infra` are the repository's top-level folders (mapped in
pyproject.toml); this folder holds what wires them together and starts them: the
composition root (`bootstrap`), the command line (`cli`), the multi-process ASGI factory
(`asgi`) and the demo data (`seed`).
"""
