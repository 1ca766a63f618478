"""The category tree: rules of the CategoryTree aggregate, a hypothesis state machine (no
cycles, every product reachable from every ancestor of its category after any sequence of
moves), and concurrent moves that would form a cycle together (run on the in-memory store)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from tillroll.aggregates.catalog.category import (
    MAX_DEPTH,
    ROOT,
    CategoryCycle,
    CategoryTree,
)
from tillroll.aggregates.errors import AlreadyExists, ConcurrencyConflict, InvalidValue, NotFound
from tillroll.commands.bus import dispatch
from tillroll.commands.categories import ChangeCategory, CreateCategory
from tillroll.commands.context import CommandContext, Principal
from tillroll.infra.memory import MemoryEventStore

STAFF = Principal(subject="staff-1", role="staff")


def tree_of(*edges: tuple[str, str]) -> CategoryTree:
    tree = CategoryTree()
    for slug, parent in edges:
        tree.add(slug, slug.title(), parent)
    return tree


def test_a_category_is_added_under_an_existing_parent_and_has_a_path() -> None:
    tree = tree_of(("home", ROOT), ("kitchen", "home"), ("mugs", "kitchen"))
    assert tree.path("mugs") == ["home", "kitchen", "mugs"]
    assert tree.subtree("home") == {"home", "kitchen", "mugs"}


@pytest.mark.parametrize(
    ("slug", "parent", "error", "field"),
    [
        ("home", ROOT, AlreadyExists, "slug"),
        ("toys", "nope", NotFound, "parent"),
        ("Bad Slug", ROOT, InvalidValue, "slug"),
        ("toys-", ROOT, InvalidValue, "slug"),
        ("toys\n", ROOT, InvalidValue, "slug"),
    ],
)
def test_adding_a_bad_category_names_the_field(
    slug: str, parent: str, error: type[Exception], field: str
) -> None:
    tree = tree_of(("home", ROOT))
    with pytest.raises(error) as raised:
        tree.add(slug, "Name", parent)
    assert raised.value.field == field  # type: ignore[attr-defined]


@pytest.mark.parametrize("parent", ["home", "kitchen", "mugs"])
def test_a_category_never_moves_into_its_own_subtree(parent: str) -> None:
    tree = tree_of(("home", ROOT), ("kitchen", "home"), ("mugs", "kitchen"))
    with pytest.raises(CategoryCycle) as raised:
        tree.move("home", parent)
    assert raised.value.field == "parent"
    assert tree.parents["home"] == ROOT and not tree.collect_events()[4:]


def test_a_move_carries_the_subtree_along() -> None:
    tree = tree_of(("home", ROOT), ("kitchen", "home"), ("mugs", "kitchen"), ("gifts", ROOT))
    tree.move("kitchen", "gifts")
    assert tree.path("mugs") == ["gifts", "kitchen", "mugs"]
    assert tree.subtree("home") == {"home"}


def test_a_move_that_would_make_the_tree_too_deep_is_refused() -> None:
    chain = [(f"c{i}", f"c{i - 1}" if i else ROOT) for i in range(MAX_DEPTH)]
    tree = tree_of(*chain, ("side", ROOT), ("leaf", "side"))
    with pytest.raises(InvalidValue):
        tree.move("side", f"c{MAX_DEPTH - 2}")  # side + leaf would be levels 10 and 11


def test_renaming_keeps_the_place_in_the_tree() -> None:
    tree = tree_of(("home", ROOT), ("kitchen", "home"))
    tree.rename("kitchen", "Kitchen & dining")
    assert tree.names["kitchen"] == "Kitchen & dining" and tree.path("kitchen")[0] == "home"


def test_two_concurrent_moves_that_together_form_a_cycle_cannot_both_succeed() -> None:
    store = MemoryEventStore()
    ctx = CommandContext(store, principal=STAFF)
    for slug in ("a", "b"):
        dispatch(CreateCategory(slug=slug, name=slug.upper()), ctx)
    # Both staff members load the same tree; each move alone is legal.
    first, second = store.get(CategoryTree.create_id()), store.get(CategoryTree.create_id())
    first.move("a", "b")
    second.move("b", "a")
    store.save(first, meta={})
    with pytest.raises(ConcurrencyConflict):
        store.save(second, meta={})
    # The bus retries the loser against the new tree, which refuses it.
    with pytest.raises(CategoryCycle):
        dispatch(ChangeCategory(slug="b", parent="a"), ctx)
    tree = store.get(CategoryTree.create_id())
    assert tree.path("a") == ["b", "a"] and tree.parents["b"] == ROOT


SLUGS = [f"c{i}" for i in range(8)]
SKUS = [f"P{i}" for i in range(6)]


class CategoryTreeMachine(RuleBasedStateMachine):
    """The aggregate against a plain model: a dict of parents, a dict of product categories."""

    def __init__(self) -> None:
        super().__init__()
        self.tree = CategoryTree()
        self.log: list[Any] = list(self.tree.collect_events())
        self.parents: dict[str, str] = {}
        self.products: dict[str, str] = {}

    def _model_inside(self, slug: str, candidate: str) -> bool:
        """Is `candidate` slug itself or below it, by walking up from candidate."""
        seen = 0
        while candidate != ROOT and seen <= len(self.parents):
            if candidate == slug:
                return True
            candidate = self.parents[candidate]
            seen += 1
        return False

    @rule(slug=st.sampled_from(SLUGS), parent=st.sampled_from([ROOT, *SLUGS]))
    def add(self, slug: str, parent: str) -> None:
        try:
            self.tree.add(slug, slug.upper(), parent)
        except AlreadyExists:
            assert slug in self.parents
        except NotFound:
            assert parent not in self.parents
        else:
            assert slug not in self.parents and (parent == ROOT or parent in self.parents)
            self.parents[slug] = parent
        self.log += self.tree.collect_events()

    @rule(slug=st.sampled_from(SLUGS), parent=st.sampled_from([ROOT, *SLUGS]))
    def move(self, slug: str, parent: str) -> None:
        try:
            self.tree.move(slug, parent)
        except CategoryCycle:
            assert self._model_inside(slug, parent)
        except NotFound:
            assert slug not in self.parents or parent not in self.parents
        else:
            assert slug in self.parents and not self._model_inside(slug, parent)
            self.parents[slug] = parent
        self.log += self.tree.collect_events()

    @rule(slug=st.sampled_from(SLUGS), name=st.text(min_size=1, max_size=20))
    def rename(self, slug: str, name: str) -> None:
        try:
            self.tree.rename(slug, name)
        except NotFound:
            assert slug not in self.parents
        except InvalidValue:
            assert not name.strip()
        self.log += self.tree.collect_events()

    @rule(sku=st.sampled_from(SKUS), slug=st.sampled_from(SLUGS))
    def file_product(self, sku: str, slug: str) -> None:
        if slug in self.parents:
            self.products[sku] = slug

    @invariant()
    def no_cycles(self) -> None:
        for slug in self.tree.parents:
            path = self.tree.path(slug)
            assert path[-1] == slug and len(path) == len(set(path)) <= MAX_DEPTH
            assert self.tree.parents[path[0]] == ROOT

    @invariant()
    def every_product_is_reachable_from_every_ancestor(self) -> None:
        for slug in self.products.values():
            for ancestor in self.tree.path(slug):
                assert slug in self.tree.subtree(ancestor)

    @invariant()
    def the_tree_is_the_model_and_replays_from_its_events(self) -> None:
        assert self.tree.parents == self.parents
        replayed = None
        for event in self.log:
            replayed = event.mutate(replayed)
        assert replayed is not None and replayed.parents == self.tree.parents
        assert replayed.names == self.tree.names


CategoryTreeMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCategoryTreeStateful = CategoryTreeMachine.TestCase
