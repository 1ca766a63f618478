"""Reactions as data: which events a reaction follows and what it issues for them."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, Order, OrderLine
from tillroll.commands.notifications import SendOrderConfirmation
from tillroll.commands.reactions import REACTIONS, ActiveReaction, Enqueue
from tillroll.commands.reactions.order_confirmation import REACTION as ORDER_CONFIRMATION


class RecordingJobs:
    """The JobQueue port, kept in memory: refuses a job id it has seen, like rq's unique."""

    def __init__(self) -> None:
        self.jobs: dict[str, msgspec.Struct] = {}

    def enqueue(self, command: msgspec.Struct, *, job_id: str, queue: str = "default") -> bool:
        if job_id in self.jobs:
            return False
        self.jobs[job_id] = command
        return True


def _placed_order() -> Order:
    address = Address("Ada", "1 Main St", "Berlin", "10115", "DE")
    return Order.place(uuid.uuid4(), [OrderLine("MUG", 1, Money(1299, "EUR"))], address)


def _events(order: Order) -> list[Any]:
    return list(order.collect_events())


def test_reaction_names_are_unique_and_follow_something() -> None:
    names = [reaction.name for reaction in REACTIONS]
    assert len(names) == len(set(names))
    assert all(reaction.follows and reaction.topics() for reaction in REACTIONS)


def test_a_placed_order_enqueues_one_confirmation_under_an_id_derived_from_the_order() -> None:
    order = _placed_order()
    (placed,) = _events(order)
    assert ORDER_CONFIRMATION.issue(placed) == [
        Enqueue(SendOrderConfirmation(order.id), job_id=f"order-confirmation-{order.id}")
    ]


def test_an_event_delivered_twice_enqueues_one_job() -> None:
    jobs = RecordingJobs()
    reaction = ActiveReaction(ORDER_CONFIRMATION, jobs, store=None)  # type: ignore[arg-type]
    orders = [_placed_order() for _ in range(3)]
    events = [(i + 1, _events(order)[0]) for i, order in enumerate(orders)]
    reaction.react(events)
    reaction.react(events[1:])  # a crash before the position was recorded re-delivers these
    assert sorted(jobs.jobs) == sorted(f"order-confirmation-{order.id}" for order in orders)


def test_events_a_reaction_does_not_follow_issue_nothing() -> None:
    jobs = RecordingJobs()
    order = _placed_order()
    order.collect_events()
    order.cancel("changed mind", by="customer")
    reaction = ActiveReaction(ORDER_CONFIRMATION, jobs, store=None)  # type: ignore[arg-type]
    reaction.react([(2, event) for event in order.collect_events()])
    assert jobs.jobs == {}
