"""Identity commands: open an account (registration, CLI, seed), check a password at login,
change it. Hashes go to the credentials store (commands/ports.py), never into an event."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any
from uuid import UUID

import msgspec
from tillroll.aggregates.customers.customer import Customer
from tillroll.aggregates.errors import AlreadyExists, InvalidValue, NotFound, Unauthorized
from tillroll.aggregates.identity.account import Account, normalise_email
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.passwords import check_password
from tillroll.commands.ports import CredentialStore, EventStorePort

# scrypt with n=2**14, r=8, p=1: about 50 ms a check, the OWASP floor for scrypt.
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    enc = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${enc(salt).decode()}${enc(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        _, n, r, p, salt, digest = encoded.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY_HASH = hash_password(secrets.token_hex(8))


class OpenAccount(msgspec.Struct, frozen=True):
    email: str
    name: str
    role: str
    password: str


class AccountOpened(msgspec.Struct):
    account_id: str
    email: str
    role: str
    position: int = 0


def open_account(cmd: OpenAccount, ctx: CommandContext) -> AccountOpened:
    """Open an account; a customer account gets its Customer (same id) in the same save."""
    email = normalise_email(cmd.email)
    check_password(cmd.password, email)
    if ctx.credentials is None:
        raise RuntimeError("opening an account needs the credentials store (CommandContext)")
    if ctx.store.exists(Account.create_id(email)):
        raise AlreadyExists(f"an account for {email} already exists", field="email")
    account = Account.register(email, cmd.name, cmd.role)
    aggregates: list[Any] = [account]
    if account.role == "customer":
        aggregates.append(Customer.register(account.id, cmd.name))
    # Crash safety: the account's events and its password hash commit in one transaction
    # (CredentialStore.save_account), so there is never a taken e-mail that cannot log in,
    # nor an account without credentials. A twin registration loses the append (the stream
    # exists: ConcurrencyConflict), the bus retries it and the retry answers 409 above.
    position = ctx.credentials.save_account(
        account.id, hash_password(cmd.password), *aggregates, meta=ctx.meta
    )
    return AccountOpened(str(account.id), account.email, account.role, position)


def authenticate(
    store: EventStorePort, credentials: CredentialStore, email: str, password: str
) -> Principal:
    """The principal for these credentials, or Unauthorized (same answer for both failures)."""
    try:
        account: Account = store.get(Account.create_id(normalise_email(email)))
    except (NotFound, InvalidValue):
        account = None  # type: ignore[assignment]
    stored = None if account is None else credentials.password_hash(account.id)
    # Accounts opened before the credentials table carry their hash in the Opened event:
    # it is still accepted, and moved to the table on the first successful login.
    legacy = stored is None and account is not None and account.password_hash is not None
    if legacy:
        stored = account.password_hash
    if stored is None:
        verify_password(password, _DUMMY_HASH)  # same cost either way: no user enumeration
        raise Unauthorized("email or password is wrong")
    if not verify_password(password, stored):
        raise Unauthorized("email or password is wrong")
    if legacy:
        credentials.adopt(account.id, stored)
    return Principal(subject=str(account.id), role=account.role, email=account.email)


def change_password(
    store: EventStorePort,
    credentials: CredentialStore,
    principal: Principal,
    current: str,
    new: str,
) -> None:
    """Check the current password, then store the new one; every session is revoked."""
    authenticate(store, credentials, principal.email, current)
    check_password(new, principal.email)
    credentials.change(UUID(principal.subject), hash_password(new))
