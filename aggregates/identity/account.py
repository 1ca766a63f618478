"""Account: someone who can log in, with one role. Its credentials live outside the log (the
credentials table); only accounts opened before that carry a password hash in their event."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.errors import InvalidValue

ROLES = ("customer", "staff", "auditor", "ops")


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or "@" in domain or " " in email or len(email) > 254:
        raise InvalidValue("email is not a valid address", field="email")
    return email


class Account(Aggregate):
    @staticmethod
    def create_id(email: str, **_: object) -> UUID:
        return uuid5(NAMESPACE_URL, f"/tillroll/accounts/{email}")

    class Registered(Aggregate.Created):
        """An account opened with its credentials kept outside the log."""

        email: str
        name: str
        role: str

    @classmethod
    def register(cls, email: str, name: str, role: str) -> Account:
        """A new account; its password hash goes to the credentials store, never an event."""
        email = normalise_email(email)
        _check_role(role)
        return cls._create(
            cls.Registered, id=cls.create_id(email), email=email, name=name, role=role
        )

    @classmethod
    def open(cls, email: str, name: str, role: str, password_hash: str) -> Account:
        """The old way, with the hash in the Opened event: kept so that old streams load and
        their shape stays tested; no command opens accounts like this any more."""
        _check_role(role)
        return cls(email=normalise_email(email), name=name, role=role, password_hash=password_hash)

    @event("Opened")
    def __init__(self, email: str, name: str, role: str, password_hash: str = "") -> None:
        self.email = email
        self.name = name
        self.role = role
        self.password_hash: str | None = password_hash or None
        """Only accounts opened before the credentials table; login moves it there."""


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidValue(f"role must be one of {', '.join(ROLES)}", field="role")
