"""The built-in test-mode payment provider of the embedded default (no Stripe key): intents
and refunds kept in Redis, and `complete()` to make an intent succeed or fail, which yields a
webhook signed like Stripe's for the API to deliver through its real webhook route."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from uuid import UUID

import redis
from tillroll.aggregates.errors import Conflict, NotFound
from tillroll.infra.stripe_gateway import StripeIntent, StripeRefund, StripeWebhooks


class TestModePayments:
    """The payments port (commands.ports.PaymentsPort) without a provider. Honours
    idempotency keys like Stripe does: the same key returns the same intent or refund."""

    __test__ = False  # not a pytest class, whatever its name
    mode = "test"

    def __init__(self, client: redis.Redis, prefix: str, webhooks: StripeWebhooks) -> None:
        self.redis = client
        self.prefix = f"{prefix}testpay:"
        self.webhooks = webhooks

    def _intent_key(self, intent_id: str) -> str:
        return f"{self.prefix}pi:{intent_id}"

    def create_intent(self, order_id: UUID, amount: int, currency: str, key: str) -> StripeIntent:
        intent_id = f"pi_test_{secrets.token_hex(12)}"
        if not self.redis.set(f"{self.prefix}key:{key}", intent_id, nx=True):
            return self.get_intent(self.redis.get(f"{self.prefix}key:{key}").decode())
        self.redis.hset(
            self._intent_key(intent_id),
            mapping={
                "id": intent_id,
                "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
                "status": "requires_payment_method",
                "amount": amount,
                "currency": currency,
                "order_id": str(order_id),
                "refunded": 0,
            },
        )
        return self.get_intent(intent_id)

    def _fields(self, intent_id: str) -> dict[str, str]:
        raw = self.redis.hgetall(self._intent_key(intent_id))
        if not raw:
            raise NotFound(f"payment intent {intent_id} not found", field="payment_intent_id")
        return {k.decode(): v.decode() for k, v in raw.items()}

    def get_intent(self, intent_id: str) -> StripeIntent:
        f = self._fields(intent_id)
        return StripeIntent(
            f["id"], f["client_secret"], f["status"], int(f["amount"]), f["currency"]
        )

    def refund(self, intent_id: str, amount: int, refund_id: str) -> StripeRefund:
        key = f"{self.prefix}refund:{refund_id}"
        stored = self.redis.get(key)
        if stored is not None:
            return StripeRefund(**json.loads(stored))
        f = self._fields(intent_id)
        if f["status"] != "succeeded" or int(f["refunded"]) + amount > int(f["amount"]):
            raise Conflict(f"intent {intent_id} cannot refund {amount}", field="amount")
        refund = StripeRefund(f"re_test_{secrets.token_hex(8)}", refund_id, "succeeded", amount)
        body = json.dumps(
            {"id": refund.id, "refund_id": refund_id, "status": refund.status, "amount": amount}
        )
        if self.redis.set(key, body, nx=True):
            self.redis.hincrby(self._intent_key(intent_id), "refunded", amount)
            self.redis.rpush(f"{self.prefix}refunds:{intent_id}", body)
            return refund
        return StripeRefund(**json.loads(self.redis.get(key)))

    def refunds_of(self, intent_id: str) -> list[StripeRefund]:
        bodies = self.redis.lrange(f"{self.prefix}refunds:{intent_id}", 0, -1)
        return [StripeRefund(**json.loads(body)) for body in bodies]

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        return self.webhooks.verify(payload, signature)

    def complete(self, intent_id: str, succeed: bool) -> tuple[bytes, str]:
        """Settle an intent as a customer's bank would, and return the webhook Stripe would
        send about it: its body and its Stripe-Signature header."""
        f = self._fields(intent_id)
        status = "succeeded" if succeed else "requires_payment_method"
        self.redis.hset(self._intent_key(intent_id), "status", status)
        obj: dict[str, Any] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(f["amount"]),
            "currency": f["currency"].lower(),
            "status": status,
            "metadata": {"order_id": f["order_id"]},
        }
        if not succeed:
            obj["last_payment_error"] = {"message": "Your card was declined (test mode)."}
        event = {
            "id": f"evt_test_{secrets.token_hex(12)}",
            "object": "event",
            "type": "payment_intent.succeeded" if succeed else "payment_intent.payment_failed",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
        payload = json.dumps(event).encode()
        return payload, self.webhooks.sign(payload)
