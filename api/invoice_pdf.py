"""An invoice as a PDF (reportlab): the document a customer downloads with
`Accept: application/pdf`. Only layout lives here; every amount comes from the invoice."""

from __future__ import annotations

import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from tillroll.aggregates.ordering.lines import Address
from tillroll.queries.invoices import InvoiceView


def money(minor: int, currency: str) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d} {currency}"


def _rate(basis_points: int) -> str:
    return f"{basis_points / 100:g} %"


def _address(title: str, address: Address) -> str:
    lines = [address.name, address.line1, address.line2, f"{address.postal_code} {address.city}"]
    body = "<br/>".join(_escape(line) for line in [*lines, address.country] if line)
    return f"<b>{title}</b><br/>{body}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _table(rows: list[list[str]], widths: list[float]) -> Table:
    table = Table(rows, colWidths=widths, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
            ]
        )
    )
    return table


def render_invoice(invoice: InvoiceView) -> bytes:
    styles = getSampleStyleSheet()
    cur = invoice.currency
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, title=f"Invoice {invoice.number}", author="tillroll"
    )
    story = [
        Paragraph(f"Invoice {invoice.number}", styles["Title"]),
        Paragraph(
            f"Order {invoice.order_id}<br/>Paid {invoice.paid_at:%Y-%m-%d %H:%M} UTC, "
            f"issued {invoice.issued_at:%Y-%m-%d}",
            styles["Normal"],
        ),
        Spacer(1, 6 * mm),
        Table(
            [
                [
                    Paragraph(
                        _address("Billing address", invoice.billing_address), styles["Normal"]
                    ),
                    Paragraph(
                        _address("Shipping address", invoice.shipping_address), styles["Normal"]
                    ),
                ]
            ],
            colWidths=[85 * mm, 85 * mm],
            hAlign="LEFT",
        ),
        Spacer(1, 6 * mm),
    ]
    rows = [["Item", "Qty", "Unit price", "VAT", "Net", "Amount"]]
    for line in invoice.lines:
        rows.append(
            [
                _escape(f"{line.name} ({line.sku})")[:60],
                str(line.quantity),
                money(line.unit_price, cur),
                _rate(line.rate),
                money(line.net, cur),
                money(line.gross, cur),
            ]
        )
    story.append(_table(rows, [62 * mm, 12 * mm, 26 * mm, 16 * mm, 26 * mm, 28 * mm]))
    story.append(Spacer(1, 4 * mm))
    totals = [["VAT rate", "Net", "VAT", "Gross"]]
    for total in invoice.vat:
        totals.append(
            [
                _rate(total.rate),
                money(total.net, cur),
                money(total.vat, cur),
                money(total.gross, cur),
            ]
        )
    totals.append(
        ["Total", money(invoice.net, cur), money(invoice.vat_total, cur), money(invoice.total, cur)]
    )
    story.append(_table(totals, [30 * mm, 30 * mm, 30 * mm, 30 * mm]))
    story.append(Spacer(1, 4 * mm))
    story.append(
        Paragraph(
            f"<b>Total due (paid): {money(invoice.total, cur)}</b> (prices include VAT)",
            styles["Normal"],
        )
    )
    if invoice.credit_notes:
        story.append(Spacer(1, 6 * mm))
        story.append(Paragraph("Credit notes", styles["Heading2"]))
        notes = [["Number", "Date", "Reason", "Amount"]]
        for note in invoice.credit_notes:
            notes.append(
                [
                    note.number,
                    f"{note.issued_at:%Y-%m-%d}",
                    _escape(note.reason)[:40],
                    money(-note.gross, cur),
                ]
            )
        story.append(_table(notes, [40 * mm, 25 * mm, 70 * mm, 30 * mm]))
    document.build(story)
    return buffer.getvalue()
