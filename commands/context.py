"""Who is asking, and the unit of work a handler saves through."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID, uuid4

import msgspec
from tillroll.aggregates.errors import NotFound
from tillroll.commands.ports import (
    CredentialStore,
    EventStorePort,
    IdempotencyClaim,
    Mailer,
    PaymentsPort,
)

R = TypeVar("R", bound=msgspec.Struct)


class Principal(msgspec.Struct, frozen=True):
    """The authenticated caller, as the API's token (or the CLI) vouches for it."""

    subject: str
    role: str
    email: str = ""

    @property
    def customer_id(self) -> UUID:
        return UUID(self.subject)

    @property
    def is_customer(self) -> bool:
        return self.role == "customer"


SYSTEM = Principal(subject="system", role="ops", email="")


@dataclass
class CommandContext:
    store: EventStorePort
    principal: Principal = SYSTEM
    request_id: str = field(default_factory=lambda: uuid4().hex)
    claim_scope: str | None = None
    claim_key: str | None = None
    claim_fingerprint: str | None = None
    mail: Mailer | None = None
    """Set where commands that send e-mail run (the worker)."""
    payments: PaymentsPort | None = None
    """Set where commands that talk to the payment provider run (API, worker)."""
    credentials: CredentialStore | None = None
    """Set where accounts are opened (the API, the CLI, the seed)."""

    @property
    def meta(self) -> dict[str, str]:
        return {
            "principal": self.principal.subject,
            "role": self.principal.role,
            "request_id": self.request_id,
        }

    def load(self, aggregate_id: UUID) -> Any:
        """One aggregate, as load_many gives it (from the cache when warm)."""
        found = self.store.get_many([aggregate_id])
        if aggregate_id not in found:
            raise NotFound(f"{aggregate_id} not found")
        return found[aggregate_id]

    def load_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        """Several aggregates in one go (one query when they are cached); missing ones are
        left out."""
        return self.store.get_many(aggregate_ids)

    def save(self, result: R, *aggregates: Any) -> R:
        """Save every changed aggregate in one transaction; the result learns its position."""
        claim = None
        if self.claim_key is not None:
            assert self.claim_scope is not None and self.claim_fingerprint is not None
            claim = IdempotencyClaim(
                scope=self.claim_scope,
                key=self.claim_key,
                fingerprint=self.claim_fingerprint,
                result=msgspec.json.encode(result),
            )
        position = self.store.save(*aggregates, meta=self.meta, claim=claim)
        return msgspec.structs.replace(result, position=position)  # type: ignore[type-var]
