"""Order routes: place (reserving stock atomically), read, list and cancel orders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from tillroll.api.auth import CUSTOMER, STAFF, roles
from tillroll.api.catalog import MoneyBody, Sku
from tillroll.api.requests import (
    Cursor,
    Limit,
    MinPosition,
    command_response,
    read_redis,
    read_response,
    run_command,
)
from tillroll.commands.context import Principal
from tillroll.commands.messages import AddressIn, LineIn
from tillroll.commands.ordering import CancelOrder, OrderChanged, PlaceOrder
from tillroll.infra.eventstore import EventStore
from tillroll.queries import orders as q
from tillroll.queries.read_side import Page, ReadSide

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class LineBody(msgspec.Struct, frozen=True):
    sku: Sku
    quantity: Annotated[int, msgspec.Meta(gt=0, le=10_000)]
    unit_price: MoneyBody


class AddressBody(msgspec.Struct, frozen=True):
    name: Text
    line1: Text
    city: Text
    postal_code: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    country: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
    line2: Annotated[str, msgspec.Meta(max_length=200)] = ""


class OrderCreate(msgspec.Struct, frozen=True):
    lines: Annotated[list[LineBody], msgspec.Meta(min_length=1, max_length=100)]
    shipping_address: AddressBody


class Cancellation(msgspec.Struct, frozen=True):
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


def _principal(request: Request) -> Principal:
    principal = request.user
    assert isinstance(principal, Principal)
    return principal


class OrdersController(Controller):
    path = "/v1/orders"
    tags = ["orders"]

    @post("/", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def place(
        self, data: JSONBody[OrderCreate], store: NamedDependency[EventStore], request: Request
    ) -> Response[OrderChanged]:
        """Place an order: every line's stock is reserved in one atomic save, or none is."""
        command = PlaceOrder(
            customer_id=_principal(request).customer_id,
            lines=[
                LineIn(line.sku, line.quantity, line.unit_price.to_command()) for line in data.lines
            ],
            shipping_address=AddressIn(**msgspec.structs.asdict(data.shipping_address)),
        )
        return command_response(run_command(request, store, command), 201)

    @post("/{order_id:uuid}/cancel", guards=[roles(CUSTOMER, STAFF)], sync_to_thread=True)
    def cancel(
        self,
        order_id: FromPath[UUID],
        store: NamedDependency[EventStore],
        request: Request,
        data: JSONBody[Cancellation | None] = None,
    ) -> Response[OrderChanged]:
        """Cancel an order (its owner before shipping, or staff); reserved stock is released."""
        command = CancelOrder(order_id=order_id, reason=data.reason if data else "")
        return command_response(run_command(request, store, command))

    @get("/{order_id:uuid}", guards=[roles(CUSTOMER, STAFF)])
    async def view(
        self,
        order_id: FromPath[UUID],
        read: NamedDependency[ReadSide],
        request: Request,
        min_position: MinPosition = None,
    ) -> Response[q.OrderView]:
        """One order with lines, total, status and status history (Redis read model)."""
        position, order = await read_redis(read, q.order_read(order_id), min_position)
        principal = _principal(request)
        if order is None or (principal.is_customer and order.customer_id != principal.customer_id):
            raise NotFoundException(f"order {order_id} not found")
        return read_response(order, position)

    @get("/", guards=[roles(CUSTOMER, STAFF)], sync_to_thread=True)
    def list_orders(
        self,
        read: NamedDependency[ReadSide],
        request: Request,
        status: Annotated[
            str | None,
            QueryParameter(pattern=r"^(placed|paid|shipped|delivered|cancelled|refunded)$"),
        ] = None,
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
        customer_id: FromQuery[UUID | None] = None,
        limit: Limit = 20,
        cursor: Cursor = None,
        min_position: MinPosition = None,
    ) -> Response[Page]:
        """Orders, newest first: a customer sees their own, staff all (or one customer's)."""
        principal = _principal(request)
        if principal.is_customer:
            customer_id = principal.customer_id
        position = read.wait_for("customer_orders", min_position)
        page = q.list_orders(
            read,
            q.OrderFilter(
                customer_id=customer_id,
                status=status,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            ),
        )
        return read_response(page, position)
