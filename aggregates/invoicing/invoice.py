"""Invoices and credit notes, and the gap-free series their numbers come from.

Why an aggregate per (series, year) and not a PostgreSQL sequence: a sequence hands out a
number outside the transaction that uses it, so a rollback or a crash leaves a gap. Here the
number is the series' next event: issuing saves the series and the document **in one
atomic save**. The optimistic version check on the series' stream makes two issuers that
read the same last number conflict (one retries with the next), a crash before the commit
takes no number at all, and a crash after it is found on the retry as "already issued" (the
invoice's id is derived from its order, a credit note is kept on its invoice by refund id).
The numbers in a series are therefore 1, 2, 3... with no gap and no repeat, and the series'
stream is the register an auditor checks them against.

Numbering: invoices `2026-000123` (series INV), credit notes `CN-2026-000007` (series CN),
both per calendar year (UTC) of the payment or the refund."""

from __future__ import annotations

from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.errors import Conflict, InvalidValue
from tillroll.aggregates.invoicing.vat import split_gross
from tillroll.aggregates.ordering.lines import Address
from tillroll.aggregates.values import stored_as

INVOICES, CREDIT_NOTES = "INV", "CN"


class DocumentSeries(Aggregate):
    """The numbers given out in one series and year: `last` is the last one."""

    @staticmethod
    def create_id(series: str, year: int) -> UUID:
        return uuid5(NAMESPACE_URL, f"/tillroll/document-series/{series}/{year}")

    @classmethod
    def start(cls, series: str, year: int) -> DocumentSeries:
        if series not in (INVOICES, CREDIT_NOTES):
            raise InvalidValue(f"no document series {series!r}", field="series")
        return cls(series=series, year=year)

    @event("Started")
    def __init__(self, series: str, year: int) -> None:
        self.series = series
        self.year = year
        self.last = 0

    def take(self, document: str) -> str:
        """The next number, for `document` (an invoice id, a refund id): formatted."""
        self._number_taken(number=self.last + 1, document=document)
        return self.format(self.last)

    @event("NumberTaken")
    def _number_taken(self, number: int, document: str) -> None:
        self.last = number

    def format(self, number: int) -> str:
        prefix = "CN-" if self.series == CREDIT_NOTES else ""
        return f"{prefix}{self.year}-{number:06d}"


@stored_as("invoice_line")
class InvoiceLine(msgspec.Struct, frozen=True):
    """A line of the order as invoiced; amounts in minor units of the invoice's currency.
    `gross` is what the customer paid for the line (unit price x quantity, VAT included)."""

    sku: str
    name: str
    quantity: int
    unit_price: int
    gross: int
    rate: int
    """VAT rate in basis points (1900 = 19 %)."""
    net: int
    vat: int


@stored_as("vat_total")
class VatTotal(msgspec.Struct, frozen=True):
    """The amounts taxed at one rate."""

    rate: int
    net: int
    vat: int
    gross: int


@stored_as("credit_note")
class CreditNote(msgspec.Struct, frozen=True):
    number: str
    refund_id: str
    gross: int
    """The amount refunded (VAT included), in minor units."""
    totals: list[VatTotal]
    issued_at: datetime
    reason: str = ""


def invoice_line(sku: str, name: str, quantity: int, unit_price: int, rate: int) -> InvoiceLine:
    gross = unit_price * quantity
    net, vat = split_gross(gross, rate)
    return InvoiceLine(sku, name, quantity, unit_price, gross, rate, net, vat)


def vat_totals(lines: list[InvoiceLine]) -> list[VatTotal]:
    """Per rate, the sums of the lines' own amounts (so they add up to the lines)."""
    by_rate: dict[int, tuple[int, int, int]] = {}
    for line in lines:
        net, vat, gross = by_rate.get(line.rate, (0, 0, 0))
        by_rate[line.rate] = (net + line.net, vat + line.vat, gross + line.gross)
    return [VatTotal(rate, *amounts) for rate, amounts in sorted(by_rate.items())]


def share_out(amount: int, totals: list[VatTotal]) -> list[VatTotal]:
    """Split a refunded gross `amount` over the invoice's rates in proportion to their gross
    (largest remainder, so the shares sum to `amount` exactly), each share's VAT extracted
    as a line's is."""
    whole = sum(t.gross for t in totals)
    if whole <= 0:
        return []
    shares = [amount * t.gross // whole for t in totals]
    order = sorted(range(len(totals)), key=lambda i: -(amount * totals[i].gross % whole))
    for i in order[: amount - sum(shares)]:
        shares[i] += 1
    result = []
    for total, share in zip(totals, shares, strict=True):
        net, vat = split_gross(share, total.rate)
        result.append(VatTotal(total.rate, net, vat, share))
    return result


class Invoice(Aggregate):
    """The invoice of one paid order, and the credit notes of its refunds."""

    @staticmethod
    def create_id(order_id: UUID, **_: object) -> UUID:
        return uuid5(NAMESPACE_URL, f"/tillroll/invoices/{order_id}")

    @classmethod
    def issue(
        cls,
        order_id: UUID,
        customer_id: UUID,
        number: str,
        paid_at: datetime,
        currency: str,
        lines: list[InvoiceLine],
        billing_address: Address,
        shipping_address: Address,
    ) -> Invoice:
        if not lines:
            raise InvalidValue("an invoice has at least one line", field="lines")
        return cls(
            order_id=order_id,
            customer_id=customer_id,
            number=number,
            paid_at=paid_at,
            currency=currency,
            lines=list(lines),
            totals=vat_totals(lines),
            billing_address=billing_address,
            shipping_address=shipping_address,
        )

    @event("Issued")
    def __init__(
        self,
        order_id: UUID,
        customer_id: UUID,
        number: str,
        paid_at: datetime,
        currency: str,
        lines: list[InvoiceLine],
        totals: list[VatTotal],
        billing_address: Address,
        shipping_address: Address,
    ) -> None:
        self.order_id = order_id
        self.customer_id = customer_id
        self.number = number
        self.paid_at = paid_at
        self.currency = currency
        self.lines = lines
        self.totals = totals
        self.billing_address = billing_address
        self.shipping_address = shipping_address
        self.credit_notes: list[CreditNote] = []

    @property
    def total(self) -> int:
        return sum(line.gross for line in self.lines)

    @property
    def credited(self) -> int:
        return sum(note.gross for note in self.credit_notes)

    def credit_note_for(self, refund_id: str) -> CreditNote | None:
        return next((n for n in self.credit_notes if n.refund_id == refund_id), None)

    def check_creditable(self, refund_id: str, gross: int) -> None:
        """Before a number is taken: a refund within what is left of the invoice."""
        if gross <= 0:
            raise InvalidValue("a credit note is for a positive amount", field="amount")
        if gross > self.total - self.credited:
            raise Conflict(
                f"refund {refund_id}: {gross} exceeds what is left of invoice {self.number}",
                field="amount",
            )

    def credit(self, number: str, refund_id: str, gross: int, at: datetime, reason: str) -> None:
        self.check_creditable(refund_id, gross)
        note = CreditNote(number, refund_id, gross, share_out(gross, self.totals), at, reason)
        self._credit_note_issued(note=note)

    @event("CreditNoteIssued")
    def _credit_note_issued(self, note: CreditNote) -> None:
        self.credit_notes = [*self.credit_notes, note]
