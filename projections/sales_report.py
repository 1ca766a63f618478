"""sales_report (SQL): daily sales facts for staff reports, per currency for the whole shop
and per category.

What the figures mean (money in minor units of the row's currency, days in UTC):
- orders, units, revenue: orders **paid** that day, their units and what they paid (gross:
  a later cancellation or refund does not rewrite the day it was sold);
- refunds: money the payment provider confirmed refunding that day (Order.Refunded), of
  orders that were paid, never more than an order paid; a refund that gives back an extra
  payment (one the order could not take, refunded at once) is not the order's revenue, so
  not its refund either.
Refunds are not split over categories (a refund names an amount, not lines): the category
rows carry orders, units and revenue only.

A Paid event carries no lines and an order line no category: the model keeps each order's
lines (from Placed) and each product's category (from Product.Created) in tables of its own,
and a payment's facts are computed from them in SQL inside the batch's transaction.
"""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.ordering.order import Order
from tillroll.projections.engine.model import SqlProjection
from tillroll.projections.storable import storable


def _add(table: str, key: str, columns: tuple[str, ...]) -> str:
    """ON CONFLICT clause that adds the new row's counters to the existing row's."""
    sums = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)
    return f"ON CONFLICT ({key}) DO UPDATE SET {sums}"


class SalesReport(SqlProjection):
    NAME = "sales_report"
    VERSION = 1
    TABLE = "sales_days"
    HANDLES = {
        Product.Created: "on_product_created",
        Order.Placed: "on_placed",
        Order.Paid: "on_paid",
        Order.RefundRequested: "on_refund_requested",
        Order.Refunded: "on_refunded",
    }
    DDL = [
        """CREATE TABLE IF NOT EXISTS {table} (
            day date NOT NULL,
            currency text NOT NULL,
            orders int NOT NULL,
            units bigint NOT NULL,
            revenue bigint NOT NULL,
            refunds bigint NOT NULL,
            PRIMARY KEY (day, currency)
        )""",
        """CREATE TABLE IF NOT EXISTS {categories} (
            day date NOT NULL,
            category text NOT NULL,
            currency text NOT NULL,
            orders int NOT NULL,
            units bigint NOT NULL,
            revenue bigint NOT NULL,
            PRIMARY KEY (day, category, currency)
        )""",
        # paid orders only: what they paid and what of it came back so far
        """CREATE TABLE IF NOT EXISTS {orders} (
            order_id uuid PRIMARY KEY,
            currency text NOT NULL,
            payment_ref text NOT NULL,
            paid bigint NOT NULL,
            refunded bigint NOT NULL DEFAULT 0
        )""",
        # which payment each requested refund gives back (refunds of extra payments are not
        # the order's)
        """CREATE TABLE IF NOT EXISTS {refunds} (
            order_id uuid NOT NULL,
            refund_id text NOT NULL,
            payment_ref text NOT NULL,
            PRIMARY KEY (order_id, refund_id)
        )""",
        """CREATE TABLE IF NOT EXISTS {lines} (
            order_id uuid NOT NULL,
            sku text NOT NULL,
            quantity int NOT NULL,
            amount bigint NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS {lines}_order_idx ON {lines} (order_id)",
        "CREATE TABLE IF NOT EXISTS {products} (sku text PRIMARY KEY, category text NOT NULL)",
    ]

    @property
    def categories_table(self) -> str:
        return f"sales_categories_b{self.build}"

    @property
    def orders_table(self) -> str:
        return f"sales_orders_b{self.build}"

    @property
    def lines_table(self) -> str:
        return f"sales_lines_b{self.build}"

    @property
    def products_table(self) -> str:
        return f"sales_products_b{self.build}"

    @property
    def refunds_table(self) -> str:
        return f"sales_refunds_b{self.build}"

    @property
    def tables(self) -> list[str]:
        return [
            self.table,
            self.categories_table,
            self.orders_table,
            self.lines_table,
            self.products_table,
            self.refunds_table,
        ]

    def ddl(self) -> list[str]:
        return [
            statement.format(
                table=self.table,
                categories=self.categories_table,
                orders=self.orders_table,
                lines=self.lines_table,
                products=self.products_table,
                refunds=self.refunds_table,
            )
            for statement in self.DDL
        ]

    def on_product_created(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"INSERT INTO {self.products_table} (sku, category) VALUES (%s, %s)"
            " ON CONFLICT (sku) DO NOTHING",
            (storable(event.sku), storable(event.category)),
        )

    def on_placed(self, cur: Any, event: Any, position: int) -> None:
        # Lines only: runs of inserts into one table go out as one COPY per batch (a row in
        # a second table per order would split them into a COPY per row).
        order_id = event.originator_id
        for line in event.lines:
            cur.insert(
                self.lines_table,
                ("order_id", "sku", "quantity", "amount"),
                (order_id, storable(line.sku), line.quantity, line.total.amount),
            )

    def on_paid(self, cur: Any, event: Any, position: int) -> None:
        order_id, day, amount = event.originator_id, event.timestamp.date(), event.amount
        cur.execute(
            f"INSERT INTO {self.orders_table} (order_id, currency, payment_ref, paid)"
            " VALUES (%s, %s, %s, %s)",
            (order_id, storable(amount.currency), storable(event.payment_ref), amount.amount),
        )
        days, categories = self.table, self.categories_table
        cur.execute(
            f"INSERT INTO {days} (day, currency, orders, units, revenue, refunds)"
            f" SELECT %s, %s, 1, coalesce(sum(quantity), 0), %s, 0 FROM {self.lines_table}"
            f" WHERE order_id = %s {_add(days, 'day, currency', ('orders', 'units', 'revenue'))}",
            (day, storable(amount.currency), amount.amount, order_id),
        )
        cur.execute(
            f"INSERT INTO {categories} (day, category, currency, orders, units, revenue)"
            f" SELECT %s, coalesce(p.category, ''), %s, 1, sum(l.quantity), sum(l.amount)"
            f" FROM {self.lines_table} l LEFT JOIN {self.products_table} p ON p.sku = l.sku"
            " WHERE l.order_id = %s GROUP BY 2"
            f" {_add(categories, 'day, category, currency', ('orders', 'units', 'revenue'))}",
            (day, storable(amount.currency), order_id),
        )

    def on_refund_requested(self, cur: Any, event: Any, position: int) -> None:
        cur.insert(
            self.refunds_table,
            ("order_id", "refund_id", "payment_ref"),
            (event.originator_id, storable(event.refund_id), storable(event.payment_ref)),
        )

    def on_refunded(self, cur: Any, event: Any, position: int) -> None:
        # Stored before partial refunds existed, a Refunded has no amount (-1) and no refund
        # id: it gave back everything left. Either way no more than the order paid counts,
        # and nothing of a refund that gives back another payment than the order's.
        amount = getattr(event, "amount", -1)
        wanted = "(o.paid - o.refunded)" if amount < 0 else "least(%s, o.paid - o.refunded)"
        params: tuple[Any, ...] = () if amount < 0 else (amount,)
        days, orders = self.table, self.orders_table
        counted = (
            "o.order_id = %s AND o.paid > o.refunded AND NOT EXISTS (SELECT 1"
            f" FROM {self.refunds_table} r WHERE r.order_id = o.order_id"
            " AND r.refund_id = %s AND r.payment_ref <> o.payment_ref)"
        )
        where = (event.originator_id, storable(getattr(event, "refund_id", "") or ""))
        cur.execute(
            f"INSERT INTO {days} (day, currency, orders, units, revenue, refunds)"
            f" SELECT %s, o.currency, 0, 0, 0, {wanted} FROM {orders} o WHERE {counted}"
            f" {_add(days, 'day, currency', ('refunds',))}",
            (event.timestamp.date(), *params, *where),
        )
        cur.execute(
            f"UPDATE {orders} o SET refunded = o.refunded + {wanted} WHERE {counted}",
            (*params, *where),
        )
