"""Account: someone who can log in, with one role. The password arrives already hashed."""

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

    @classmethod
    def open(cls, email: str, name: str, role: str, password_hash: str) -> Account:
        if role not in ROLES:
            raise InvalidValue(f"role must be one of {', '.join(ROLES)}", field="role")
        return cls(email=normalise_email(email), name=name, role=role, password_hash=password_hash)

    @event("Opened")
    def __init__(self, email: str, name: str, role: str, password_hash: str) -> None:
        self.email = email
        self.name = name
        self.role = role
        self.password_hash = password_hash
