"""Every read model the engine keeps, in one list."""

from __future__ import annotations

from tillroll.projections.bestsellers import Bestsellers
from tillroll.projections.carts import CartsView
from tillroll.projections.customer_orders import CustomerOrders
from tillroll.projections.customer_profiles import CustomerProfiles
from tillroll.projections.engine.model import Projection
from tillroll.projections.inventory_ledger import InventoryLedger
from tillroll.projections.live_updates import LiveUpdates
from tillroll.projections.order_status import OrderStatusView
from tillroll.projections.price_history import PriceHistory
from tillroll.projections.price_watches import PriceWatches
from tillroll.projections.product_cards import ProductCards
from tillroll.projections.product_reviews import ProductReviews
from tillroll.projections.product_search import ProductSearch
from tillroll.projections.sales_report import SalesReport
from tillroll.projections.stock_levels import StockLevels

PROJECTIONS: tuple[type[Projection], ...] = (
    ProductSearch,
    CustomerOrders,
    InventoryLedger,
    PriceHistory,
    ProductCards,
    StockLevels,
    OrderStatusView,
    CustomerProfiles,
    CartsView,
    ProductReviews,
    PriceWatches,
    Bestsellers,
    SalesReport,
    LiveUpdates,
)
BY_NAME: dict[str, type[Projection]] = {cls.NAME: cls for cls in PROJECTIONS}


def projection_class(name: str) -> type[Projection]:
    try:
        return BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(BY_NAME))
        raise KeyError(f"no read model called {name!r} (known: {known})") from None
