"""Typed domain errors: the only errors the API and the CLI turn into statuses and exit codes."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""

    title = "Domain rule"

    def __init__(self, detail: str, *, field: str | None = None, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class NotFound(DomainError):
    title = "Not found"


class Conflict(DomainError):
    """The request is well formed but clashes with the current state (HTTP 409)."""

    title = "Conflict"


class RuleViolation(DomainError):
    """The request breaks a business rule whatever the state (HTTP 422)."""

    title = "Business rule violated"


class InsufficientStock(Conflict):
    title = "Insufficient stock"

    def __init__(self, sku: str, requested: int, available: int) -> None:
        super().__init__(
            f"sku {sku!r}: requested {requested}, available {available}",
            field="sku",
            sku=sku,
            requested=requested,
            available=available,
        )
        self.sku = sku
        self.requested = requested
        self.available = available


class IllegalTransition(Conflict):
    title = "Illegal state transition"


class AlreadyExists(Conflict):
    title = "Already exists"


class PriceMismatch(RuleViolation):
    title = "Price mismatch"


class InvalidValue(RuleViolation):
    title = "Invalid value"


class BadSignature(DomainError):
    """A signed message (a payment provider's webhook) whose signature is missing, wrong or
    stale: nothing in it may be believed (HTTP 400)."""

    title = "Invalid signature"


class Unauthorized(DomainError):
    """Credentials were not accepted."""

    title = "Unauthorized"


class ConcurrencyConflict(Conflict):
    """Another command changed the same aggregate first; the command may be retried."""

    title = "Concurrent update"
