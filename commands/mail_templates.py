"""The customer e-mails' words: a subject, a plain-text and an HTML body per kind of message,
as `string.Template`s. Values are escaped for the HTML body here, once; the handlers in
commands/notifications.py only choose the template and fill in the values."""

from __future__ import annotations

import html
from dataclasses import dataclass
from string import Template


@dataclass(frozen=True)
class MailTemplate:
    subject: Template
    text: Template
    html: Template

    def render(self, values: dict[str, str]) -> tuple[str, str, str]:
        """(subject, text, html); a missing value is a bug, so `substitute` (it raises)."""
        escaped = {name: html.escape(value) for name, value in values.items()}
        return (
            self.subject.substitute(values),
            self.text.substitute(values),
            self.html.substitute(escaped),
        )


def _page(title: str, body: str) -> Template:
    # One layout for every message; `$$` is a literal dollar in a Template.
    return Template(
        '<!doctype html>\n<html><body style="font-family: sans-serif">\n'
        f"<h1>{title}</h1>\n{body}\n"
        '<p style="color: #666">Order $order_id</p>\n</body></html>\n'
    )


CONFIRMATION = MailTemplate(
    subject=Template("Your order $order_ref is confirmed"),
    text=Template(
        "Hello $name,\n\nthank you for your order $order_id.\n\n$lines\n\nTotal: $total\n"
    ),
    html=_page(
        "Thank you for your order",
        "<p>Hello $name,</p>\n<pre>$lines</pre>\n<p><strong>Total: $total</strong></p>",
    ),
)

RECEIPT = MailTemplate(
    subject=Template("Receipt for your order $order_ref"),
    text=Template(
        "Hello $name,\n\nwe received your payment of $amount for order $order_id.\n\n"
        "$lines\n\nPayment reference: $payment_ref\n"
    ),
    html=_page(
        "Payment received",
        "<p>Hello $name,</p>\n<p>we received your payment of <strong>$amount</strong>.</p>\n"
        "<pre>$lines</pre>\n<p>Payment reference: $payment_ref</p>",
    ),
)

SHIPMENT = MailTemplate(
    subject=Template("Your order $order_ref is on its way"),
    text=Template(
        "Hello $name,\n\nyour order $order_id has been shipped.\n\n"
        "Carrier: $carrier\nTracking number: $tracking\n"
    ),
    html=_page(
        "Your order is on its way",
        "<p>Hello $name,</p>\n<p>your order has been shipped.</p>\n"
        "<p>Carrier: $carrier<br>Tracking number: $tracking</p>",
    ),
)

REFUND = MailTemplate(
    subject=Template("Refund for your order $order_ref"),
    text=Template(
        "Hello $name,\n\nwe have refunded $amount for order $order_id.\n"
        "Reason: $reason\n\nIt may take a few days to reach your account.\n"
    ),
    html=_page(
        "Refund issued",
        "<p>Hello $name,</p>\n<p>we have refunded <strong>$amount</strong>.</p>\n"
        "<p>Reason: $reason</p>\n<p>It may take a few days to reach your account.</p>",
    ),
)

RETURN = MailTemplate(
    subject=Template("We received your return for order $order_ref"),
    text=Template(
        "Hello $name,\n\nwe received the items you returned from order $order_id:\n\n"
        "$lines\n\nYour refund follows in a separate message.\n"
    ),
    html=_page(
        "Return received",
        "<p>Hello $name,</p>\n<p>we received the items you returned:</p>\n"
        "<pre>$lines</pre>\n<p>Your refund follows in a separate message.</p>",
    ),
)
