"""Live updates as Server-Sent Events: a customer's own order status changes and a product's
available stock, replayed after Last-Event-ID and then followed (queries/live.py).

A stream ends after `stream_seconds`, and no later than the caller's token expires (an
authorised stream must not outlive its authorisation); EventSource reconnects by itself,
sending the last id it saw, and misses nothing the read model still keeps."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter
from litestar.response import ServerSentEvent, ServerSentEventMessage
from tillroll.api.auth import CUSTOMER, roles
from tillroll.api.catalog import SkuPath
from tillroll.commands.context import Principal
from tillroll.queries import catalog as q
from tillroll.queries.live import RESET, LiveFeed, Update
from tillroll.queries.read_side import ReadSide

RETRY_MS = 2000
"""How soon a disconnected EventSource should come back (the `retry:` field)."""

LastEventId = Annotated[
    str | None,
    HeaderParameter(
        name="Last-Event-ID",
        max_length=40,
        description="The id of the last event received: what followed it is replayed.",
    ),
]


class OrderStatusUpdate(msgspec.Struct):
    """`event: order` — one of the caller's orders changed status."""

    order_id: str
    status: str
    at: str


class StockUpdate(msgspec.Struct):
    """`event: stock` — the product's available stock (on hand minus reserved)."""

    sku: str
    available: int


class LiveStream(msgspec.Struct):
    """text/event-stream: `id:` (a log position, for Last-Event-ID), `event:` (order, stock,
    or reset: entries were trimmed, read the current state again), `data:` (JSON of
    OrderStatusUpdate or StockUpdate); `:` comments keep the connection alive."""

    id: str
    event: str
    data: str


STREAM_RESPONSE = {
    200: ResponseSpec(
        data_container=LiveStream,
        media_type="text/event-stream",
        description="Server-Sent Events (never a JSON body)",
    )
}

_encode = msgspec.json.Encoder().encode


def _until(request: Request, seconds: float) -> float:
    """When the stream ends (time.monotonic()): after `seconds`, or when the token expires."""
    left = seconds
    token = request.scope.get("auth")
    exp = getattr(token, "exp", None)
    if isinstance(exp, datetime):
        left = min(left, (exp - datetime.now(UTC)).total_seconds())
    return time.monotonic() + max(left, 0.0)


async def _messages(
    updates: AsyncIterator[Update | None], event: str, data: Any
) -> AsyncIterator[ServerSentEventMessage]:
    # The first message says the stream follows (and how soon to come back after a drop).
    yield ServerSentEventMessage(data=None, comment="following", retry=RETRY_MS)
    async for update in updates:
        if update is None:
            yield ServerSentEventMessage(data=None, comment="keep-alive")
        elif update.id == RESET:
            yield ServerSentEventMessage(data="{}", event=RESET)
        else:
            yield ServerSentEventMessage(data=_encode(data(update)), event=event, id=update.id)


class LiveController(Controller):
    path = "/v1"
    tags = ["live"]

    @get(
        "/me/orders/events",
        guards=[roles(CUSTOMER)],
        responses=STREAM_RESPONSE,
        media_type="text/event-stream",
    )
    async def order_events(
        self,
        request: Request,
        live: NamedDependency[LiveFeed],
        stream_seconds: NamedDependency[float],
        last_event_id: LastEventId = None,
    ) -> ServerSentEvent:
        """The caller's order status changes as Server-Sent Events (`event: order`), from
        now on, or replayed after Last-Event-ID (read model live_updates)."""
        principal = request.user
        assert isinstance(principal, Principal)
        customer_id = principal.customer_id
        updates = live.follow(
            lambda model: model.orders_key(customer_id),
            last_event_id,
            _until(request, stream_seconds),
        )

        def data(update: Update) -> OrderStatusUpdate:
            f = update.fields
            return OrderStatusUpdate(f["order_id"], f["status"], f["at"])

        return ServerSentEvent(_messages(updates, "order", data))

    @get(
        "/products/{sku:str}/stock/events",
        opt={"public": True},
        responses=STREAM_RESPONSE,
        media_type="text/event-stream",
    )
    async def stock_events(
        self,
        sku: SkuPath,
        request: Request,
        read: NamedDependency[ReadSide],
        live: NamedDependency[LiveFeed],
        stream_seconds: NamedDependency[float],
        last_event_id: LastEventId = None,
    ) -> ServerSentEvent:
        """A product's available stock as Server-Sent Events (`event: stock`): the current
        figure first (once stock moved), then each change; or what followed Last-Event-ID."""
        _, card = await read.arun(q.card_read(sku)) if read.aredis else read.run(q.card_read(sku))
        if card is None:
            raise NotFoundException(f"product {sku!r} not found")
        updates = live.follow(
            lambda model: model.stock_key(sku),
            last_event_id,
            _until(request, stream_seconds),
            current_first=True,
        )

        def data(update: Update) -> StockUpdate:
            return StockUpdate(sku, int(update.fields["available"]))

        return ServerSentEvent(_messages(updates, "stock", data))
