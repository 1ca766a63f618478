"""Invoice queries: an order's invoice and its credit notes, read from the invoice's own
stream, like the audit queries read theirs.

Why no read model: an invoice is a legal document whose content is exactly what was issued,
once, and is never recomputed; its stream is one or a few events, loaded by an id derived
from the order. Reading it there cannot lag behind its issue nor differ from it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

import msgspec
from tillroll.aggregates.errors import NotFound
from tillroll.aggregates.invoicing.invoice import CreditNote, Invoice, InvoiceLine, VatTotal
from tillroll.aggregates.invoicing.vat import DEFAULT, DEFAULT_RATE, VatRates
from tillroll.aggregates.ordering.lines import Address


class DocumentStore(Protocol):
    """The event store as this query needs it (commands.ports.EventStorePort fits)."""

    def get(self, aggregate_id: UUID, *, version: int | None = None) -> Any: ...


class InvoiceView(msgspec.Struct):
    invoice_id: str
    number: str
    order_id: str
    customer_id: str
    issued_at: datetime
    paid_at: datetime
    currency: str
    lines: list[InvoiceLine]
    vat: list[VatTotal]
    """Per VAT rate (basis points), the net, VAT and gross sums of its lines."""
    net: int
    vat_total: int
    total: int
    """Minor units, VAT included: the order's total."""
    billing_address: Address
    shipping_address: Address
    credit_notes: list[CreditNote]
    credited: int
    prices_include_vat: bool = True


def invoice_of(store: DocumentStore, order_id: UUID) -> InvoiceView:
    """The order's invoice; NotFound until it is issued (the `invoices` reaction)."""
    try:
        invoice = store.get(Invoice.create_id(order_id))
    except NotFound:
        raise NotFound(f"order {order_id} has no invoice (yet)", field="order_id") from None
    if not isinstance(invoice, Invoice):
        raise NotFound(f"order {order_id} has no invoice (yet)", field="order_id")
    return InvoiceView(
        invoice_id=str(invoice.id),
        number=invoice.number,
        order_id=str(invoice.order_id),
        customer_id=str(invoice.customer_id),
        issued_at=invoice.created_on,
        paid_at=invoice.paid_at,
        currency=invoice.currency,
        lines=invoice.lines,
        vat=invoice.totals,
        net=sum(t.net for t in invoice.totals),
        vat_total=sum(t.vat for t in invoice.totals),
        total=invoice.total,
        billing_address=invoice.billing_address,
        shipping_address=invoice.shipping_address,
        credit_notes=invoice.credit_notes,
        credited=invoice.credited,
    )


class RateChange(msgspec.Struct):
    effective_from: datetime
    category: str
    """A category's slug, or "" for the default rate."""
    rate: int


class VatRatesView(msgspec.Struct):
    default: int
    """Basis points (1900 = 19 %), for categories without a rate of their own."""
    categories: dict[str, int]
    """Each category's own rate now."""
    changes: list[RateChange]
    """Every change, in the order staff made them."""


def vat_rates(store: DocumentStore, now: datetime) -> VatRatesView:
    try:
        rates = store.get(VatRates.create_id())
    except NotFound:
        return VatRatesView(DEFAULT_RATE, {}, [])
    current = rates.current(now)
    default = current.pop(DEFAULT)
    return VatRatesView(default, current, [RateChange(*change) for change in rates.changes])
