"""An aggregate's state as rows of (field path, value), and what changed between two
versions, for the auditor's version slider: readable as a table, the change marked in words
(added, removed, changed) as well as by the page's <ins>/<del>/<mark>, never by colour only."""

from __future__ import annotations

import json
from typing import Any

import msgspec

ADDED, REMOVED, CHANGED, SAME = "added", "removed", "changed", "same"


class StateRow(msgspec.Struct):
    path: str
    value: str | None
    """The value at this version (None: the field is gone)."""
    before: str | None
    """The value at the previous version (None: the field did not exist)."""
    change: str


def flatten(value: Any, path: str = "") -> dict[str, str]:
    """Nested dicts and lists as {"lines[0].sku": '"MUG"'}: each leaf as compact JSON."""
    if isinstance(value, dict) and value:
        out: dict[str, str] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{path}[{i}]"))
        return out
    return {path or "(value)": json.dumps(value, ensure_ascii=False, default=str)}


def diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[StateRow]:
    """Every field of `after` (and those `before` had that `after` lost), in `after`'s order,
    each with what happened to it since `before` (None: there was no previous version, so
    everything is new)."""
    old = flatten(before) if before is not None else {}
    new = flatten(after)
    rows = []
    for path, value in new.items():
        change = ADDED if path not in old else SAME if old[path] == value else CHANGED
        rows.append(StateRow(path, value, old.get(path), change))
    rows += [StateRow(path, None, value, REMOVED) for path, value in old.items() if path not in new]
    return rows
