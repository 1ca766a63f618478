"""The routing table (command type -> handler) and the one way commands are run:
idempotency keys honoured, commands on the same stock items queued and run in batches
(commands/batching.py), version conflicts retried a bounded number of times with jitter."""

from __future__ import annotations

import dataclasses
import hashlib
import random
import threading
import time
from collections.abc import Callable
from typing import Any, get_type_hints

import msgspec
from tillroll.aggregates.carts.cart import Cart
from tillroll.aggregates.errors import ConcurrencyConflict, Conflict, DomainError
from tillroll.commands import (
    batching,
    carts,
    catalog,
    categories,
    customers,
    fulfilment,
    identity,
    inventory,
    invoicing,
    notifications,
    ordering,
    payments,
    price_watches,
    reservations,
    reviews,
)
from tillroll.commands.context import CommandContext

Handler = Callable[[Any, CommandContext], Any]

HANDLERS: dict[type, Handler] = {
    catalog.CreateProduct: catalog.create_product,
    catalog.ChangePrice: catalog.change_price,
    catalog.SetTierPrice: catalog.set_tier_price,
    catalog.ChangeProductDetails: catalog.change_product_details,
    catalog.ArchiveProduct: catalog.archive_product,
    categories.CreateCategory: categories.create_category,
    categories.ChangeCategory: categories.change_category,
    inventory.ReceiveStock: inventory.receive_stock,
    inventory.AdjustStock: inventory.adjust_stock,
    ordering.PlaceOrder: ordering.place_order,
    ordering.CancelOrder: ordering.cancel_order,
    identity.OpenAccount: identity.open_account,
    customers.ChangeProfile: customers.change_profile,
    customers.AddAddress: customers.add_address,
    customers.ChangeAddress: customers.change_address,
    customers.RemoveAddress: customers.remove_address,
    customers.ChooseDefaultAddress: customers.choose_default_address,
    customers.SetCustomerTier: customers.set_customer_tier,
    notifications.SendOrderConfirmation: notifications.send_order_confirmation,
    notifications.SendPaymentReceipt: notifications.send_payment_receipt,
    notifications.SendShipmentNotice: notifications.send_shipment_notice,
    notifications.SendRefundNotice: notifications.send_refund_notice,
    notifications.SendReturnReceived: notifications.send_return_received,
    reservations.ExpireReservation: reservations.expire_reservation,
    payments.StartPayment: payments.start_payment,
    payments.ApplyPaymentEvent: payments.apply_payment_event,
    payments.IssueRefund: payments.issue_refund,
    fulfilment.ShipOrder: fulfilment.ship_order,
    fulfilment.DeliverOrder: fulfilment.deliver_order,
    fulfilment.RefundOrder: fulfilment.refund_order,
    fulfilment.RequestReturn: fulfilment.request_return,
    fulfilment.AcceptReturn: fulfilment.accept_return,
    fulfilment.ReceiveReturn: fulfilment.receive_return,
    carts.OpenCart: carts.open_cart,
    carts.AddCartItem: carts.add_cart_item,
    carts.ChangeCartItem: carts.change_cart_item,
    carts.RemoveCartItem: carts.remove_cart_item,
    carts.ClearCart: carts.clear_cart,
    carts.ApplyCartAddress: carts.apply_cart_address,
    carts.MergeCarts: carts.merge_carts,
    carts.CheckoutCart: carts.checkout_cart,
    invoicing.IssueInvoice: invoicing.issue_invoice,
    invoicing.IssueCreditNote: invoicing.issue_credit_note,
    invoicing.SetVatRate: invoicing.set_vat_rate,
    reviews.RecordReceived: reviews.record_received,
    reviews.WriteReview: reviews.write_review,
    reviews.EditReview: reviews.edit_review,
    reviews.HideReview: reviews.hide_review,
    reviews.VoteHelpful: reviews.vote_helpful,
    price_watches.WatchPrice: price_watches.watch_price,
    price_watches.StopWatching: price_watches.stop_watching,
    price_watches.SendPriceDropAlerts: price_watches.send_price_drop_alerts,
}

BY_NAME: dict[str, type] = {command.__name__: command for command in HANDLERS}
"""Command types by name, for commands that travel as jobs (name + JSON body)."""

RESULT_TYPES: dict[type, type] = {
    command: get_type_hints(handler)["return"] for command, handler in HANDLERS.items()
}

# What each command writes that others write too (stock items, mostly): commands that share
# a key queue for it within a process, and whoever holds it runs the queue as one batch
# instead of each failing on the version check and retrying. Between processes optimistic
# concurrency still decides.
CONTENDED: dict[type, Callable[[Any], list[str]]] = {
    ordering.PlaceOrder: lambda c: [line.sku for line in c.lines],
    inventory.ReceiveStock: lambda c: [c.sku],
    inventory.AdjustStock: lambda c: [c.sku],
    ordering.CancelOrder: lambda c: [str(c.order_id)],
    reservations.ExpireReservation: lambda c: [str(c.order_id)],
    # A cart's commands queue for the cart (a shopper's quick clicks run as one batch). A
    # checkout's SKUs are only known once its cart is loaded, so it queues for the cart
    # alone; against orders on the same stock, the version check and its retries decide.
    carts.OpenCart: lambda c: [str(Cart.customer_cart_id(c.customer_id))] if c.customer_id else [],
    carts.AddCartItem: lambda c: [str(c.cart_id)],
    carts.ChangeCartItem: lambda c: [str(c.cart_id)],
    carts.RemoveCartItem: lambda c: [str(c.cart_id)],
    carts.ClearCart: lambda c: [str(c.cart_id)],
    carts.ApplyCartAddress: lambda c: [str(c.cart_id)],
    carts.MergeCarts: lambda c: [str(c.guest_cart_id), str(Cart.customer_cart_id(c.customer_id))],
    carts.CheckoutCart: lambda c: [str(c.cart_id)],
}

