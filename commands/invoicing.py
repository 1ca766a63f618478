"""Invoicing commands: issue a paid order's invoice, a refund's credit note (both run by the
`invoices` reaction, commands/reactions/invoices.py), and set VAT rates (staff).

Issuing saves the document and its series in one atomic save (aggregates/invoicing/
invoice.py says why that keeps the numbers gap-free); a version conflict, with another
process issuing at the same time, is retried by the bus (commands/bus.py, bounded)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.customers.customer import Customer
from tillroll.aggregates.errors import NotFound
from tillroll.aggregates.invoicing.invoice import (
    CREDIT_NOTES,
    INVOICES,
    DocumentSeries,
    Invoice,
    invoice_line,
)
from tillroll.aggregates.invoicing.vat import DEFAULT, DEFAULT_RATE, Rate, VatRates
from tillroll.aggregates.ordering.order import Address, Order
from tillroll.commands.context import CommandContext
from tillroll.commands.payments import order_position


class IssueInvoice(msgspec.Struct, frozen=True):
    order_id: UUID
    paid_at: datetime
    """When the order was paid (its Paid event): the rates, the addresses and the year of
    the number are those of that moment."""


class IssueCreditNote(msgspec.Struct, frozen=True):
    order_id: UUID
    refund_id: str
    amount: int
    """Minor units refunded (VAT included); -1: all that is left of the invoice."""
    refunded_at: datetime
    reason: str = ""


class DocumentIssued(msgspec.Struct):
    invoice_id: str
    number: str
    """The document's number; empty when there is nothing to issue (no invoice to credit)."""
    created: bool
    """False: it had been issued before (a repeat), nothing was written."""
    position: int = 0


class VatRateBody(msgspec.Struct, frozen=True):
    """The body of PUT /v1/tax/rates/{category} and PUT /v1/tax/default-rate."""

    rate: Rate
    effective_from: datetime | None = None
    """From when the rate applies (time zone required); default: now."""


class SetVatRate(msgspec.Struct, frozen=True):
    category: str
    """A category's slug, or "" for the default rate."""
    rate: int
    effective_from: datetime | None = None


class VatRateSet(msgspec.Struct):
    category: str
    rate: int
    effective_from: datetime
    position: int = 0


def _series(ctx: CommandContext, found: dict[UUID, Any], kind: str, year: int) -> DocumentSeries:
    series = found.get(DocumentSeries.create_id(kind, year))
    return series if series is not None else DocumentSeries.start(kind, year)


def _as_at(ctx: CommandContext, aggregate: Any, when: datetime) -> Any:
    """The aggregate as it was at `when` (its versions walked back one by one: a customer's
    stream is short)."""
    while aggregate.version > 1 and aggregate.modified_on > when:
        aggregate = ctx.store.get(aggregate.id, version=aggregate.version - 1)
    return aggregate


def _billing(ctx: CommandContext, order: Order, when: datetime) -> Address:
    """The customer's default billing address as it was at payment; else the shipping one.
    Loaded from the store, not the commands' cache: a change made in another process just
    before the payment must not be missed."""
    try:
        customer = ctx.store.get(Customer.create_id(order.customer_id))
    except NotFound:
        return order.shipping_address
    customer = _as_at(ctx, customer, when)
    if customer.default_billing in customer.addresses:
        return customer.addresses[customer.default_billing]
    return order.shipping_address


def _rates(ctx: CommandContext) -> VatRates | None:
    """From the store, not the cache (as `_billing`): a rate set elsewhere must count."""
    try:
        return ctx.store.get(VatRates.create_id())
    except NotFound:
        return None


def issue_invoice(cmd: IssueInvoice, ctx: CommandContext) -> DocumentIssued:
    invoice_id = Invoice.create_id(cmd.order_id)
    year = cmd.paid_at.astimezone(UTC).year
    order = ctx.load(cmd.order_id)
    if not isinstance(order, Order):
        raise NotFound(f"order {cmd.order_id} not found", field="order_id")
    products = [Product.create_id(line.sku) for line in order.lines]
    found = ctx.load_many([invoice_id, DocumentSeries.create_id(INVOICES, year), *products])
    if invoice_id in found:
        issued = found[invoice_id]
        return DocumentIssued(str(invoice_id), issued.number, False, order_position(ctx))
    rates = _rates(ctx)
    lines = []
    for line in order.lines:
        product = found.get(Product.create_id(line.sku))
        category = product.category if product is not None else DEFAULT
        rate = rates.rate_at(category, cmd.paid_at) if rates is not None else DEFAULT_RATE
        name = product.name if product is not None else line.sku
        lines.append(invoice_line(line.sku, name, line.quantity, line.unit_price.amount, rate))
    series = _series(ctx, found, INVOICES, year)
    invoice = Invoice.issue(
        order_id=order.id,
        customer_id=order.customer_id,
        number=series.take(str(invoice_id)),
        paid_at=cmd.paid_at,
        currency=order.total.currency,
        lines=lines,
        billing_address=_billing(ctx, order, cmd.paid_at),
        shipping_address=order.shipping_address,
    )
    return ctx.save(DocumentIssued(str(invoice_id), invoice.number, True), series, invoice)


def issue_credit_note(cmd: IssueCreditNote, ctx: CommandContext) -> DocumentIssued:
    invoice_id = Invoice.create_id(cmd.order_id)
    year = cmd.refunded_at.astimezone(UTC).year
    found = ctx.load_many([invoice_id, DocumentSeries.create_id(CREDIT_NOTES, year)])
    invoice: Invoice | None = found.get(invoice_id)
    if invoice is None:
        # Paid before invoicing existed (the reaction starts at the log's head): no invoice,
        # so nothing to credit.
        return DocumentIssued(str(invoice_id), "", False, order_position(ctx))
    note = invoice.credit_note_for(cmd.refund_id)
    if note is not None:
        return DocumentIssued(str(invoice_id), note.number, False, order_position(ctx))
    amount = cmd.amount if cmd.amount >= 0 else invoice.total - invoice.credited
    invoice.check_creditable(cmd.refund_id, amount)  # before a number is taken
    series = _series(ctx, found, CREDIT_NOTES, year)
    number = series.take(cmd.refund_id)
    invoice.credit(number, cmd.refund_id, amount, cmd.refunded_at, cmd.reason)
    return ctx.save(DocumentIssued(str(invoice_id), number, True), series, invoice)


def set_vat_rate(cmd: SetVatRate, ctx: CommandContext) -> VatRateSet:
    found = ctx.load_many([VatRates.create_id()])
    rates: VatRates = found.get(VatRates.create_id()) or VatRates()
    effective_from = cmd.effective_from or datetime.now(UTC)
    rates.set_rate(cmd.category, cmd.rate, effective_from)
    return ctx.save(VatRateSet(cmd.category, cmd.rate, effective_from), rates)
