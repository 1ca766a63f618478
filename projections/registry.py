"""Every read model the engine keeps, in one list."""

from __future__ import annotations

from projections.customer_orders import CustomerOrders
from projections.inventory_ledger import InventoryLedger
from projections.model import Projection, RedisProjection, SqlProjection
from projections.order_status import OrderStatusView
from projections.price_history import PriceHistory
from projections.product_cards import ProductCards
from projections.product_search import ProductSearch
from projections.stock_levels import StockLevels

SQL_PROJECTIONS: tuple[type[SqlProjection], ...] = (
    ProductSearch,
    CustomerOrders,
    InventoryLedger,
    PriceHistory,
)
REDIS_PROJECTIONS: tuple[type[RedisProjection], ...] = (ProductCards, StockLevels, OrderStatusView)


def all_projections(redis_prefix: str) -> list[Projection]:
    return [cls() for cls in SQL_PROJECTIONS] + [cls(redis_prefix) for cls in REDIS_PROJECTIONS]
