"""Order routes: place (reserving stock atomically), read, list and cancel orders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from tillroll.api.auth import CUSTOMER, STAFF, roles
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
from tillroll.commands.ordering import (
    Cancellation,
    CancelOrder,
    OrderChanged,
    OrderCreate,
    PlaceOrder,
)
from tillroll.commands.ports import EventStorePort
from tillroll.queries import orders as q
from tillroll.queries.read_side import Page, ReadSide


def _principal(request: Request) -> Principal:
    principal = request.user
    assert isinstance(principal, Principal)
    return principal


class OrdersController(Controller):
    path = "/v1/orders"
    tags = ["orders"]

    @post("/", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def place(
        self, data: JSONBody[OrderCreate], store: NamedDependency[EventStorePort], request: Request
    ) -> Response[OrderChanged]:
        """Place an order: every line's stock is reserved in one atomic save, or none is."""
        command = PlaceOrder(
            _principal(request).customer_id, data.lines, data.shipping_address, data.address_id
        )
        return command_response(run_command(request, store, command), 201)

    @post(
        "/{order_id:uuid}/cancel",
        guards=[roles(CUSTOMER, STAFF)],
        sync_to_thread=True,
        status_code=200,
    )
    def cancel(
        self,
        order_id: FromPath[UUID],
        store: NamedDependency[EventStorePort],
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
            QueryParameter(
                pattern=r"^(placed|paid|partially_shipped|shipped|delivered|cancelled|refunded)$"
            ),
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
