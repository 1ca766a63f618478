"""What handlers and reactions need from the outside world, as protocols; infra provides the
real thing and the composition root (tillroll/bootstrap.py) passes it in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
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
    html: str = ""
    """The same message as HTML (an alternative to `text`); empty: plain text only."""


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

    def schedule(
        self, command: msgspec.Struct, *, job_id: str, at: datetime, queue: str = "default"
    ) -> bool:
        """Like `enqueue`, but the job runs no earlier than `at` (timezone-aware)."""


class Intent(Protocol):
    """A payment intent as the provider reports it. The client secret is handed to the
    paying customer and never stored in the log."""

    @property
    def id(self) -> str: ...
    @property
    def client_secret(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def currency(self) -> str: ...


class ProviderRefund(Protocol):
    @property
    def id(self) -> str:
        """The provider's id of the refund (Stripe: re_...)."""
        ...

    @property
    def refund_id(self) -> str:
        """Ours (the order's refund id, sent as metadata and as the idempotency key)."""
        ...

    @property
    def status(self) -> str: ...
    @property
    def amount(self) -> int: ...


@runtime_checkable  # the API's dependency injection checks what it injects with isinstance
class PaymentsPort(Protocol):
    """The payment provider: Stripe, or the built-in test-mode provider."""

    mode: str
    """'stripe' or 'test'."""

    def create_intent(self, order_id: UUID, amount: int, currency: str, key: str) -> Intent:
        """Create (or, for the same idempotency key, return again) an intent."""
        ...

    def get_intent(self, intent_id: str) -> Intent: ...

    def refund(self, intent_id: str, amount: int, refund_id: str) -> ProviderRefund:
        """Refund part of a payment; `refund_id` is the idempotency key."""
        ...

    def refunds_of(self, intent_id: str) -> list[ProviderRefund]: ...

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The webhook's event if its signature is valid and fresh, else BadSignature."""


class CredentialStore(Protocol):
    """Password hashes, outside the event log (DESIGN rule 9), and the sessions' refresh
    tokens they vouch for. An adapter in infra/ keeps both in PostgreSQL."""

    def password_hash(self, account_id: UUID) -> str | None:
        """The stored hash, or None (no such account, or one from before this store)."""
        ...

    def save_account(
        self, account_id: UUID, password_hash: str, *aggregates: Any, meta: Mapping[str, str]
    ) -> int:
        """A new account's aggregates and its hash in one transaction: both or neither. A
        stream or a hash that exists already fails it with ConcurrencyConflict."""
        ...

    def adopt(self, account_id: UUID, password_hash: str) -> None:
        """Keep an old account's hash (read from its Opened event) unless one is stored."""
        ...

    def change(self, account_id: UUID, password_hash: str) -> None:
        """Replace the hash and revoke every session of the account, in one transaction."""
        ...


class SessionStore(Protocol):
    """Refresh tokens: opaque, stored hashed, one family per login, rotated on each use."""

    def issue(self, account_id: UUID) -> str:
        """A new session (a new family) and its first refresh token."""
        ...

    def rotate(self, token: str) -> tuple[UUID, str]:
        """The account and a fresh token for a live one, which stops working. A rotated or
        revoked token revokes its whole family (reuse: the theft signal); an unknown,
        expired or revoked one raises Unauthorized."""
        ...

    def revoke(self, token: str) -> None:
        """End the session this token belongs to (its family); unknown tokens are ignored."""
        ...


@runtime_checkable  # checked by the API's dependency injection, as EventStorePort
class CustomerTiers(Protocol):
    """A customer's price tier (aggregates/catalog/attributes.py: BASE_TIER or one of TIERS),
    for whoever builds a command that prices lines (carts, checkout) or shows prices."""

    def tier_of(self, customer_id: UUID | None) -> str: ...


class BaseTierForEveryone:
    """A CustomerTiers where everyone pays the base price (apps built without customers)."""

    def tier_of(self, customer_id: UUID | None) -> str:
        return BASE_TIER
