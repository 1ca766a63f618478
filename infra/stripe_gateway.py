"""Stripe through the official library: payment intents and refunds with idempotency keys,
and webhook signatures verified before anything else is looked at."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any, NamedTuple
from uuid import UUID

import stripe
from tillroll.aggregates.errors import BadSignature


class StripeIntent(NamedTuple):
    id: str
    client_secret: str
    status: str
    amount: int
    currency: str


class StripeRefund(NamedTuple):
    id: str
    refund_id: str
    status: str
    amount: int


REFUND_ID_KEY = "tillroll_refund_id"
"""Metadata key of a Stripe refund that carries our refund id."""


class StripeWebhooks:
    """Verifies (and, for the test-mode provider and tests, makes) `Stripe-Signature`
    headers: HMAC-SHA256 of `<timestamp>.<body>` under the endpoint's secret."""

    def __init__(self, secret: str, tolerance: int = 300) -> None:
        self.secret = secret
        self.tolerance = tolerance

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        if not signature:
            raise BadSignature("the Stripe-Signature header is missing")
        try:
            text = payload.decode("utf-8")
            stripe.WebhookSignature.verify_header(text, signature, self.secret, self.tolerance)
        except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
            raise BadSignature(f"the signature does not verify: {exc}") from None
        try:
            event = json.loads(text)
        except ValueError:
            raise BadSignature("the body is not JSON") from None
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            raise BadSignature("the body is not a Stripe event")
        return event

    def sign(self, payload: bytes, timestamp: int | None = None) -> str:
        at = int(time.time()) if timestamp is None else timestamp
        signed = f"{at}.".encode() + payload
        digest = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        return f"t={at},v1={digest}"


def _plain(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _intent(resource: Any) -> StripeIntent:
    obj = _plain(resource)
    return StripeIntent(
        id=obj["id"],
        client_secret=obj.get("client_secret") or "",
        status=obj["status"],
        amount=int(obj["amount"]),
        currency=str(obj["currency"]).upper(),
    )


def _refund(resource: Any) -> StripeRefund:
    obj = _plain(resource)
    metadata = obj.get("metadata") or {}
    return StripeRefund(
        id=obj["id"],
        refund_id=metadata.get(REFUND_ID_KEY) or obj["id"],
        status=obj["status"],
        amount=int(obj["amount"]),
    )


class StripeGateway:
    """The payments port (commands.ports.PaymentsPort) on a real (or fake) Stripe API."""

    mode = "stripe"

    def __init__(self, api_key: str, webhooks: StripeWebhooks, api_base: str | None = None):
        base = {"api": api_base} if api_base else None
        self.client = stripe.StripeClient(api_key, base_addresses=base, max_network_retries=2)
        self.webhooks = webhooks

    def create_intent(self, order_id: UUID, amount: int, currency: str, key: str) -> StripeIntent:
        intent = self.client.v1.payment_intents.create(
            params={
                "amount": amount,
                "currency": currency.lower(),
                "metadata": {"order_id": str(order_id)},
                "automatic_payment_methods": {"enabled": True},
            },
            options={"idempotency_key": key},
        )
        return _intent(intent)

    def get_intent(self, intent_id: str) -> StripeIntent:
        return _intent(self.client.v1.payment_intents.retrieve(intent_id))

    def refund(self, intent_id: str, amount: int, refund_id: str) -> StripeRefund:
        refund = self.client.v1.refunds.create(
            params={
                "payment_intent": intent_id,
                "amount": amount,
                "metadata": {REFUND_ID_KEY: refund_id},
            },
            options={"idempotency_key": refund_id},
        )
        return _refund(refund)

    def refunds_of(self, intent_id: str) -> list[StripeRefund]:
        listed = self.client.v1.refunds.list(params={"payment_intent": intent_id, "limit": 100})
        return [_refund(refund) for refund in listed.data]

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        return self.webhooks.verify(payload, signature)
