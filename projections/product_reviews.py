"""product_reviews (SQL): every review as a row (its latest edit), with its helpful votes and
whether staff hid it, for the pages of GET /v1/products/{sku}/reviews. The average rating on
the product card is kept by product_cards from the same events."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.reviews.review import Review
from tillroll.projections.engine.model import SqlProjection
from tillroll.projections.storable import storable

COLUMNS = (
    "review_id",
    "sku",
    "customer_id",
    "author",
    "rating",
    "title",
    "body",
    "written_at",
    "edited_at",
    "hidden",
    "helpful",
    "position",
)


class ProductReviews(SqlProjection):
    NAME = "product_reviews"
    VERSION = 1
    TABLE = "product_reviews"
    HANDLES = {
        Review.Written: "on_written",
        Review.Edited: "on_edited",
        Review.Hidden: "on_hidden",
        Review.VotedHelpful: "on_voted",
    }
    DDL = [
        """CREATE TABLE IF NOT EXISTS {table} (
            review_id uuid PRIMARY KEY,
            sku text NOT NULL,
            customer_id uuid NOT NULL,
            author text NOT NULL,
            rating int NOT NULL,
            title text NOT NULL,
            body text NOT NULL,
            written_at timestamptz NOT NULL,
            edited_at timestamptz,
            hidden boolean NOT NULL,
            helpful int NOT NULL,
            position bigint NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS {table}_newest_idx ON {table} (sku, position DESC)",
        "CREATE INDEX IF NOT EXISTS {table}_helpful_idx"
        " ON {table} (sku, helpful DESC, position DESC)",
    ]

    def on_written(self, cur: Any, event: Any, position: int) -> None:
        cur.insert(
            self.table,
            COLUMNS,
            (
                event.originator_id,
                storable(event.sku),
                event.customer_id,
                storable(event.author),
                event.rating,
                storable(event.title),
                storable(event.text),
                event.timestamp,
                None,
                False,
                0,
                position,
            ),
        )

    def on_edited(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"UPDATE {self.table} SET rating = %s, title = %s, body = %s, edited_at = %s"
            " WHERE review_id = %s",
            (
                event.rating,
                storable(event.title),
                storable(event.text),
                event.timestamp,
                event.originator_id,
            ),
        )

    def on_hidden(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"UPDATE {self.table} SET hidden = true WHERE review_id = %s", (event.originator_id,)
        )

    def on_voted(self, cur: Any, event: Any, position: int) -> None:
        cur.increment(
            f"UPDATE {self.table} SET helpful = helpful + %s WHERE review_id = %s",
            (event.originator_id,),
            (1,),
        )
