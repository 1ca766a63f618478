"""SMTP delivery to a real SMTP server (aiosmtpd) on 127.0.0.1: STARTTLS with a throwaway
certificate and AUTH, implicit TLS, a refused login, one delivery per Message-ID, and the
worker sending an order's confirmation through TILLROLL_SMTP_URL end to end."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import smtplib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tillroll.aggregates.identity.account import Account
from tillroll.commands.ports import OutgoingMail
from tillroll.infra.settings import Settings
from tillroll.infra.smtp import SentLedger, SmtpMailer, parse_smtp_url

from tests.conftest import open_accounts
from tests.integration.workload import create_product, order
from tillroll.bootstrap import Runtime
from tillroll.worker import work

USER, PASSWORD = "shop", "s3cret pass"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cert, key), made for this test run only."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class Inbox:
    """aiosmtpd's handler: keeps every message it accepts, with how it was delivered."""

    messages: list[email.message.Message] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.original_content))
        self.sessions.append(
            {
                # STARTTLS sets session.ssl; an implicit-TLS transport carries its own.
                "tls": session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
                "login": session.auth_data.login if session.authenticated else None,
                "rcpt": list(envelope.rcpt_tos),
            }
        )
        return "250 OK"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False, auth_data=data)


def _server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def _client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    """Verifies the server against the throwaway certificate, host name included."""
    return ssl.create_default_context(cafile=str(certificate[0]))


def _serve(inbox: Inbox, **options: Any) -> Iterator[int]:
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    for port in _serve(
        inbox,
        tls_context=_server_context(certificate),
        require_starttls=True,
        authenticator=_authenticate,
        auth_require_tls=True,
    ):
        yield inbox, port


def _mail(message_id: str = "<receipt.1234@tillroll>") -> OutgoingMail:
    return OutgoingMail(
        message_id=message_id,
        to="customer@example.com",
        subject="Receipt for your order 1234",
        text="we received your payment of 25.98 EUR",
        html="<p>we received your payment of <strong>25.98 EUR</strong></p>",
        headers={"X-Tillroll-Order": "1234"},
    )


def test_starttls_and_auth_deliver_the_message(
    starttls_server: tuple[Inbox, int], certificate: tuple[Path, Path]
) -> None:
    inbox, port = starttls_server
    target = parse_smtp_url(f"smtp://{USER}:s3cret%20pass@127.0.0.1:{port}?starttls=1")
    mailer = SmtpMailer(target, ssl_context=_client_context(certificate))
    assert mailer.send(_mail())
    (message,) = inbox.messages
    assert inbox.sessions[0]["tls"] and inbox.sessions[0]["login"] == USER.encode()
    assert inbox.sessions[0]["rcpt"] == ["customer@example.com"]
    assert message["Message-ID"] == "<receipt.1234@tillroll>"
    assert message["X-Tillroll-Order"] == "1234"
    types = [part.get_content_type() for part in message.walk()]
    assert types == ["multipart/alternative", "text/plain", "text/html"]


def test_a_wrong_password_fails_and_leaves_the_message_to_a_retry(
    starttls_server: tuple[Inbox, int], certificate: tuple[Path, Path], runtime: Runtime
) -> None:
    inbox, port = starttls_server
    ledger = SentLedger(runtime.redis, runtime.settings.redis_prefix)
    context = _client_context(certificate)
    wrong = parse_smtp_url(f"smtp://{USER}:nope@127.0.0.1:{port}?starttls=1")
    with pytest.raises(smtplib.SMTPAuthenticationError):
        SmtpMailer(wrong, ledger=ledger, ssl_context=context).send(_mail())
    right = replace(wrong, password=PASSWORD)
    assert SmtpMailer(right, ledger=ledger, ssl_context=context).send(_mail())
    assert len(inbox.messages) == 1


def test_a_message_id_is_delivered_once(
    starttls_server: tuple[Inbox, int], certificate: tuple[Path, Path], runtime: Runtime
) -> None:
    inbox, port = starttls_server
    target = parse_smtp_url(f"smtp://{USER}:s3cret%20pass@127.0.0.1:{port}?starttls=1")
    ledger = SentLedger(runtime.redis, runtime.settings.redis_prefix)
    mailer = SmtpMailer(target, ledger=ledger, ssl_context=_client_context(certificate))
    assert mailer.send(_mail()) is True
    assert mailer.send(_mail()) is False  # a job run twice: not sent again
    assert mailer.send(_mail("<refund.1234.5@tillroll>")) is True
    assert [m["Message-ID"] for m in inbox.messages] == [
        "<receipt.1234@tillroll>",
        "<refund.1234.5@tillroll>",
    ]


def test_implicit_tls_delivers_the_message(certificate: tuple[Path, Path]) -> None:
    inbox = Inbox()
    for port in _serve(inbox, ssl_context=_server_context(certificate)):
        target = parse_smtp_url(f"smtps://127.0.0.1:{port}")
        assert SmtpMailer(target, ssl_context=_client_context(certificate)).send(_mail())
    (session,) = inbox.sessions
    assert session["tls"]


def test_the_worker_sends_an_order_confirmation_through_the_smtp_url(
    settings: Settings,
) -> None:
    inbox = Inbox()
    for port in _serve(inbox):
        runtime = Runtime.open(replace(settings, smtp_url=f"smtp://127.0.0.1:{port}"))
        try:
            open_accounts(runtime)
            create_product(runtime.store, "MUG", 1299, 5)
            order_id = order(
                runtime.store, Account.create_id("customer@example.com"), [("MUG", 1, 1299)]
            )
            runtime.runner.catch_up()
            work(runtime, burst=True)
            work(runtime, burst=True)
        finally:
            runtime.close()
    (message,) = inbox.messages
    assert message["Message-ID"] == f"<order-confirmation.{order_id}@tillroll>"
    assert message["To"] == "customer@example.com"
    assert not (settings.data_dir / "mail").exists()  # no .eml files when SMTP is set
