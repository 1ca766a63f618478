"""Invoices over HTTP: issued by the `invoices` reaction after payment, with the VAT rates
that applied at payment, as JSON and as a PDF (read back with pypdf); credit notes for
refunds in their own series; 404 problem+json before the invoice exists."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pypdf import PdfReader

from tests.api.conftest import Shop, assert_problem
from tests.conftest import DEMO_PASSWORD
from tillroll.bootstrap import Runtime
from tillroll.worker import work

YEAR = datetime.now(UTC).year


def pay(shop: Shop, lines: list[tuple[str, int, int]], role: str = "customer") -> str:
    order_id = shop.order(lines, role=role).json()["order_id"]
    intent = shop.post(f"/v1/orders/{order_id}/payment", role).json()
    paid = shop.client.post(f"/v1/dev/payments/{intent['payment_intent_id']}/succeed")
    assert paid.status_code == 200 and paid.json()["outcome"] == "paid", paid.text
    return order_id


def invoice(shop: Shop, order_id: str, role: str = "customer", **headers: str) -> Any:
    """The invoice once the reaction has issued it (bounded wait)."""
    deadline = time.monotonic() + 10
    while True:
        response = shop.client.get(
            f"/v1/orders/{order_id}/invoice", headers={**shop.headers[role], **headers}
        )
        if response.status_code != 404:
            return response
        assert time.monotonic() < deadline, "the invoice was not issued"
        time.sleep(0.02)


def test_an_unpaid_order_has_no_invoice_404_problem(shop: Shop) -> None:
    shop.product("MUG", 1190, stock=5)
    order_id = shop.order([("MUG", 1, 1190)]).json()["order_id"]
    response = shop.get(f"/v1/orders/{order_id}/invoice", "customer")
    assert_problem(response, 404)


def test_the_invoice_uses_the_rates_at_payment_and_lines_add_up_to_the_total(
    shop: Shop,
) -> None:
    staff = shop.headers["staff"]
    assert shop.client.put("/v1/tax/rates/books", json={"rate": 700}, headers=staff).is_success
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    # A change announced for next month does not apply to a payment today.
    assert shop.client.put(
        "/v1/tax/rates/books", json={"rate": 500, "effective_from": later}, headers=staff
    ).is_success
    shop.product("NOVEL", 1999, stock=5, category="books")
    shop.product("MUG", 1001, stock=5)
    order_id = pay(shop, [("NOVEL", 3, 1999), ("MUG", 1, 1001)])

    body = invoice(shop, order_id).json()

    assert body["number"].startswith(f"{YEAR}-") and len(body["number"]) == 11
    lines = {line["sku"]: line for line in body["lines"]}
    assert (lines["NOVEL"]["rate"], lines["MUG"]["rate"]) == (700, 1900)
    # 59.97 gross at 7 %: net 56.05 (half up), VAT 3.92; 10.01 at 19 %: net 8.41, VAT 1.60
    assert (lines["NOVEL"]["net"], lines["NOVEL"]["vat"]) == (5605, 392)
    assert (lines["MUG"]["net"], lines["MUG"]["vat"]) == (841, 160)
    assert body["total"] == 3 * 1999 + 1001 == body["net"] + body["vat_total"]
    assert sum(t["gross"] for t in body["vat"]) == body["total"]
    assert body["billing_address"] == body["shipping_address"]  # no billing address saved
    assert body["credit_notes"] == []


def test_the_pdf_opens_and_holds_the_number_and_the_total(shop: Shop) -> None:
    shop.product("MUG", 1234, stock=5)
    order_id = pay(shop, [("MUG", 2, 1234)])
    number = invoice(shop, order_id).json()["number"]

    response = invoice(shop, order_id, Accept="application/pdf")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/pdf")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages)
    assert f"Invoice {number}" in text
    assert "24.68 EUR" in text


def test_only_its_customer_staff_and_auditors_see_an_invoice(shop: Shop) -> None:
    shop.product("MUG", 1000, stock=5)
    order_id = pay(shop, [("MUG", 1, 1000)])
    assert invoice(shop, order_id).status_code == 200
    registered = shop.client.post(
        "/v1/auth/register",
        json={"email": "other@example.com", "password": DEMO_PASSWORD, "name": "O"},
    )
    assert registered.status_code == 201, registered.text
    other = shop.login("customer", "other@example.com")
    response = shop.client.get(f"/v1/orders/{order_id}/invoice", headers=other)
    assert_problem(response, 404)
    assert invoice(shop, order_id, "staff").status_code == 200
    assert invoice(shop, order_id, "auditor").status_code == 200


def test_a_refund_gets_a_credit_note_in_its_own_series(shop: Shop, runtime: Runtime) -> None:
    shop.product("MUG", 1000, stock=5)
    order_id = pay(shop, [("MUG", 2, 1000)])
    first = invoice(shop, order_id).json()
    cancelled = shop.post(f"/v1/orders/{order_id}/cancel", "customer", {"reason": "changed mind"})
    assert cancelled.status_code == 200, cancelled.text

    deadline = time.monotonic() + 10
    while not (notes := invoice(shop, order_id).json()["credit_notes"]):
        work(runtime, burst=True)  # the refund goes to the provider from the worker
        assert time.monotonic() < deadline, "no credit note"
        time.sleep(0.05)

    (note,) = notes
    assert note["number"] == f"CN-{YEAR}-000001"
    assert note["gross"] == 2000 and sum(t["gross"] for t in note["totals"]) == 2000
    assert first["number"] == invoice(shop, order_id).json()["number"]
