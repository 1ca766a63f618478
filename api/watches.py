"""Price-watch routes: a customer watches products (optionally down to a target price), lists
and stops watches; a drop is e-mailed by the worker (commands/price_watches.py)."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from tillroll.api.auth import CUSTOMER, roles
from tillroll.api.catalog import SkuPath
from tillroll.api.requests import MinPosition, command_response, read_response, run_command
from tillroll.commands.context import Principal
from tillroll.commands.ports import EventStorePort
from tillroll.commands.price_watches import StopWatching, WatchBody, WatchChanged, WatchPrice
from tillroll.queries import watches as q
from tillroll.queries.read_side import ReadSide


def _customer(request: Request) -> UUID:
    principal = request.user
    assert isinstance(principal, Principal)
    return principal.customer_id


class WatchesController(Controller):
    path = "/v1/me/watches"
    tags = ["customers"]

    @post("/", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def watch(
        self, data: JSONBody[WatchBody], store: NamedDependency[EventStorePort], request: Request
    ) -> Response[WatchChanged]:
        """Watch a product: an e-mail when its price drops to `target_price` or below (without
        a target: on any drop), once per drop. Watching again changes the target."""
        command = WatchPrice(_customer(request), data.sku, data.target_price)
        return command_response(run_command(request, store, command), 201)

    @get("/", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def list_watches(
        self, read: NamedDependency[ReadSide], request: Request, min_position: MinPosition = None
    ) -> Response[list[q.WatchView]]:
        """Your watched products and targets (SQL read model)."""
        position = read.wait_for("price_watches", min_position)
        return read_response(q.list_watches(read, _customer(request)), position)

    @delete("/{sku:str}", guards=[roles(CUSTOMER)], sync_to_thread=True, status_code=200)
    def stop(
        self, sku: SkuPath, store: NamedDependency[EventStorePort], request: Request
    ) -> Response[WatchChanged]:
        """Stop watching a product."""
        command = StopWatching(_customer(request), sku)
        return command_response(run_command(request, store, command))
