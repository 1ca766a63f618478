"""Review routes: a customer who received a product reviews it (once; edits replace),
other customers vote a review helpful, staff hide one with a reason, and anyone reads a
product's visible reviews, newest or most helpful first."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from tillroll.api.auth import CUSTOMER, STAFF, roles
from tillroll.api.catalog import SkuPath
from tillroll.api.requests import (
    Cursor,
    Limit,
    MinPosition,
    command_response,
    read_response,
    run_command,
)
from tillroll.commands.context import Principal
from tillroll.commands.ports import EventStorePort
from tillroll.commands.reviews import (
    EditReview,
    HideBody,
    HideReview,
    ReviewBody,
    ReviewChanged,
    VoteHelpful,
    WriteReview,
)
from tillroll.queries import reviews as q
from tillroll.queries.read_side import Page, ReadSide


def _customer(request: Request) -> UUID:
    principal = request.user
    assert isinstance(principal, Principal)
    return principal.customer_id


class ReviewsController(Controller):
    tags = ["reviews"]

    @post("/v1/products/{sku:str}/reviews", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def write(
        self,
        sku: SkuPath,
        data: JSONBody[ReviewBody],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[ReviewChanged]:
        """Review a product you received (a delivered order): 422 otherwise, 409 if you
        reviewed it already (edit it with PUT)."""
        command = WriteReview(sku, _customer(request), data.rating, data.title, data.text)
        return command_response(run_command(request, store, command), 201)

    @put("/v1/products/{sku:str}/reviews", guards=[roles(CUSTOMER)], sync_to_thread=True)
    def edit(
        self,
        sku: SkuPath,
        data: JSONBody[ReviewBody],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[ReviewChanged]:
        """Edit your review of the product: the latest edit is the one shown and counted."""
        command = EditReview(sku, _customer(request), data.rating, data.title, data.text)
        return command_response(run_command(request, store, command))

    @get("/v1/products/{sku:str}/reviews", opt={"public": True}, sync_to_thread=True)
    def list_reviews(
        self,
        sku: SkuPath,
        read: NamedDependency[ReadSide],
        sort: Annotated[str, QueryParameter(pattern=q.SORT_PATTERN)] = "newest",
        limit: Limit = 20,
        cursor: Cursor = None,
        min_position: MinPosition = None,
    ) -> Response[Page]:
        """The product's visible reviews, `newest` or most `helpful` first (SQL read model)."""
        position = read.wait_for("product_reviews", min_position)
        return read_response(q.list_reviews(read, sku, sort, limit, cursor), position)

    @post(
        "/v1/reviews/{review_id:uuid}/helpful",
        guards=[roles(CUSTOMER)],
        sync_to_thread=True,
        status_code=200,
    )
    def helpful(
        self, review_id: FromPath[UUID], store: NamedDependency[EventStorePort], request: Request
    ) -> Response[ReviewChanged]:
        """Vote a review helpful (once per customer; not your own)."""
        command = VoteHelpful(review_id, _customer(request))
        return command_response(run_command(request, store, command))

    @post(
        "/v1/reviews/{review_id:uuid}/hide",
        guards=[roles(STAFF)],
        sync_to_thread=True,
        status_code=200,
    )
    def hide(
        self,
        review_id: FromPath[UUID],
        data: JSONBody[HideBody],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[ReviewChanged]:
        """Hide a review, with a reason: it leaves the listing and the average; its events
        stay in the log."""
        command = HideReview(review_id, data.reason)
        return command_response(run_command(request, store, command))
