"""Money as integer minor units plus an ISO 4217 currency code; never a float."""

from __future__ import annotations

from typing import Annotated

import msgspec
from tillroll.aggregates.errors import InvalidValue
from tillroll.aggregates.values import stored_as

MAX_PRICE = 10**12
"""The largest price (minor units) a product or an order line may have."""
MAX_AMOUNT = 10**18
"""The largest amount on the wire: an order's total can reach 100 lines x 10,000 x MAX_PRICE.
It still fits a PostgreSQL bigint, which the read models store amounts in."""

# Python's `$` also matches before a final newline ("EUR\n"): `(?!\n)` closes that gap and
# reads the same in a JSON Schema (ECMA 262) pattern, where `$` is the end of input anyway.
Currency = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Z]{3}$(?!\n)", description="ISO 4217 code", examples=["EUR"])
]
Amount = Annotated[
    int, msgspec.Meta(ge=0, le=MAX_AMOUNT, description="minor units (cents)", examples=[1299])
]

# ISO 4217 active codes (as of 2026); enough to reject typos such as "EUROS" or "usd ".
ISO_4217 = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XCG",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
    ]
)


@stored_as("money", as_list=True)
class Money(msgspec.Struct, frozen=True):
    """The domain value, the wire shape (the constraints apply when a body is decoded; the
    domain may compute any amount) and what events store, in one."""

    amount: Amount
    currency: Currency

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvalidValue("amount must be an integer number of minor units", field="amount")
        if not isinstance(self.currency, str) or self.currency not in ISO_4217:
            raise InvalidValue(
                f"currency {self.currency!r} is not an ISO 4217 code", field="currency"
            )

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount * quantity, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidValue(f"cannot add {other.currency} to {self.currency}", field="currency")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)
