"""Insights for shoppers and the shop: bestsellers (units sold, all-time, per day or per
category) and trending products (read model bestsellers; formulas in queries/insights.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from tillroll.aggregates.errors import InvalidValue
from tillroll.api.requests import Limit, MinPosition, read_response
from tillroll.queries import insights as q
from tillroll.queries.read_side import ReadSide

TRENDING_TTL = 30.0
"""Seconds a process reuses its trending list: it unions 192 hourly sets, too much to do
for every anonymous request, and a ranking over 24 h is not made stale by 30 s."""
_trending: dict[tuple[str, int], tuple[float, int, q.TrendingList]] = {}
"""(the live build's key prefix, limit) -> (when, position, list)."""


Day = Annotated[
    str | None,
    QueryParameter(pattern=r"^\d{4}-\d{2}-\d{2}$(?!\n)", description="A UTC day, YYYY-MM-DD"),
]
Category = Annotated[str | None, QueryParameter(max_length=100)]


class InsightsController(Controller):
    path = "/v1/insights"
    tags = ["insights"]

    @get("/trending", opt={"public": True}, sync_to_thread=True)
    def trending(
        self, read: NamedDependency[ReadSide], limit: Limit = 20, min_position: MinPosition = None
    ) -> Response[q.TrendingList]:
        """Products by growth of their units sold in the last 24 h over the daily average of
        the 7 days before: (recent - baseline) / max(baseline, 1), in whole UTC hours
        (recomputed at most every 30 s per process, unless min_position is given)."""
        position = read.wait_for("bestsellers", min_position)
        key = (read.redis_model("bestsellers").namespace, limit)
        cached = _trending.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < TRENDING_TTL and not min_position:
            return read_response(cached[2], cached[1])
        found = q.trending(read, datetime.now(UTC), limit)
        _trending[key] = (now, position, found)
        return read_response(found, position)

    @get("/bestsellers", opt={"public": True}, sync_to_thread=True)
    def bestsellers(
        self,
        read: NamedDependency[ReadSide],
        day: Day = None,
        category: Category = None,
        limit: Limit = 20,
        min_position: MinPosition = None,
    ) -> Response[q.Leaderboard]:
        """Units sold per product, most first: all-time, of one UTC day (`day`), or of one
        category (`category`, all-time). Sold: paid, less cancelled and returned units."""
        if day is not None and category is not None:
            raise InvalidValue("name a day or a category, not both", field="category")
        position = read.wait_for("bestsellers", min_position)
        return read_response(q.units_sold(read, day, category, limit), position)
