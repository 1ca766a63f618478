"""After-sale routes: ship, deliver and refund an order (staff); returns (the customer asks,
staff accept and receive)."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from tillroll.api.auth import CUSTOMER, STAFF, roles
from tillroll.api.requests import command_response, run_command
from tillroll.commands.fulfilment import (
    AcceptReturn,
    DeliverOrder,
    ReceiveReturn,
    RefundBody,
    RefundOrder,
    RefundRequested,
    RequestReturn,
    ReturnBody,
    ReturnChanged,
    Shipment,
    ShipOrder,
)
from tillroll.commands.ordering import OrderChanged
from tillroll.commands.ports import EventStorePort


class FulfilmentController(Controller):
    tags = ["orders"]

    @post("/v1/orders/{order_id:uuid}/ship", guards=[roles(STAFF)], sync_to_thread=True)
    def ship(
        self,
        order_id: FromPath[UUID],
        data: JSONBody[Shipment],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[OrderChanged]:
        """Ship a paid order: all that is left, or some `lines` (partially_shipped)."""
        command = ShipOrder(order_id, data.carrier, data.tracking_number, data.lines)
        return command_response(run_command(request, store, command))

    @post("/v1/orders/{order_id:uuid}/deliver", guards=[roles(STAFF)], sync_to_thread=True)
    def deliver(
        self, order_id: FromPath[UUID], store: NamedDependency[EventStorePort], request: Request
    ) -> Response[OrderChanged]:
        """Mark a shipped order delivered."""
        return command_response(run_command(request, store, DeliverOrder(order_id)))

    @post("/v1/orders/{order_id:uuid}/refund", guards=[roles(STAFF)], sync_to_thread=True)
    def refund(
        self,
        order_id: FromPath[UUID],
        store: NamedDependency[EventStorePort],
        request: Request,
        data: JSONBody[RefundBody | None] = None,
    ) -> Response[RefundRequested]:
        """Refund `amount` (minor units; default: all that is left) through the provider."""
        body = data or RefundBody()
        command = RefundOrder(order_id, body.amount, body.reason)
        return command_response(run_command(request, store, command), 202)

    @post("/v1/orders/{order_id:uuid}/returns", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def request_return(
        self,
        order_id: FromPath[UUID],
        data: JSONBody[ReturnBody],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[ReturnChanged]:
        """Ask to return delivered lines; answers the return id."""
        command = RequestReturn(order_id, data.lines)
        return command_response(run_command(request, store, command), 201)

    @post("/v1/returns/{return_id:str}/accept", guards=[roles(STAFF)], sync_to_thread=True)
    def accept(
        self, return_id: FromPath[str], store: NamedDependency[EventStorePort], request: Request
    ) -> Response[ReturnChanged]:
        return command_response(run_command(request, store, AcceptReturn(return_id)))

    @post("/v1/returns/{return_id:str}/receive", guards=[roles(STAFF)], sync_to_thread=True)
    def receive(
        self, return_id: FromPath[str], store: NamedDependency[EventStorePort], request: Request
    ) -> Response[ReturnChanged]:
        """The goods are back: into stock, and a refund of their value is requested."""
        return command_response(run_command(request, store, ReceiveReturn(return_id)))
