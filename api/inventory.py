"""Inventory routes: receipts, count adjustments, stock levels and the stock ledger (staff)."""

from __future__ import annotations

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
from tillroll.commands.inventory import (
    Adjustment,
    AdjustStock,
    Receipt,
    ReceiveStock,
    StockChanged,
)
from tillroll.commands.ports import EventStorePort
from tillroll.queries import inventory as q
from tillroll.queries.read_side import Page, ReadSide


class InventoryController(Controller):
    path = "/v1/inventory"
    tags = ["inventory"]
    guards = [roles(STAFF)]

    @post("/{sku:str}/receipts", sync_to_thread=True)
    def receive(
        self,
        sku: SkuPath,
        data: JSONBody[Receipt],
        store: NamedDependency[EventStorePort],
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
        store: NamedDependency[EventStorePort],
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
