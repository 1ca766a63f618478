"""Category commands: add a category to the tree, rename it, move it under another parent.

Every command loads the one CategoryTree aggregate; two concurrent moves that would form a
cycle together cannot both be saved (the version check fails the second, the bus retries
it against the new tree, and the tree refuses it)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from tillroll.aggregates.catalog.category import ROOT, CategoryName, CategoryTree, Slug
from tillroll.aggregates.errors import NotFound
from tillroll.commands.context import CommandContext

# A parent is a slug, or "" (or null when creating) for the top of the tree.
ParentSlug = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^([a-z0-9]+(?:-[a-z0-9]+)*)?$(?!\n)",
        max_length=64,
        description="a category's slug; empty for the top of the tree",
    ),
]


class CreateCategory(msgspec.Struct, frozen=True):
    """Also the body of POST /v1/categories."""

    slug: Slug
    name: CategoryName
    parent: ParentSlug | None = None


class CategoryUpdate(msgspec.Struct, frozen=True):
    """The body of PATCH /v1/categories/{slug}: a new name, a new parent ("" for the top), or
    both; what is left out stays."""

    name: CategoryName | None = None
    parent: ParentSlug | None = None


class ChangeCategory(msgspec.Struct, frozen=True):
    slug: Slug
    name: CategoryName | None = None
    parent: ParentSlug | None = None


class CategoryChanged(msgspec.Struct):
    slug: str
    name: str
    parent: str | None
    path: list[str]
    version: int
    position: int = 0


def _result(tree: CategoryTree, slug: str) -> CategoryChanged:
    parent = tree.parents[slug]
    return CategoryChanged(
        slug=slug,
        name=tree.names[slug],
        parent=parent or None,
        path=tree.path(slug),
        version=tree.version,
    )


def load_tree(ctx: CommandContext) -> CategoryTree:
    """The shop's tree; a new, empty one before the first category is added."""
    try:
        return ctx.load(CategoryTree.create_id())
    except NotFound:
        return CategoryTree()


def create_category(cmd: CreateCategory, ctx: CommandContext) -> CategoryChanged:
    tree = load_tree(ctx)
    tree.add(cmd.slug, cmd.name, cmd.parent or ROOT)
    return ctx.save(_result(tree, cmd.slug), tree)


def change_category(cmd: ChangeCategory, ctx: CommandContext) -> CategoryChanged:
    tree = load_tree(ctx)
    if cmd.slug not in tree:
        raise NotFound(f"category {cmd.slug!r} does not exist", field="slug")
    if cmd.name is not None:
        tree.rename(cmd.slug, cmd.name)
    if cmd.parent is not None:
        tree.move(cmd.slug, cmd.parent)
    return ctx.save(_result(tree, cmd.slug), tree)
