"""stock_levels (Redis): on hand and reserved per SKU, for staff screens and quick checks."""

from __future__ import annotations

from tillroll.projections.engine.model import RedisProjection
from tillroll.projections.stock_counters import StockCountersMixin


class StockLevels(StockCountersMixin, RedisProjection):
    NAME = "stock_levels"
    VERSION = 1
    HANDLES = dict(StockCountersMixin.STOCK_HANDLES)

    def stock_key(self, sku: str) -> str:
        return f"{self.namespace}{sku}"
