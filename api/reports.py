"""Sales reports for staff: JSON, CSV (`Accept: text/csv` or `?format=csv`) and an SVG chart
of revenue per day (read model sales_report)."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from tillroll.aggregates.errors import InvalidValue
from tillroll.api.auth import STAFF, roles
from tillroll.api.requests import MinPosition, read_response
from tillroll.api.sales_chart import revenue_chart
from tillroll.queries import reports as q
from tillroll.queries.read_side import ReadSide

CSV = "text/csv"
SVG = "image/svg+xml"
MAX_CHART_DAYS = 366
CSV_COLUMNS = (
    "period",
    "category",
    "currency",
    "orders",
    "units",
    "revenue",
    "refunds",
    "net_revenue",
    "average_order_value",
)

From = Annotated[
    str | None,
    QueryParameter(name="from", max_length=10, description="YYYY-MM-DD (UTC); default: to - 29"),
]
To = Annotated[
    str | None, QueryParameter(name="to", max_length=10, description="YYYY-MM-DD; default: today")
]
GroupBy = Annotated[
    str | None, QueryParameter(max_length=10, description="day (default), week, month, category")
]
Currency = Annotated[
    str | None, QueryParameter(max_length=3, description="Only this currency (ISO 4217)")
]
Format = Annotated[str | None, QueryParameter(max_length=4, description="json (default) or csv")]


def _cell(value: object) -> str:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading quote."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not text.lstrip("-").isdigit():
        return "'" + text
    return text


def to_csv(page: q.SalesReportPage) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in page.rows:
        writer.writerow([_cell(getattr(row, column)) for column in CSV_COLUMNS])
    return out.getvalue()


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        if fmt not in ("json", "csv"):
            raise InvalidValue("format is json or csv", field="format")
        return fmt == "csv"
    accept = request.headers.get("accept", "")
    return CSV in accept and "application/json" not in accept


class ReportsController(Controller):
    path = "/v1/reports"
    tags = ["reports"]

    @get(
        "/sales",
        guards=[roles(STAFF)],
        sync_to_thread=True,
        opt={"also_answers": (CSV,)},
        responses={
            200: ResponseSpec(
                data_container=q.SalesReportPage,
                description="JSON; or CSV (text/csv) with Accept: text/csv or ?format=csv,"
                " columns " + ", ".join(CSV_COLUMNS),
            )
        },
    )
    def sales(
        self,
        request: Request,
        read: NamedDependency[ReadSide],
        from_: From = None,
        to: To = None,
        group_by: GroupBy = None,
        currency: Currency = None,
        format: Format = None,
        min_position: MinPosition = None,
    ) -> Response[q.SalesReportPage]:
        """Revenue, orders, units, refunds, net revenue and average order value per day,
        week, month or category, in minor units per currency (staff). Days are UTC; `from`
        and `to` are included."""
        query = q.report_query(from_, to, group_by, currency)
        as_csv = _wants_csv(request, format)
        position = read.wait_for("sales_report", min_position)
        page = q.sales_report(read, query)
        if as_csv:
            name = f"sales-{query.start}-{query.end}-{query.group_by}.csv"
            return Response(
                to_csv(page),  # type: ignore[arg-type]
                media_type=f"{CSV}; charset=utf-8",
                headers={
                    "X-Read-Model-Position": str(position),
                    "Content-Disposition": f'attachment; filename="{name}"',
                },
            )
        return read_response(page, position)

    @get(
        "/sales.svg",
        guards=[roles(STAFF)],
        sync_to_thread=True,
        media_type=SVG,
        responses={200: ResponseSpec(data_container=str, media_type=SVG, description="SVG")},
    )
    def sales_chart(
        self,
        read: NamedDependency[ReadSide],
        from_: From = None,
        to: To = None,
        currency: Currency = None,
        min_position: MinPosition = None,
    ) -> Response[str]:
        """A bar chart of revenue per day (SVG, one bar per day of the range, at most
        366 days; one currency: the one asked for, else the one with the most revenue)."""
        query = q.report_query(from_, to, "day", currency)
        if (query.end - query.start).days >= MAX_CHART_DAYS:
            raise InvalidValue(f"a chart covers at most {MAX_CHART_DAYS} days", field="from")
        position = read.wait_for("sales_report", min_position)
        chosen, days = q.revenue_per_day(read, query)
        title = f"Revenue per day, {query.start} to {query.end} ({chosen})"
        return Response(
            revenue_chart(chosen, days, title),
            media_type=SVG,
            headers={"X-Read-Model-Position": str(position)},
        )
