"""What handlers need from the outside world, as protocols; infra provides the real thing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable
from uuid import UUID

import msgspec


class IdempotencyClaim(msgspec.Struct, frozen=True):
    """Written with the command's events, in their transaction: a repeat finds it."""

    scope: str
    key: str
    fingerprint: str
    result: bytes


class StoredResult(NamedTuple):
    fingerprint: str
    result: bytes
    position: int


@runtime_checkable  # the API's dependency injection checks what it injects with isinstance
class EventStorePort(Protocol):
    def get(self, aggregate_id: UUID, *, version: int | None = None) -> Any: ...

    def get_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]: ...

    def exists(self, aggregate_id: UUID) -> bool: ...

    def save(
        self, *aggregates: Any, meta: Mapping[str, str], claim: IdempotencyClaim | None = None
    ) -> int: ...

    def find_result(self, scope: str, key: str) -> StoredResult | None: ...
