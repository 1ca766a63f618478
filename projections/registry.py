"""Every read model the engine keeps, in one list."""

from __future__ import annotations

from projections.customer_orders import CustomerOrders
from projections.inventory_ledger import InventoryLedger
from projections.model import Projection
from projections.order_status import OrderStatusView
from projections.price_history import PriceHistory
from projections.product_cards import ProductCards
from projections.product_search import ProductSearch
from projections.stock_levels import StockLevels

PROJECTIONS: tuple[type[Projection], ...] = (
    ProductSearch,
    CustomerOrders,
    InventoryLedger,
    PriceHistory,
    ProductCards,
    StockLevels,
    OrderStatusView,
)
BY_NAME: dict[str, type[Projection]] = {cls.NAME: cls for cls in PROJECTIONS}


def projection_class(name: str) -> type[Projection]:
    try:
        return BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(BY_NAME))
        raise KeyError(f"no read model called {name!r} (known: {known})") from None
