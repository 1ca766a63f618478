"""Payment routes: start an order's payment, Stripe's webhook, and (test mode only) the
built-in provider's buttons that settle an intent and deliver its signed webhook."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import anyio
from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from tillroll.api.auth import CUSTOMER, roles
from tillroll.api.requests import command_response, request_id
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.payments import (
    ApplyPaymentEvent,
    PaymentEventApplied,
    PaymentView,
    StartPayment,
)
from tillroll.commands.ports import EventStorePort, PaymentsPort

STRIPE = Principal(subject="stripe", role="ops")
"""Who webhooks act as; its idempotency scope holds the Stripe event ids applied."""


@runtime_checkable
class TestProvider(Protocol):
    """The built-in test-mode provider's extra: settle an intent, get Stripe's webhook."""

    def complete(self, intent_id: str, succeed: bool) -> tuple[bytes, str]: ...


def deliver_webhook(
    store: EventStorePort, payments: PaymentsPort, payload: bytes, signature: str | None
) -> PaymentEventApplied:
    """The one path of every webhook: verify the signature before anything else (a bad one
    raises BadSignature: 400, nothing recorded), then apply the event once per event id."""
    event = payments.verify(payload, signature)
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    obj = obj if isinstance(obj, dict) else {}
    kind = str(event.get("type", ""))
    intent_id = obj.get("payment_intent") if kind.startswith("charge.") else obj.get("id")
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    try:
        order_id: UUID | None = UUID(str(metadata.get("order_id")))
    except ValueError:
        order_id = None
    error = obj.get("last_payment_error")
    command = ApplyPaymentEvent(
        event_id=event["id"],
        kind=kind,
        order_id=order_id,
        intent_id=str(intent_id or ""),
        amount=int(obj.get("amount") or 0),
        currency=str(obj.get("currency") or ""),
        failure=str(error.get("message", "")) if isinstance(error, dict) else "",
    )
    ctx = CommandContext(store, principal=STRIPE, payments=payments)
    return dispatch(command, ctx, idempotency_key=event["id"])


class PaymentsController(Controller):
    tags = ["payments"]

    @post("/v1/orders/{order_id:uuid}/payment", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def start(
        self,
        order_id: FromPath[UUID],
        store: NamedDependency[EventStorePort],
        payments: NamedDependency[PaymentsPort],
        request: Request,
    ) -> Response[PaymentView]:
        """The order's payment intent (created on first call; the same one after): its id,
        client secret and status. Amount and currency are the order's."""
        principal = request.user
        assert isinstance(principal, Principal)
        ctx = CommandContext(store, principal, request_id(request), payments=payments)
        # No Idempotency-Key claim here: the answer holds a client secret, which must not be
        # stored; the provider's own idempotency key makes a retry return the same intent.
        return command_response(dispatch(StartPayment(order_id), ctx))

    @post("/v1/webhooks/stripe", opt={"public": True}, status_code=200)
    async def stripe_webhook(
        self,
        request: Request,
        store: NamedDependency[EventStorePort],
        payments: NamedDependency[PaymentsPort],
    ) -> PaymentEventApplied:
        """Stripe's events: `Stripe-Signature` is verified first (400 when missing, wrong
        or stale); each event id is applied at most once."""
        payload = await request.body()
        signature = request.headers.get("stripe-signature")
        return await anyio.to_thread.run_sync(deliver_webhook, store, payments, payload, signature)

    @post("/v1/dev/payments/{intent_id:str}/{outcome:str}", opt={"public": True}, status_code=200)
    async def dev_complete(
        self,
        intent_id: FromPath[str],
        outcome: FromPath[str],
        store: NamedDependency[EventStorePort],
        payments: NamedDependency[PaymentsPort],
    ) -> PaymentEventApplied:
        """Test mode only (404 otherwise): make an intent succeed or fail; the signed webhook
        goes through the same code path as Stripe's."""
        if not isinstance(payments, TestProvider) or outcome not in {"succeed", "fail"}:
            raise NotFoundException("no such route (the test-mode provider is not running)")

        def run() -> PaymentEventApplied:
            payload, signature = payments.complete(intent_id, outcome == "succeed")
            return deliver_webhook(store, payments, payload, signature)

        return await anyio.to_thread.run_sync(run)


def payments_mode(payments: Any) -> str:
    mode = getattr(payments, "mode", "none")
    return "test-mode (built-in provider, no real money)" if mode == "test" else mode
