"""The pure parts of jobs and mail: durations and SMTP URLs from settings, the order-mail and
expiry reactions as data, templates that escape what they put into HTML."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, Order, OrderLine
from tillroll.commands import mail_templates
from tillroll.commands.notifications import SendPaymentReceipt, SendRefundNotice, SendShipmentNotice
from tillroll.commands.reactions import order_mail, reactions, reservation_expiry
from tillroll.commands.reactions.model import Enqueue
from tillroll.commands.reservations import ExpireReservation
from tillroll.infra.settings import Settings, SettingsError, duration
from tillroll.infra.smtp import SmtpUrlError, parse_smtp_url


@pytest.mark.parametrize(
    ("raw", "seconds"), [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("2h", 7200.0), ("1.5", 1.5)]
)
def test_a_duration_reads_seconds_minutes_or_hours(raw: str, seconds: float) -> None:
    assert duration(raw) == seconds


@pytest.mark.parametrize("raw", ["", "m", "abc", "-5", "0", "10d", "inf"])
def test_a_bad_duration_is_a_settings_error(raw: str) -> None:
    with pytest.raises(SettingsError):
        duration(raw)


def test_the_payment_timeout_defaults_to_30_minutes_and_survives_a_child_env() -> None:
    assert Settings.from_env({}).payment_timeout == 1800.0
    settings = Settings.from_env(
        {"TILLROLL_PAYMENT_TIMEOUT": "90s", "TILLROLL_SMTP_URL": "smtp://h"}
    )
    again = Settings.from_env(settings.as_env())
    assert (again.payment_timeout, again.smtp_url) == (90.0, "smtp://h")


def test_smtp_urls_name_tls_auth_and_default_ports() -> None:
    starttls = parse_smtp_url("smtp://us%40er:p%3Ass@mail.example.com?starttls=1")
    assert (starttls.host, starttls.port, starttls.starttls, starttls.implicit_tls) == (
        "mail.example.com",
        587,
        True,
        False,
    )
    assert (starttls.username, starttls.password) == ("us@er", "p:ss")
    implicit = parse_smtp_url("smtps://mail.example.com")
    assert (implicit.port, implicit.implicit_tls, implicit.starttls, implicit.username) == (
        465,
        True,
        False,
        None,
    )
    assert parse_smtp_url("smtp://localhost:2525").port == 2525
    assert parse_smtp_url("smtp://localhost").port == 25
    with pytest.raises(SmtpUrlError):
        parse_smtp_url("http://mail.example.com")


def _order_events(*steps: str) -> list[Any]:
    address = Address("Ada", "1 Main St", "Berlin", "10115", "DE")
    order = Order.place(uuid.uuid4(), [OrderLine("MUG", 2, Money(1299, "EUR"))], address)
    for step in steps:
        getattr(order, step[0])(*step[1:])
    return list(order.collect_events())


def test_paid_shipped_and_refunded_each_enqueue_one_mail_under_a_job_id_of_its_cause() -> None:
    placed, paid, shipped, delivered, refunded = _order_events(
        ("mark_paid", "pi_1", Money(2598, "EUR")),
        ("ship", "DHL", "JJD1"),
        ("deliver",),
        ("refund", "broken"),
    )
    order_id = placed.originator_id
    issue = order_mail.REACTION.issue
    assert issue(placed) == [] and issue(delivered) == []
    assert issue(paid) == [
        Enqueue(
            SendPaymentReceipt(order_id, "pi_1", Money(2598, "EUR")), job_id=f"receipt-{order_id}"
        )
    ]
    assert issue(shipped) == [
        Enqueue(SendShipmentNotice(order_id, 3, "DHL", "JJD1"), job_id=f"shipment-{order_id}-3")
    ]
    assert issue(refunded) == [
        Enqueue(SendRefundNotice(order_id, 5, 2598, "broken"), job_id=f"refund-{order_id}-5")
    ]


def test_a_placed_order_schedules_its_expiry_from_the_events_time() -> None:
    (placed,) = _order_events()
    (effect,) = reservation_expiry.reaction(90).issue(placed)
    assert effect.command == ExpireReservation(placed.originator_id)
    assert effect.job_id == f"reservation-expiry-{placed.originator_id}"
    assert effect.at == placed.timestamp + timedelta(seconds=90)
    assert "reservation_expiry" in {reaction.name for reaction in reactions(90)}


def test_html_bodies_escape_what_they_are_given() -> None:
    values = {
        "name": "<script>x</script>",
        "order_id": "o",
        "order_ref": "o",
        "carrier": "A&B",
        "tracking": "1",
    }
    _subject, text, html = mail_templates.SHIPMENT.render(values)
    assert "<script>" in text and "<script>" not in html
    assert "&lt;script&gt;" in html and "A&amp;B" in html
