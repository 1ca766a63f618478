"""Review: one customer's rating and words about one product, editable by its author (the
latest edit counts), hidden by staff with a reason (the events stay), voted helpful once per
other customer. One per product and customer: its id is derived from both, so a second
review is a stream that exists already."""

from __future__ import annotations

from typing import Annotated
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.errors import Conflict, InvalidValue, NotFound, RuleViolation

Rating = Annotated[int, msgspec.Meta(ge=1, le=5)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Body = Annotated[str, msgspec.Meta(max_length=5000)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class NotAVerifiedBuyer(RuleViolation):
    title = "Not a verified buyer"


def check_review(rating: int, title: str, text: str) -> None:
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise InvalidValue("a rating is 1-5", field="rating")
    if not title.strip() or len(title) > 200:
        raise InvalidValue("a title is 1-200 characters", field="title")
    if len(text) > 5000:
        raise InvalidValue("a review's text is at most 5000 characters", field="text")


class Review(Aggregate):
    @staticmethod
    def create_id(sku: str, customer_id: UUID, **_: object) -> UUID:
        return uuid5(NAMESPACE_URL, f"/tillroll/reviews/{sku}/{customer_id}")

    @classmethod
    def write(
        cls, sku: str, customer_id: UUID, author: str, rating: int, title: str, text: str
    ) -> Review:
        check_review(rating, title, text)
        return cls(
            sku=sku, customer_id=customer_id, author=author, rating=rating, title=title, text=text
        )

    @event("Written")
    def __init__(
        self, sku: str, customer_id: UUID, author: str, rating: int, title: str, text: str
    ) -> None:
        self.sku = sku
        self.customer_id = customer_id
        self.author = author
        self.rating = rating
        self.title = title
        self.text = text
        self.hidden = False
        self.hidden_reason = ""
        self.helpful: list[UUID] = []

    def edit(self, customer_id: UUID, rating: int, title: str, text: str) -> None:
        if customer_id != self.customer_id:
            raise NotFound("review not found", field="review_id")
        check_review(rating, title, text)
        if (rating, title, text) != (self.rating, self.title, self.text):
            # The previous rating and whether it counts travel with the event, so a read
            # model can move an average without reading its own rows.
            self._edited(
                sku=self.sku,
                rating=rating,
                title=title,
                text=text,
                previous_rating=self.rating,
                hidden=self.hidden,
            )

    @event("Edited")
    def _edited(
        self, sku: str, rating: int, title: str, text: str, previous_rating: int, hidden: bool
    ) -> None:
        self.rating = rating
        self.title = title
        self.text = text

    def hide(self, reason: str, by: str) -> None:
        if not reason.strip():
            raise InvalidValue("hiding a review needs a reason", field="reason")
        if self.hidden:
            raise Conflict("the review is hidden already", field="review_id")
        self._hidden(sku=self.sku, reason=reason, by=by, rating=self.rating)

    @event("Hidden")
    def _hidden(self, sku: str, reason: str, by: str, rating: int) -> None:
        self.hidden = True
        self.hidden_reason = reason

    def vote_helpful(self, voter: UUID) -> bool:
        """One vote per customer, not the author's own; False: voted before."""
        if voter == self.customer_id:
            raise InvalidValue("an author cannot vote for their own review", field="review_id")
        if voter in self.helpful:
            return False
        self._voted_helpful(sku=self.sku, voter=voter)
        return True

    @event("VotedHelpful")
    def _voted_helpful(self, sku: str, voter: UUID) -> None:
        self.helpful = [*self.helpful, voter]
