"""Text as a read model can store it: PostgreSQL `text` and `jsonb` cannot hold NUL, while
an event (JSON in the log) can. A NUL that reached a statement would stop the read model on
every retry, so every projector passes event text through here, whatever the API checked."""

from __future__ import annotations

from collections.abc import Iterable

REPLACEMENT = "\ufffd"


def storable(text: str) -> str:
    return text.replace("\x00", REPLACEMENT) if "\x00" in text else text


def storable_list(texts: Iterable[str]) -> list[str]:
    return [storable(text) for text in texts]


def storable_map(mapping: dict[str, str]) -> dict[str, str]:
    return {storable(key): storable(value) for key, value in mapping.items()}
