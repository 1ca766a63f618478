"""Identity commands: open an account (staff, CLI, seed) and check a password at login."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import msgspec
from tillroll.aggregates.errors import AlreadyExists, InvalidValue, NotFound, Unauthorized
from tillroll.aggregates.identity.account import Account, normalise_email
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.ports import EventStorePort

# scrypt with n=2**14, r=8, p=1: about 50 ms a check, the OWASP floor for scrypt.
_N, _R, _P = 2**14, 8, 1
MIN_PASSWORD = 8


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
    email = normalise_email(cmd.email)
    if len(cmd.password) < MIN_PASSWORD:
        raise InvalidValue(
            f"password must have at least {MIN_PASSWORD} characters", field="password"
        )
    if ctx.store.exists(Account.create_id(email)):
        raise AlreadyExists(f"an account for {email} already exists", field="email")
    account = Account.open(email, cmd.name, cmd.role, hash_password(cmd.password))
    return ctx.save(AccountOpened(str(account.id), account.email, account.role), account)


def authenticate(store: EventStorePort, email: str, password: str) -> Principal:
    """The principal for these credentials, or Unauthorized (same answer for both failures)."""
    try:
        account: Account = store.get(Account.create_id(normalise_email(email)))
    except (NotFound, InvalidValue):
        verify_password(password, _DUMMY_HASH)  # same cost either way: no user enumeration
        raise Unauthorized("email or password is wrong") from None
    if not verify_password(password, account.password_hash):
        raise Unauthorized("email or password is wrong")
    return Principal(subject=str(account.id), role=account.role, email=account.email)