MAX_ATTEMPTS = 20

MAX_RUNNING = 8
"""Commands (or batches of them) running at once in a process; the rest queue. One process
runs Python on one core (the GIL), so more only lengthens the time each command holds its
stock items, and a busy SKU then convoys (measured: 32 threads placed half as many orders per
second as 8)."""
_RUNNING = threading.BoundedSemaphore(MAX_RUNNING)

_QUEUE = batching.Queue()


class IdempotencyKeyReused(Conflict):
    title = "Idempotency key reused"


def fingerprint(command: msgspec.Struct) -> str:
    body = type(command).__name__.encode() + b"\0" + msgspec.json.encode(command)
    return hashlib.sha256(body).hexdigest()


def _replay(command: msgspec.Struct, ctx: CommandContext) -> Any | None:
    assert ctx.claim_scope is not None and ctx.claim_key is not None
    stored = ctx.store.find_result(ctx.claim_scope, ctx.claim_key)
    if stored is None:
        return None
    if stored.fingerprint != ctx.claim_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different request", field="Idempotency-Key"
        )
    result = msgspec.json.decode(stored.result, type=RESULT_TYPES[type(command)])
    return msgspec.structs.replace(result, position=stored.position)


def dispatch(
    command: msgspec.Struct, ctx: CommandContext, *, idempotency_key: str | None = None
) -> Any:
    """Run a command. A repeat with the same key returns the first result and writes nothing."""
    handler = HANDLERS[type(command)]
    ctx = dataclasses.replace(
        ctx,
        claim_scope=ctx.principal.subject if idempotency_key is not None else None,
        claim_key=idempotency_key,
        claim_fingerprint=fingerprint(command) if idempotency_key is not None else None,
    )
    if idempotency_key is not None:
        replayed = _replay(command, ctx)
        if replayed is not None:
            return replayed
    try:
        contended = CONTENDED.get(type(command))
        if contended is None:
            return _run_alone(handler, command, ctx)
        ticket = batching.Ticket(command, ctx, _QUEUE.stripes(contended(command)))
        _QUEUE.run(ticket, _lead)
        if ticket.error is not None:
            raise ticket.error
        return ticket.result
    except DomainError:
        # A twin with the same key may have been saved between our first look and our run,
        # and changed what we ran against (a checked-out cart refuses a second checkout):
        # then its result is ours.
        if idempotency_key is not None:
            replayed = _replay(command, ctx)
            if replayed is not None:
                return replayed
        raise


def _run_alone(handler: Handler, command: msgspec.Struct, ctx: CommandContext) -> Any:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with _RUNNING:
                return handler(command, ctx)
        except ConcurrencyConflict:
            if ctx.claim_key is not None:
                replayed = _replay(command, ctx)  # a twin request may have won the race
                if replayed is not None:
                    return replayed
            if attempt == MAX_ATTEMPTS:
                raise
            _back_off(attempt)
    raise AssertionError("unreachable")


def _back_off(attempt: int) -> None:
    # Full jitter, growing with each attempt: 0-4 ms, 0-8 ms, ... capped at 100 ms.
    time.sleep(random.uniform(0, min(0.1, 0.002 * 2**attempt)))


def _lead(take: Callable[[], list[batching.Ticket]]) -> None:
    """Run the queued commands this caller holds the stock items of: alone if it is the only
    one (the plain path, one append), else as a batch (one append for all). A conflict with
    another process retries them all, with whoever queued meanwhile, after a jittered wait."""
    tickets = take()
    with _RUNNING:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            tickets = [t for t in tickets if not (t.twin or attempt > 1) or not _replayed(t)]
            try:
                if len(tickets) == 1:
                    _run_one(tickets[0])
                elif tickets:
                    batching.run_batch(tickets, HANDLERS)
                return
            except ConcurrencyConflict as exc:
                if attempt == MAX_ATTEMPTS:
                    _fail(tickets, exc)
                    return
                _back_off(attempt)
                tickets += take()
            except Exception as exc:  # e.g. the database is down: all fail
                _fail(tickets, exc)
                return


def _run_one(ticket: batching.Ticket) -> None:
    try:
        result = HANDLERS[type(ticket.command)](ticket.command, ticket.ctx)
    except ConcurrencyConflict:
        raise
    except Exception as exc:  # the caller's own error, raised in its thread
        ticket.finish(error=exc)
        return
    ticket.finish(result)


def _replayed(ticket: batching.Ticket) -> bool:
    """A command with an idempotency key whose twin may have been saved: finish it with the
    first result (or the key-reused error) if so."""
    if ticket.ctx.claim_key is None:
        return False
    try:
        replayed = _replay(ticket.command, ticket.ctx)
    except Exception as exc:  # IdempotencyKeyReused, its caller's alone
        ticket.finish(error=exc)
        return True
    if replayed is None:
        return False
    ticket.finish(replayed)
    return True


def _fail(tickets: list[batching.Ticket], error: BaseException) -> None:
    for ticket in tickets:
        if not ticket.done:
            ticket.finish(error=error)
