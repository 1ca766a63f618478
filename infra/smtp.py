"""SMTP delivery (`TILLROLL_SMTP_URL`) with the standard library: plain, STARTTLS or
implicit TLS, with or without AUTH. A delivered Message-ID is remembered in Redis, so a job
that runs twice (rq forgot its id, or a retry after the message went out) sends once."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from tillroll.infra.mail import SENDER, to_email

SENT_TTL = 30 * 24 * 3600
"""How long a delivered Message-ID is remembered (seconds): as long as rq keeps failed jobs."""
SENDING_TTL = 120
"""A delivery in flight holds its Message-ID this long: a worker that dies mid-send frees
it for the job's next retry (rq's back-off waits longer than this before the last ones)."""
_TRUE = {"1", "true", "yes", "on"}


class SmtpUrlError(ValueError):
    pass


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None
    password: str | None
    timeout: float = 30.0


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://[user:pass@]host[:port][?starttls=1]` or `smtps://...` (implicit TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SmtpUrlError(f"expected smtp://host[:port] or smtps://host[:port], got {url!r}")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    implicit = parts.scheme == "smtps"
    starttls = not implicit and query.get("starttls", "").lower() in _TRUE
    port = parts.port or (465 if implicit else 587 if starttls else 25)
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        implicit_tls=implicit,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        timeout=float(query.get("timeout", 30)),
    )


class MessageInFlight(RuntimeError):
    """Another delivery of this Message-ID is under way (or died mid-send): retry later."""


class SentLedger:
    """Delivered Message-IDs in Redis: `claim` before sending, `delivered` after,
    `release` if the send failed."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def _key(self, message_id: str) -> str:
        return f"{self.prefix}mail:sent:{message_id}"

    def claim(self, message_id: str) -> bool:
        """True: this process may send it. False: it was delivered before."""
        key = self._key(message_id)
        if self.client.set(key, b"sending", nx=True, ex=SENDING_TTL):
            return True
        if self.client.get(key) == b"sent":
            return False
        raise MessageInFlight(f"{message_id} is being sent by another worker")

    def delivered(self, message_id: str) -> None:
        self.client.set(self._key(message_id), b"sent", ex=SENT_TTL)

    def release(self, message_id: str) -> None:
        self.client.delete(self._key(message_id))


class SmtpMailer:
    """One connection per message (a worker sends few, and a stale pooled connection is a
    failure mode of its own). Server certificates are verified with `ssl_context`."""

    def __init__(
        self,
        target: SmtpTarget,
        sender: str = SENDER,
        *,
        ledger: SentLedger | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.target = target
        self.sender = sender
        self.ledger = ledger
        self.ssl_context = ssl_context or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        t = self.target
        if t.implicit_tls:
            return smtplib.SMTP_SSL(t.host, t.port, timeout=t.timeout, context=self.ssl_context)
        return smtplib.SMTP(t.host, t.port, timeout=t.timeout)

    def send(self, mail: Any) -> bool:
        if self.ledger is not None and not self.ledger.claim(mail.message_id):
            return False
        try:
            with self._connect() as smtp:
                if self.target.starttls:
                    smtp.starttls(context=self.ssl_context)
                if self.target.username is not None:
                    smtp.login(self.target.username, self.target.password or "")
                smtp.send_message(to_email(mail, self.sender))
        except BaseException:
            if self.ledger is not None:
                self.ledger.release(mail.message_id)
            raise
        if self.ledger is not None:
            self.ledger.delivered(mail.message_id)
        return True
