"""The old names of the value shapes that command messages carry.

There is one shape per value: the domain's own (aggregates/), which is also the wire shape
and what events store. These aliases keep callers that still use the old names working;
new code imports Money, OrderLine and Address from aggregates."""

from __future__ import annotations

from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, OrderLine

MoneyIn = Money
LineIn = OrderLine
AddressIn = Address

__all__ = ["AddressIn", "LineIn", "MoneyIn"]
