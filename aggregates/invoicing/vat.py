"""VAT: the rate of each product category (and the default for the others), as staff set
them over time, and how the tax is taken out of a gross price.

Prices in the catalogue are gross (VAT included), as a customer sees them. A line's VAT is
extracted from its gross amount: net = round_half_up(gross * 10000 / (10000 + rate)), VAT =
gross - net, in integer minor units. Since every line's net + VAT equals its gross, the
lines of an invoice always add up to the order's total, to the cent.

Rates are basis points (1900 = 19.00 %). Each change records the moment it takes effect
(now, or a date staff give in advance, e.g. a new legal rate from 1 January), and the
aggregate keeps every change: `rate_at(category, when)` answers the rate that applied at
any past moment, so an invoice issued late (a reaction that was down) still uses the rates
of its payment's time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.catalog.category import check_slug
from tillroll.aggregates.errors import InvalidValue

MAX_RATE = 10_000
"""100 %: no rate above it is plausible."""
DEFAULT_RATE = 1900
"""The default for categories without a rate of their own until staff set one (19 %, the
German standard rate; shops elsewhere set theirs: PUT /v1/tax/rates/default)."""
DEFAULT = ""
"""The 'category' the default rate is kept under."""

Rate = Annotated[int, msgspec.Meta(ge=0, le=MAX_RATE, description="basis points: 1900 = 19 %")]


def check_rate(rate: int) -> int:
    if not isinstance(rate, int) or isinstance(rate, bool) or not 0 <= rate <= MAX_RATE:
        raise InvalidValue(f"a rate is 0-{MAX_RATE} basis points (1900 = 19 %)", field="rate")
    return rate


def split_gross(gross: int, rate: int) -> tuple[int, int]:
    """(net, VAT) of a gross amount in minor units; rounding half up, away from zero for
    negative amounts, and net + VAT == gross always."""
    sign = -1 if gross < 0 else 1
    net = (2 * abs(gross) * 10_000 + (10_000 + rate)) // (2 * (10_000 + rate))
    net *= sign
    return net, gross - net


class VatRates(Aggregate):
    """One per shop: every rate change with the moment it takes effect."""

    @staticmethod
    def create_id() -> UUID:
        return uuid5(NAMESPACE_URL, "/tillroll/vat-rates")

    @event("Started")
    def __init__(self) -> None:
        self.changes: list[tuple[datetime, str, int]] = []
        """(effective from, category or DEFAULT, rate), in the order they were set."""

    def set_rate(self, category: str, rate: int, effective_from: datetime) -> None:
        """The rate of `category` (DEFAULT: of every category without one) from then on."""
        if category != DEFAULT:
            check_slug(category, "category")
        check_rate(rate)
        if effective_from.tzinfo is None:
            raise InvalidValue("effective_from needs a time zone", field="effective_from")
        self._rate_set(category=category, rate=rate, effective_from=effective_from)

    @event("RateSet")
    def _rate_set(self, category: str, rate: int, effective_from: datetime) -> None:
        self.changes = [*self.changes, (effective_from, category, rate)]

    def _latest(self, category: str, when: datetime) -> int | None:
        # The change effective latest (and, among equals, set last) not after `when`.
        best: tuple[datetime, int] | None = None
        for start, name, rate in self.changes:
            if name == category and start <= when and (best is None or start >= best[0]):
                best = (start, rate)
        return None if best is None else best[1]

    def rate_at(self, category: str, when: datetime) -> int:
        """The rate of `category` at `when`: its own, else the default's, else DEFAULT_RATE."""
        own = self._latest(category, when) if category != DEFAULT else None
        if own is not None:
            return own
        default = self._latest(DEFAULT, when)
        return DEFAULT_RATE if default is None else default

    def current(self, when: datetime) -> dict[str, int]:
        """Every category's rate at `when` (DEFAULT: '' holds the default)."""
        names = {name for _, name, _ in self.changes} | {DEFAULT}
        return {name: self.rate_at(name, when) for name in sorted(names)}
