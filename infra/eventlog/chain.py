"""The tamper-evidence chain: every stored event carries SHA-256 over a canonical encoding of
itself and the hash of the event before it in the same stream (aggregate).

Chained per stream: optimistic concurrency orders the links of one stream (two writers of
version N cannot both commit). The chain does not cover notification ids (positions), so
renumbering the log (schema.py) leaves every chain intact.
"""

from __future__ import annotations

import hashlib
import struct
from uuid import UUID

GENESIS = bytes(32)
"""The 'previous hash' of a stream's first event."""


def _field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def link(previous: bytes, stream_id: UUID, version: int, topic: str, state: bytes) -> bytes:
    """Hash of one stored event, chained to the previous event of its stream. Every field is
    length-prefixed, so no two different events encode alike."""
    body = (
        _field(previous)
        + _field(stream_id.bytes)
        + _field(struct.pack(">q", version))
        + _field(topic.encode())
        + _field(state)
    )
    return hashlib.sha256(body).digest()
