"""bestsellers (Redis): sorted sets of units sold per product, all-time, per category, per
UTC day and per UTC hour (the hours feed "trending").

What "sold" means: the units of an order count when it is **paid**, in the day and hour of
the payment. If that order is later cancelled (a paid order's cancellation refunds it), its
units leave the same buckets again; units of a return that came back (ReturnReceived) leave
them too. A refund of money alone (goodwill, a partial refund) does not change units. An
order that was never paid never counts.

A Paid event carries no lines and an order line no category, so the model keeps what it
needs beside the sets: each order's lines (from Placed; dropped when it is cancelled) and
each product's category (from Product.Created). The counting runs in a Lua script queued in
the engine's MULTI/EXEC, so the sets and the position still commit together.
"""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.ordering.order import Order
from tillroll.projections.engine.model import RedisProjection


def day_of(event: Any) -> str:
    return event.timestamp.strftime("%Y-%m-%d")


def hour_of(event: Any) -> str:
    return event.timestamp.strftime("%Y-%m-%dT%H")


def encode_lines(lines: Any) -> str:
    """'sku:quantity,…' (a SKU never holds ':' or ',')."""
    return ",".join(f"{line.sku}:{line.quantity}" for line in lines)


class Bestsellers(RedisProjection):
    NAME = "bestsellers"
    VERSION = 1
    HANDLES = {
        Product.Created: "on_product_created",
        Order.Placed: "on_placed",
        Order.Paid: "on_paid",
        Order.Cancelled: "on_cancelled",
        Order.ReturnReceived: "on_return_received",
    }

    # The sets read by queries (ZREVRANGE ... WITHSCORES: sku -> units).
    @property
    def all_time_key(self) -> str:
        return f"{self.namespace}units:all"

    def category_key(self, category: str) -> str:
        return f"{self.namespace}units:category:{category}"

    def day_key(self, day: str) -> str:
        return f"{self.namespace}units:day:{day}"

    def hour_key(self, hour: str) -> str:
        return f"{self.namespace}units:hour:{hour}"

    # What the counting needs.
    @property
    def categories_key(self) -> str:
        return f"{self.namespace}categories"

    def order_key(self, order_id: Any) -> str:
        return f"{self.namespace}order:{order_id}"

    def on_product_created(self, pipe: Any, event: Any, position: int) -> None:
        if event.category:
            pipe.hset(self.categories_key, event.sku, event.category)

    def on_placed(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(self.order_key(event.originator_id), "lines", encode_lines(event.lines))

    def on_paid(self, pipe: Any, event: Any, position: int) -> None:
        order_id = str(event.originator_id)
        pipe.eval(_COUNT, 0, self.namespace, order_id, "paid", day_of(event), hour_of(event), "")

    def on_cancelled(self, pipe: Any, event: Any, position: int) -> None:
        # Only a paid order has buckets to leave: the script finds none for an unpaid one.
        pipe.eval(_COUNT, 0, self.namespace, str(event.originator_id), "cancelled", "", "", "")
        pipe.delete(self.order_key(event.originator_id))

    def on_return_received(self, pipe: Any, event: Any, position: int) -> None:
        order_id = str(event.originator_id)
        lines = encode_lines(event.lines)
        pipe.eval(_COUNT, 0, self.namespace, order_id, "returned", "", "", lines)


# ARGV: namespace, order id, what happened (paid | cancelled | returned), the payment's day
# and hour (paid only), the returned lines (returned only). Keys are built here from the
# namespace: which category sets a sale touches is only known once its lines are read.
_COUNT = """
local ns, order_id, what = ARGV[1], ARGV[2], ARGV[3]
local okey = ns .. 'order:' .. order_id
local day, hour, lines, sign
if what == 'paid' then
  day, hour, sign = ARGV[4], ARGV[5], 1
  lines = redis.call('HGET', okey, 'lines')
  if not lines then return 0 end
  redis.call('HSET', okey, 'day', day, 'hour', hour)
else
  local found = redis.call('HMGET', okey, 'lines', 'day', 'hour')
  if not found[2] then return 0 end
  day, hour, sign = found[2], found[3], -1
  lines = what == 'returned' and ARGV[6] or found[1]
end
local function add(key, sku, units)
  local score = tonumber(redis.call('ZINCRBY', key, units, sku))
  if score <= 0 then redis.call('ZREM', key, sku) end
end
for sku, quantity in string.gmatch(lines, '([^,:]+):(%d+)') do
  local units = sign * tonumber(quantity)
  add(ns .. 'units:all', sku, units)
  add(ns .. 'units:day:' .. day, sku, units)
  add(ns .. 'units:hour:' .. hour, sku, units)
  local category = redis.call('HGET', ns .. 'categories', sku)
  if category then add(ns .. 'units:category:' .. category, sku, units) end
end
return 1
"""
