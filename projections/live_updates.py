"""live_updates (Redis): the recent changes Server-Sent Events replay and follow, as one Redis
stream per channel: a customer's order status changes (`orders:<customer id>`) and a
product's available stock (`stock:<sku>`).

An entry's id is `<log position>-0`: the SSE event id a client sends back as Last-Event-ID
names a point in the log, valid in every process and in every build of this model. Each
stream keeps its last ORDER_ENTRIES / STOCK_ENTRIES entries (the oldest deleted one at a
time, so a rebuild holds the same entries as the live build, and the stream records the
newest id it lost): a client that reconnects within that many changes misses nothing; one that
comes back later gets a 'reset' event telling it to read the current state again.

After each entry the script publishes the stream's key on one pub/sub channel (WAKE_CHANNEL,
sent by EXEC with the writes): every API process holds one subscription and wakes the SSE
connections that follow that key (queries/live.py). The pub/sub message is only a wake-up;
the stream is what is read, so a lost message costs latency (a periodic re-read), never an
update.
"""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.ordering.order import Order, OrderStatus
from tillroll.projections.engine.model import RedisProjection
from tillroll.projections.order_status import STATUS_OF, status_after
from tillroll.projections.stock_counters import STOCK_DELTAS, stock_deltas

ORDER_ENTRIES = 100
"""Entries kept per customer: order status changes."""
STOCK_ENTRIES = 50
"""Entries kept per product: changes of available stock (the newest is the current one)."""
WAKE_CHANNEL = "live"
"""Under the shop's Redis prefix: '<prefix>live'."""


def entry_id(position: int) -> str:
    return f"{position}-0"


class LiveUpdates(RedisProjection):
    NAME = "live_updates"
    VERSION = 1
    HANDLES = {
        Order.Placed: "on_placed",
        **dict.fromkeys(STATUS_OF, "on_status_changed"),
        **dict.fromkeys(STOCK_DELTAS, "on_stock_moved"),
    }

    @property
    def wake_channel(self) -> str:
        return f"{self.prefix}{WAKE_CHANNEL}"

    def orders_key(self, customer_id: Any) -> str:
        return f"{self.namespace}orders:{customer_id}"

    def stock_key(self, sku: str) -> str:
        return f"{self.namespace}stock:{sku}"

    @property
    def customers_key(self) -> str:
        """order id -> customer id: status events do not say whose order they are about."""
        return f"{self.namespace}customers"

    def on_placed(self, pipe: Any, event: Any, position: int) -> None:
        order_id = str(event.originator_id)
        at = event.timestamp.isoformat()
        pipe.eval(
            _ORDER,
            0,
            self.namespace,
            self.wake_channel,
            order_id,
            str(event.customer_id),
            entry_id(position),
            OrderStatus.PLACED,
            at,
            ORDER_ENTRIES,
        )

    def on_status_changed(self, pipe: Any, event: Any, position: int) -> None:
        order_id = str(event.originator_id)
        status = status_after(event)
        if isinstance(event, Order.Refunded) and status != OrderStatus.REFUNDED:
            status = "partially_refunded"
        at = event.timestamp.isoformat()
        pipe.eval(
            _ORDER,
            0,
            self.namespace,
            self.wake_channel,
            order_id,
            "",
            entry_id(position),
            status,
            at,
            ORDER_ENTRIES,
        )

    def on_stock_moved(self, pipe: Any, event: Any, position: int) -> None:
        on_hand, reserved = stock_deltas(event)
        if on_hand == reserved:
            return  # committed stock leaves on hand and reserved alike: available is unchanged
        pipe.eval(
            _STOCK,
            0,
            self.namespace,
            self.wake_channel,
            event.sku,
            on_hand,
            reserved,
            entry_id(position),
            STOCK_ENTRIES,
        )


# After an append: the oldest entry goes once the stream holds more than it keeps. XDEL, not
# XADD MAXLEN: a deleted entry's id is recorded (XINFO STREAM max-deleted-entry-id), which
# tells a replay that it missed something; trimming records nothing.
_TRIM = """
if redis.call('XLEN', key) > tonumber({kept}) then
  local oldest = redis.call('XRANGE', key, '-', '+', 'COUNT', 1)
  redis.call('XDEL', key, oldest[1][1])
end
redis.call('PUBLISH', channel, key)
return 1
"""

# ARGV: namespace, wake channel, order id, customer id ('' for a status change: looked up),
# entry id, status, at, entries kept.
_ORDER = """
local ns, channel, order_id, customer = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if customer == '' then
  customer = redis.call('HGET', ns .. 'customers', order_id)
  if not customer then return 0 end
else
  redis.call('HSET', ns .. 'customers', order_id, customer)
end
local key = ns .. 'orders:' .. customer
redis.call('XADD', key, ARGV[5], 'order_id', order_id, 'status', ARGV[6], 'at', ARGV[7])
""" + _TRIM.format(kept="ARGV[8]")

# ARGV: namespace, wake channel, sku, on-hand change, reserved change, entry id, entries kept.
_STOCK = """
local ns, channel, sku = ARGV[1], ARGV[2], ARGV[3]
local counts = ns .. 'level:' .. sku
local on_hand = redis.call('HINCRBY', counts, 'on_hand', ARGV[4])
local reserved = redis.call('HINCRBY', counts, 'reserved', ARGV[5])
local key = ns .. 'stock:' .. sku
redis.call('XADD', key, ARGV[6], 'available', on_hand - reserved)
""" + _TRIM.format(kept="ARGV[7]")
