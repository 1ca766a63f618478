"""Sales reports for staff, from the sales_report read model (what each figure means is said
in projections/sales_report.py): revenue, orders, units, refunds and average order value per
day, ISO week (starting Monday), month or category, in minor units per currency."""

from __future__ import annotations

from datetime import date, timedelta

import msgspec
from tillroll.aggregates.errors import InvalidValue
from tillroll.queries.read_side import ReadSide

GROUPS = ("day", "week", "month", "category")
MAX_DAYS = 3660
"""The widest range one report covers (about ten years of days)."""
DEFAULT_DAYS = 30


class ReportQuery(msgspec.Struct, frozen=True):
    start: date
    end: date
    group_by: str = "day"
    currency: str | None = None


class SalesRow(msgspec.Struct):
    period: str | None
    """The day, or the first day of the week or month (None when grouped by category)."""
    category: str | None
    """The category (grouped by category; '' for products without one), else None."""
    currency: str
    orders: int
    units: int
    revenue: int
    refunds: int | None
    """None by category: a refund names an amount, not the lines it gives back."""
    net_revenue: int | None
    average_order_value: int
    """revenue / orders, rounded half up to a minor unit (0 without orders)."""


class SalesReportPage(msgspec.Struct):
    start: date = msgspec.field(name="from")
    end: date = msgspec.field(name="to")
    group_by: str = "day"
    rows: list[SalesRow] = []


def _date(value: str | None, field: str, default: date) -> date:
    if value is None or value == "":
        return default
    try:
        if len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidValue(f"{field} must be a date, YYYY-MM-DD", field=field) from None


def report_query(
    start: str | None,
    end: str | None,
    group_by: str | None,
    currency: str | None = None,
    today: date | None = None,
) -> ReportQuery:
    """The query the parameters ask for, checked: a bad one is an InvalidValue naming it."""
    today = today or date.today()
    until = _date(end, "to", today)
    since = _date(start, "from", until - timedelta(days=DEFAULT_DAYS - 1))
    if since > until:
        raise InvalidValue("from must not be after to", field="from")
    if (until - since).days >= MAX_DAYS:
        raise InvalidValue(f"a report covers at most {MAX_DAYS} days", field="to")
    group = group_by or "day"
    if group not in GROUPS:
        raise InvalidValue(f"group_by is one of {', '.join(GROUPS)}", field="group_by")
    if currency is not None and not (len(currency) == 3 and currency.isalpha()):
        raise InvalidValue("currency is a 3-letter ISO 4217 code", field="currency")
    return ReportQuery(since, until, group, currency.upper() if currency else None)


def average(revenue: int, orders: int) -> int:
    return (2 * revenue + orders) // (2 * orders) if orders else 0


def sales_report(read: ReadSide, q: ReportQuery) -> SalesReportPage:
    model = read.sql_model("sales_report")
    where = "day BETWEEN %s AND %s" + (" AND currency = %s" if q.currency else "")
    params: list[object] = [q.start, q.end, *([q.currency] if q.currency else [])]
    if q.group_by == "category":
        sql = (
            "SELECT NULL, category, currency, sum(orders), sum(units), sum(revenue), NULL"
            f" FROM {model.categories_table} WHERE {where}"
            " GROUP BY category, currency ORDER BY category, currency"
        )
    else:
        sql = (
            "SELECT date_trunc(%s, day)::date, NULL, currency, sum(orders), sum(units),"
            f" sum(revenue), sum(refunds) FROM {model.table} WHERE {where}"
            " GROUP BY 1, currency ORDER BY 1, currency"
        )
        params.insert(0, q.group_by)
    with read.sql_pool.connection() as conn:
        rows = conn.execute(sql, params).fetchall()
    out = []
    for period, category, currency, orders, units, revenue, refunds in rows:
        out.append(
            SalesRow(
                period=period.isoformat() if period is not None else None,
                category=category,
                currency=currency,
                orders=int(orders),
                units=int(units),
                revenue=int(revenue),
                refunds=None if refunds is None else int(refunds),
                net_revenue=None if refunds is None else int(revenue) - int(refunds),
                average_order_value=average(int(revenue), int(orders)),
            )
        )
    return SalesReportPage(start=q.start, end=q.end, group_by=q.group_by, rows=out)


def revenue_per_day(read: ReadSide, q: ReportQuery) -> tuple[str, list[tuple[date, int]]]:
    """(currency, revenue of every day of the range, days without sales as 0) for a chart:
    the currency asked for, else the one with the most revenue in the range (EUR if none)."""
    model = read.sql_model("sales_report")
    with read.sql_pool.connection() as conn:
        currency = q.currency
        if currency is None:
            found = conn.execute(
                f"SELECT currency FROM {model.table} WHERE day BETWEEN %s AND %s"
                " GROUP BY currency ORDER BY sum(revenue) DESC, currency LIMIT 1",
                (q.start, q.end),
            ).fetchone()
            currency = found[0] if found else "EUR"
        rows = conn.execute(
            f"SELECT day, revenue FROM {model.table} WHERE day BETWEEN %s AND %s AND currency = %s",
            (q.start, q.end, currency),
        ).fetchall()
    by_day = {day: int(revenue) for day, revenue in rows}
    days = [q.start + timedelta(days=i) for i in range((q.end - q.start).days + 1)]
    return currency, [(day, by_day.get(day, 0)) for day in days]
