"""What handlers and reactions need from the outside world, as protocols; infra provides the
real thing and the composition root (tillroll/bootstrap.py) passes it in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable
from uuid import UUID

import msgspec
from tillroll.aggregates.catalog.attributes import BASE_TIER


class IdempotencyClaim(msgspec.Struct, frozen=True):
    """Written with the command's events, in their transaction: a repeat finds it."""

    scope: str
    key: str
    fingerprint: str
    result: bytes


class PendingWrite(NamedTuple):
    """One command's share of a batched append: its new events (in order), who caused them
    and its idempotency record. Each command's events are stored under its own metadata."""

    events: Sequence[Any]
    meta: Mapping[str, str]
    claim: IdempotencyClaim | None


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

    def save_batch(self, writes: Sequence[PendingWrite], aggregates: Sequence[Any]) -> list[int]:
        """Append several commands' events in one transaction (all or none; a stale version
        or a claimed key fails them all with ConcurrencyConflict) and return each command's
        position. `aggregates` are their final states, events collected (for the cache)."""
        ...

    def find_result(self, scope: str, key: str) -> StoredResult | None: ...


class OutgoingMail(msgspec.Struct, frozen=True):
    """One e-mail. Its Message-ID is derived from its cause (the order, the refund...), so a
    second delivery of the same cause is recognisable and a mailer can refuse it."""

    message_id: str
    to: str
    subject: str
    text: str
    headers: dict[str, str] = {}


class Mailer(Protocol):
    def send(self, mail: OutgoingMail) -> bool:
        """Deliver the message once: False (and nothing sent) if its Message-ID was
        delivered before."""
        ...


class JobQueue(Protocol):
    def enqueue(self, command: msgspec.Struct, *, job_id: str, queue: str = "default") -> bool:
        """Run `command` later, in a worker, at most once per `job_id` (characters
        A-Z a-z 0-9 - _): False if a job with that id exists already."""
        ...


@runtime_checkable  # checked by the API's dependency injection, as EventStorePort
class CustomerTiers(Protocol):
    """A customer's price tier (aggregates/catalog/attributes.py: BASE_TIER or one of TIERS),
    for whoever builds a command that prices lines (carts, checkout) or shows prices."""

    def tier_of(self, customer_id: UUID | None) -> str: ...


class BaseTierForEveryone:
    """The default CustomerTiers until customers have tiers: everyone pays the base price."""

    def tier_of(self, customer_id: UUID | None) -> str:
        return BASE_TIER
