"""Invoicing rules without a database: VAT taken out of gross prices so lines add up to the
total, credit notes shared out over the rates to the cent, gap-free series numbering, the
rate that applied at a moment, and who hears of a price drop."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tillroll.aggregates.errors import Conflict, InvalidValue
from tillroll.aggregates.invoicing.invoice import (
    CREDIT_NOTES,
    INVOICES,
    DocumentSeries,
    Invoice,
    invoice_line,
    share_out,
    vat_totals,
)
from tillroll.aggregates.invoicing.vat import DEFAULT, DEFAULT_RATE, VatRates, split_gross
from tillroll.aggregates.ordering.lines import Address
from tillroll.aggregates.reviews.review import Review
from tillroll.aggregates.watches.watchers import alerts_for

ADDRESS = Address("Ada", "1 Main St", "Berlin", "10115", "DE")
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
rates = st.sampled_from([0, 500, 700, 1000, 1900, 2000, 2500])
lines = st.lists(
    st.tuples(st.integers(0, 10**7), st.integers(1, 50), rates), min_size=1, max_size=20
)


@given(st.integers(-(10**9), 10**9), st.integers(0, 10_000))
def test_vat_is_taken_out_of_a_gross_amount_rounding_the_net_half_up(gross: int, rate: int) -> None:
    net, vat = split_gross(gross, rate)
    assert net + vat == gross
    exact = abs(gross) * 10_000 / (10_000 + rate)
    assert abs(abs(net) - exact) <= 0.5


def test_rounding_half_up_on_known_amounts() -> None:
    assert split_gross(1190, 1900) == (1000, 190)
    assert split_gross(1001, 1900) == (841, 160)  # 841.18 -> 841
    assert split_gross(5997, 700) == (5605, 392)  # 5604.67 -> 5605
    assert split_gross(1, 1900) == (1, 0)


@given(lines)
def test_an_invoices_lines_and_rate_totals_add_up_to_the_gross_total(
    drawn: list[tuple[int, int, int]],
) -> None:
    made = [
        invoice_line(f"S{i}", "x", qty, unit, rate) for i, (unit, qty, rate) in enumerate(drawn)
    ]
    totals = vat_totals(made)
    gross = sum(unit * qty for unit, qty, _ in drawn)
    assert sum(t.gross for t in totals) == gross == sum(t.net + t.vat for t in totals)


@given(lines, st.data())
def test_a_credit_note_is_shared_out_over_the_rates_to_the_cent(
    drawn: list[tuple[int, int, int]], data: st.DataObject
) -> None:
    totals = vat_totals([invoice_line("S", "x", qty, unit, rate) for unit, qty, rate in drawn])
    whole = sum(t.gross for t in totals)
    amount = data.draw(st.integers(0, whole))
    shares = share_out(amount, totals)
    assert sum(s.gross for s in shares) == (amount if whole else 0)
    assert all(s.net + s.vat == s.gross for s in shares)


def test_a_series_numbers_one_two_three_per_year_and_kind() -> None:
    invoices = DocumentSeries.start(INVOICES, 2026)
    notes = DocumentSeries.start(CREDIT_NOTES, 2026)
    assert [invoices.take("a"), invoices.take("b"), notes.take("r")] == [
        "2026-000001",
        "2026-000002",
        "CN-2026-000001",
    ]
    assert DocumentSeries.create_id(INVOICES, 2026) != DocumentSeries.create_id(INVOICES, 2027)


def test_the_rate_at_a_moment_is_the_latest_change_in_effect_then() -> None:
    rates = VatRates()
    assert rates.rate_at("books", NOW) == DEFAULT_RATE
    rates.set_rate(DEFAULT, 2000, NOW - timedelta(days=10))
    rates.set_rate("books", 700, NOW - timedelta(days=5))
    rates.set_rate("books", 500, NOW + timedelta(days=5))  # announced for later
    assert rates.rate_at("books", NOW) == 700
    assert rates.rate_at("books", NOW + timedelta(days=6)) == 500
    assert rates.rate_at("books", NOW - timedelta(days=6)) == 2000  # the default then
    assert rates.rate_at("toys", NOW) == 2000
    with pytest.raises(InvalidValue):
        rates.set_rate("books", 10_001, NOW)


def test_credit_notes_never_exceed_the_invoice() -> None:
    line = invoice_line("MUG", "Mug", 2, 1000, 1900)
    invoice = Invoice.issue(uuid4(), uuid4(), "2026-000001", NOW, "EUR", [line], ADDRESS, ADDRESS)
    invoice.credit("CN-2026-000001", "r1", 1500, NOW, "")
    with pytest.raises(Conflict):
        invoice.check_creditable("r2", 501)
    assert invoice.credited == 1500 and invoice.credit_note_for("r1") is not None


def test_a_review_keeps_its_latest_edit_and_counts_one_vote_per_customer() -> None:
    author, voter = uuid4(), uuid4()
    review = Review.write("MUG", author, "Ada", 2, "Meh", "")
    review.edit(author, 4, "Better", "after a week")
    assert (review.rating, review.title) == (4, "Better")
    assert review.vote_helpful(voter) and not review.vote_helpful(voter)
    with pytest.raises(InvalidValue):
        review.vote_helpful(author)
    with pytest.raises(InvalidValue):
        Review.write("MUG", author, "Ada", 6, "Too good", "")


def test_a_drop_alerts_watchers_without_a_target_and_those_it_reaches() -> None:
    anyone, low, high = uuid4(), uuid4(), uuid4()
    watchers = {anyone: None, low: 1000, high: 1500}
    assert sorted(alerts_for(watchers, 1500, 2000)) == sorted([anyone, high])
    assert alerts_for(watchers, 2500, 2000) == []  # a rise
    assert alerts_for(watchers, 2000, 2000) == []
