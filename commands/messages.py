"""Value shapes shared by command messages and results (money, lines, addresses)."""

from __future__ import annotations

import msgspec
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, OrderLine


class MoneyIn(msgspec.Struct, frozen=True):
    amount: int
    currency: str

    def to_domain(self) -> Money:
        return Money(self.amount, self.currency)

    @classmethod
    def of(cls, money: Money) -> MoneyIn:
        return cls(money.amount, money.currency)


class LineIn(msgspec.Struct, frozen=True):
    sku: str
    quantity: int
    unit_price: MoneyIn

    def to_domain(self) -> OrderLine:
        return OrderLine(self.sku, self.quantity, self.unit_price.to_domain())


class AddressIn(msgspec.Struct, frozen=True):
    name: str
    line1: str
    city: str
    postal_code: str
    country: str
    line2: str = ""

    def to_domain(self) -> Address:
        return Address(
            name=self.name,
            line1=self.line1,
            line2=self.line2,
            city=self.city,
            postal_code=self.postal_code,
            country=self.country,
        )
