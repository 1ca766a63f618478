"""Inventory routes: receipts, count adjustments, stock levels and the stock ledger (staff)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import JSONBody
from tillroll.api.auth import STAFF, roles
from tillroll.api.catalog import SkuPath
from tillroll.api.requests import (
    Cursor,
    Limit,
    MinPosition,
    command_response,
    read_redis,
    read_response,
    run_command,
)
from tillroll.commands.inventory import AdjustStock, ReceiveStock, StockChanged
from tillroll.infra.eventstore import EventStore
from tillroll.queries import inventory as q
from tillroll.queries.read_side import Page, ReadSide

Note = Annotated[str, msgspec.Meta(max_length=500)]


class Receipt(msgspec.Struct, frozen=True):
    quantity: Annotated[int, msgspec.Meta(gt=0, le=1_000_000)]
    note: Note = ""


class Adjustment(msgspec.Struct, frozen=True):
    delta: Annotated[int, msgspec.Meta(ge=-1_000_000, le=1_000_000)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class InventoryController(Controller):
    path = "/v1/inventory"
    tags = ["inventory"]
    guards = [roles(STAFF)]

    @post("/{sku:str}/receipts", sync_to_thread=True)
    def receive(
        self,
        sku: SkuPath,
        data: JSONBody[Receipt],
        store: NamedDependency[EventStore],
        request: Request,
    ) -> Response[StockChanged]:
        """Record stock received for an existing product."""
        result = run_command(request, store, ReceiveStock(sku, data.quantity, data.note))
        return command_response(result, 201)

    @post("/{sku:str}/adjustments", sync_to_thread=True)
    def adjust(
        self,
        sku: SkuPath,
        data: JSONBody[Adjustment],
        store: NamedDependency[EventStore],
        request: Request,
    ) -> Response[StockChanged]:
        """Correct the count; on hand can never fall below what is reserved."""
        result = run_command(request, store, AdjustStock(sku, data.delta, data.reason))
        return command_response(result, 201)

    @get("/{sku:str}")
    async def level(
        self, sku: SkuPath, read: NamedDependency[ReadSide], min_position: MinPosition = None
    ) -> Response[q.StockLevel]:
        """On hand, reserved and available (Redis read model stock_levels)."""
        position, level = await read_redis(read, q.stock_read(sku), min_position)
        if level is None:
            raise NotFoundException(f"no stock recorded for {sku!r}")
        return read_response(level, position)

    @get("/{sku:str}/ledger", sync_to_thread=True)
    def ledger(
        self,
        sku: SkuPath,
        read: NamedDependency[ReadSide],
        limit: Limit = 50,
        cursor: Cursor = None,
        min_position: MinPosition = None,
    ) -> Response[Page]:
        """Every stock movement with its cause (SQL read model inventory_ledger)."""
        position = read.wait_for("inventory_ledger", min_position)
        return read_response(q.ledger(read, sku, limit, cursor), position)
