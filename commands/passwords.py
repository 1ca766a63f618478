"""The password policy for new passwords: long enough, not the e-mail address or its local
part, and not one of the most common passwords (commands/common-passwords.txt, shipped as
package data: the top of the public most-common-password lists, lower-cased)."""

from __future__ import annotations

import functools
from importlib import resources

from tillroll.aggregates.errors import InvalidValue

MIN_PASSWORD = 8
MAX_PASSWORD = 1024


@functools.cache
def common_passwords() -> frozenset[str]:
    text = resources.files("tillroll.commands").joinpath("common-passwords.txt").read_text()
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def check_password(password: str, email: str) -> None:
    """Raise InvalidValue naming `password` unless it may be used for this account."""
    if len(password) < MIN_PASSWORD:
        raise InvalidValue(
            f"password must have at least {MIN_PASSWORD} characters", field="password"
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidValue(f"password has at most {MAX_PASSWORD} characters", field="password")
    folded = password.strip().lower()
    # "Password1!" is as guessable as "password": also compare without trailing digits and
    # punctuation, and refuse a single repeated character.
    bare = folded.rstrip("0123456789!?.#*@$_-")
    email = email.lower()
    if {folded, bare} & {email, email.partition("@")[0]}:
        raise InvalidValue("password must not be the e-mail address", field="password")
    common = common_passwords()
    if folded in common or (bare and bare in common) or len(set(folded)) <= 2:
        raise InvalidValue("password is too common; choose another", field="password")
