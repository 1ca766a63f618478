"""CategoryTree: the shop's categories as one tree, in one aggregate.

One aggregate for the whole tree, not one per category: "a move never creates a cycle" is
a rule about the whole tree, and only an aggregate can hold it. Two staff members moving
A under B and B under A at the same time each pass the check against the tree they
loaded; with one aggregate the second save fails on the version check, is retried against
the new tree, and is refused. One aggregate per category could not see that conflict.
A shop has hundreds of categories, not millions, so one stream stays small."""

from __future__ import annotations

import re
from typing import Annotated
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.errors import AlreadyExists, Conflict, InvalidValue, NotFound

# `(?!\n)`: Python's `$` also matches before a final newline.
SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$(?!\n)"
_SLUG = re.compile(SLUG_PATTERN)
MAX_SLUG = 64
MAX_DEPTH = 10
MAX_CATEGORIES = 5000
ROOT = ""
"""The parent of a top-level category."""

Slug = Annotated[
    str,
    msgspec.Meta(
        pattern=SLUG_PATTERN,
        max_length=MAX_SLUG,
        description="lower-case words joined by '-'",
        examples=["kitchen"],
    ),
]
CategoryName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["Kitchen"])]


class CategoryCycle(Conflict):
    title = "Category cycle"


def check_slug(slug: str, field: str = "slug") -> str:
    if not isinstance(slug, str) or len(slug) > MAX_SLUG or not _SLUG.match(slug):
        raise InvalidValue("a slug is lower-case words of a-z 0-9 joined by '-'", field=field)
    return slug


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise InvalidValue("name must be 1-100 characters", field="name")
    return name


class CategoryTree(Aggregate):
    """Every category with its name and parent (ROOT for top-level ones)."""

    @staticmethod
    def create_id() -> UUID:
        return uuid5(NAMESPACE_URL, "/tillroll/category-tree")

    @event("Started")
    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.parents: dict[str, str] = {}

    # Reading the tree

    def __contains__(self, slug: object) -> bool:
        return slug in self.names

    def path(self, slug: str) -> list[str]:
        """The slugs from the top of the tree down to `slug` (empty if it is not in the tree)."""
        path: list[str] = []
        while slug in self.parents and len(path) <= len(self.parents):
            path.append(slug)
            slug = self.parents[slug]
        return path[::-1]

    def subtree(self, slug: str) -> set[str]:
        """`slug` and every category below it."""
        children: dict[str, list[str]] = {}
        for child, parent in self.parents.items():
            children.setdefault(parent, []).append(child)
        found, todo = set(), [slug]
        while todo:
            current = todo.pop()
            if current not in found:
                found.add(current)
                todo.extend(children.get(current, []))
        return found

    def _height(self, slug: str) -> int:
        """Levels in the subtree under `slug`, itself included."""
        return max(len(self.path(s)) for s in self.subtree(slug)) - len(self.path(slug)) + 1

    def _check_parent(self, parent: str) -> None:
        if parent != ROOT and parent not in self.names:
            raise NotFound(f"category {parent!r} does not exist", field="parent")

    # Changing the tree: check first, then record

    def add(self, slug: str, name: str, parent: str = ROOT) -> None:
        check_slug(slug)
        _check_name(name)
        if parent != ROOT:
            check_slug(parent, "parent")
        if slug in self.names:
            raise AlreadyExists(f"category {slug!r} already exists", field="slug")
        self._check_parent(parent)
        if len(self.names) >= MAX_CATEGORIES:
            raise InvalidValue(f"a shop has at most {MAX_CATEGORIES} categories", field="slug")
        if len(self.path(parent)) + 1 > MAX_DEPTH:
            raise InvalidValue(f"the tree is at most {MAX_DEPTH} levels deep", field="parent")
        self._added(slug=slug, name=name, parent=parent)

    @event("CategoryAdded")
    def _added(self, slug: str, name: str, parent: str) -> None:
        self.names = {**self.names, slug: name}
        self.parents = {**self.parents, slug: parent}

    def rename(self, slug: str, name: str) -> None:
        self._existing(slug)
        _check_name(name)
        if self.names[slug] != name:
            self._renamed(slug=slug, name=name)

    @event("CategoryRenamed")
    def _renamed(self, slug: str, name: str) -> None:
        self.names = {**self.names, slug: name}

    def move(self, slug: str, parent: str) -> None:
        """Put `slug` (and everything under it) under `parent`; never into its own subtree."""
        self._existing(slug)
        if parent != ROOT:
            check_slug(parent, "parent")
        self._check_parent(parent)
        if parent in self.subtree(slug):
            raise CategoryCycle(
                f"cannot move {slug!r} under {parent!r}: {parent!r} is inside {slug!r}",
                field="parent",
            )
        if self.parents[slug] == parent:
            return
        if len(self.path(parent)) + self._height(slug) > MAX_DEPTH:
            raise InvalidValue(f"the tree is at most {MAX_DEPTH} levels deep", field="parent")
        self._moved(slug=slug, parent=parent, previous=self.parents[slug])

    @event("CategoryMoved")
    def _moved(self, slug: str, parent: str, previous: str) -> None:
        self.parents = {**self.parents, slug: parent}

    def _existing(self, slug: str) -> None:
        check_slug(slug)
        if slug not in self.names:
            raise NotFound(f"category {slug!r} does not exist", field="slug")
