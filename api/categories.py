"""Category routes: the tree (anyone), create, rename and move categories (staff)."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from tillroll.aggregates.catalog.category import SLUG_PATTERN
from tillroll.api.auth import STAFF, roles
from tillroll.api.requests import MinPosition, command_response, read_response, run_command
from tillroll.commands.categories import (
    CategoryChanged,
    CategoryUpdate,
    ChangeCategory,
    CreateCategory,
)
from tillroll.commands.ports import EventStorePort
from tillroll.queries.categories import CategoryTreeView, category_tree
from tillroll.queries.read_side import ReadSide

SlugPath = Annotated[
    str,
    PathParameter(pattern=SLUG_PATTERN, max_length=64, description="lower-case words joined by -"),
]


class CategoriesController(Controller):
    path = "/v1/categories"
    tags = ["catalog"]

    @get("/", opt={"public": True}, sync_to_thread=True)
    def tree(
        self, read: NamedDependency[ReadSide], min_position: MinPosition = None
    ) -> Response[CategoryTreeView]:
        """The category tree: top-level categories with their children, recursively."""
        position = read.wait_for("product_search", min_position)
        return read_response(category_tree(read), position)

    @post("/", guards=[roles(STAFF)], sync_to_thread=True)
    def create(
        self,
        data: JSONBody[CreateCategory],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CategoryChanged]:
        """Add a category (staff), at the top or under `parent`."""
        return command_response(run_command(request, store, data), 201)

    @patch("/{slug:str}", guards=[roles(STAFF)], sync_to_thread=True)
    def change(
        self,
        slug: SlugPath,
        data: JSONBody[CategoryUpdate],
        store: NamedDependency[EventStorePort],
        request: Request,
    ) -> Response[CategoryChanged]:
        """Rename a category and/or move it under another parent ("" for the top) (staff);
        a move into its own subtree is a 409."""
        command = ChangeCategory(slug=slug, name=data.name, parent=data.parent)
        return command_response(run_command(request, store, command))
