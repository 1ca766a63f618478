"""The routing table (command type -> handler) and the one way commands are run:
idempotency keys honoured, version conflicts retried a bounded number of times with jitter."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, get_type_hints

import msgspec
from tillroll.aggregates.errors import ConcurrencyConflict, Conflict
from tillroll.commands import catalog, categories, identity, inventory, notifications, ordering
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
    notifications.SendOrderConfirmation: notifications.send_order_confirmation,
}

BY_NAME: dict[str, type] = {command.__name__: command for command in HANDLERS}
"""Command types by name, for commands that travel as jobs (name + JSON body)."""

RESULT_TYPES: dict[type, type] = {
    command: get_type_hints(handler)["return"] for command, handler in HANDLERS.items()
}

# What each command writes that others write too (stock items, mostly): commands that share
# a key run one at a time within a process, so they wait for each other instead of failing
# on the version check and retrying. Between processes optimistic concurrency still decides.
CONTENDED: dict[type, Callable[[Any], list[str]]] = {
    ordering.PlaceOrder: lambda c: [line.sku for line in c.lines],
    inventory.ReceiveStock: lambda c: [c.sku],
    inventory.AdjustStock: lambda c: [c.sku],
    ordering.CancelOrder: lambda c: [str(c.order_id)],
}

MAX_ATTEMPTS = 20

MAX_RUNNING = 8
"""Commands running at once in a process; the rest queue. One process runs Python on one
core (the GIL), so more only lengthens the time each command holds its stock items, and a
busy SKU then convoys (measured: 32 threads placed half as many orders per second as 8)."""
_RUNNING = threading.BoundedSemaphore(MAX_RUNNING)


class _Stripes:
    """A fixed set of locks; a key maps to one of them. Several keys are taken in stripe
    order, so two commands never wait for each other in a circle."""

    def __init__(self, count: int = 1024) -> None:
        self._locks = [threading.Lock() for _ in range(count)]

    @contextmanager
    def hold(self, keys: list[str]) -> Iterator[None]:
        stripes = sorted({hash(key) % len(self._locks) for key in keys})
        with contextlib.ExitStack() as stack:
            for stripe in stripes:
                stack.enter_context(self._locks[stripe])
            yield


_STRIPES = _Stripes()


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
    contended = CONTENDED.get(type(command))
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with _RUNNING:
                if contended is None:
                    return handler(command, ctx)
                with _STRIPES.hold(contended(command)):
                    return handler(command, ctx)
        except ConcurrencyConflict:
            if idempotency_key is not None:
                replayed = _replay(command, ctx)  # a twin request may have won the race
                if replayed is not None:
                    return replayed
            if attempt == MAX_ATTEMPTS:
                raise
            # Full jitter, growing with each attempt: 0-4 ms, 0-8 ms, ... capped at 100 ms.
            time.sleep(random.uniform(0, min(0.1, 0.002 * 2**attempt)))
    raise AssertionError("unreachable")
