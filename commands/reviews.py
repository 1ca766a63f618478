"""Review commands: record what a customer received (the `received_products` reaction, on
delivery), write, edit, hide and vote for reviews.

The verified-buyer rule is checked on the write side, against the Customer aggregate: the
SKUs of each delivered order are recorded on it by a reaction (Order.Delivered →
RecordReceived). A command may only load aggregates, and the customer's stream is one the
review command can load by id; a purchases table would have been a read model (never the
basis of a rule, DESIGN rule 1) or a second write store. The cost: a review written in the
moment between a delivery and its reaction is refused (422) and succeeds a moment later."""

from __future__ import annotations

from uuid import UUID

import msgspec
from tillroll.aggregates.customers.customer import Customer
from tillroll.aggregates.errors import AlreadyExists, NotFound
from tillroll.aggregates.ordering.order import Order
from tillroll.aggregates.reviews.review import (
    Body,
    NotAVerifiedBuyer,
    Rating,
    Reason,
    Review,
    Title,
)
from tillroll.commands.context import CommandContext
from tillroll.commands.payments import order_position


class RecordReceived(msgspec.Struct, frozen=True):
    order_id: UUID


class ReceivedRecorded(msgspec.Struct):
    customer_id: str
    skus: list[str]
    position: int = 0


class ReviewBody(msgspec.Struct, frozen=True):
    """The body of POST and PUT /v1/products/{sku}/reviews."""

    rating: Rating
    title: Title
    text: Body = ""


class WriteReview(msgspec.Struct, frozen=True):
    sku: str
    customer_id: UUID
    rating: int
    title: str
    text: str = ""


class EditReview(msgspec.Struct, frozen=True):
    sku: str
    customer_id: UUID
    rating: int
    title: str
    text: str = ""


class HideBody(msgspec.Struct, frozen=True):
    reason: Reason


class HideReview(msgspec.Struct, frozen=True):
    review_id: UUID
    reason: str


class VoteHelpful(msgspec.Struct, frozen=True):
    review_id: UUID
    voter: UUID


class ReviewChanged(msgspec.Struct):
    review_id: str
    sku: str
    version: int
    position: int = 0


def record_received(cmd: RecordReceived, ctx: CommandContext) -> ReceivedRecorded:
    order = ctx.load(cmd.order_id)
    if not isinstance(order, Order):
        raise NotFound(f"order {cmd.order_id} not found", field="order_id")
    customer_id = Customer.create_id(order.customer_id)
    customer = ctx.load_many([customer_id]).get(customer_id)
    skus = [line.sku for line in order.lines]
    if customer is None:  # an order of an account without a customer profile
        return ReceivedRecorded(str(order.customer_id), [], order_position(ctx))
    customer.record_received(skus)
    if not customer.pending_events:
        return ReceivedRecorded(str(order.customer_id), skus, order_position(ctx))
    return ctx.save(ReceivedRecorded(str(order.customer_id), skus), customer)


def write_review(cmd: WriteReview, ctx: CommandContext) -> ReviewChanged:
    review_id = Review.create_id(cmd.sku, cmd.customer_id)
    customer_id = Customer.create_id(cmd.customer_id)
    found = ctx.load_many([review_id, customer_id])
    customer: Customer | None = found.get(customer_id)
    if customer is None or not customer.has_received(cmd.sku):
        raise NotAVerifiedBuyer(
            f"only a customer who received {cmd.sku!r} may review it", field="sku"
        )
    if review_id in found:
        raise AlreadyExists(f"you have reviewed {cmd.sku!r} already: edit it", field="sku")
    review = Review.write(cmd.sku, cmd.customer_id, customer.name, cmd.rating, cmd.title, cmd.text)
    return ctx.save(ReviewChanged(str(review.id), review.sku, review.version), review)


def _review(ctx: CommandContext, review_id: UUID) -> Review:
    review = ctx.load_many([review_id]).get(review_id)
    if not isinstance(review, Review):
        raise NotFound(f"review {review_id} not found", field="review_id")
    return review


def edit_review(cmd: EditReview, ctx: CommandContext) -> ReviewChanged:
    review = _review(ctx, Review.create_id(cmd.sku, cmd.customer_id))
    review.edit(cmd.customer_id, cmd.rating, cmd.title, cmd.text)
    return ctx.save(ReviewChanged(str(review.id), review.sku, review.version), review)


def hide_review(cmd: HideReview, ctx: CommandContext) -> ReviewChanged:
    review = _review(ctx, cmd.review_id)
    review.hide(cmd.reason, ctx.principal.subject)
    return ctx.save(ReviewChanged(str(review.id), review.sku, review.version), review)


def vote_helpful(cmd: VoteHelpful, ctx: CommandContext) -> ReviewChanged:
    review = _review(ctx, cmd.review_id)
    if review.hidden:
        raise NotFound(f"review {cmd.review_id} not found", field="review_id")
    review.vote_helpful(cmd.voter)
    return ctx.save(ReviewChanged(str(review.id), review.sku, review.version), review)
