"""Category routes: the tree for anyone, changes for staff, bad input named, cycles 409;
the card's breadcrumb and the search's category filter follow the tree."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Shop, assert_problem


def patch(shop: Shop, path: str, role: str | None, body: Any) -> Any:
    headers = shop.headers[role] if role else {}
    return shop.client.patch(path, json=body, headers=headers)


def category(shop: Shop, slug: str, parent: str | None = None, name: str | None = None) -> int:
    body = {"slug": slug, "name": name or slug.title(), "parent": parent}
    response = shop.post("/v1/categories", "staff", body)
    assert response.status_code == 201, response.text
    return response.json()["position"]


def test_staff_build_a_tree_that_anyone_can_read(shop: Shop) -> None:
    category(shop, "home")
    category(shop, "kitchen", "home")
    position = category(shop, "mugs", "kitchen")
    response = shop.get("/v1/categories", min_position=position)
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "slug": "home",
                "name": "Home",
                "children": [
                    {
                        "slug": "kitchen",
                        "name": "Kitchen",
                        "children": [{"slug": "mugs", "name": "Mugs", "children": []}],
                    }
                ],
            }
        ]
    }


def test_a_created_category_answers_with_its_path_and_position(shop: Shop) -> None:
    category(shop, "home")
    response = shop.post(
        "/v1/categories", "staff", {"slug": "lamps", "name": "L", "parent": "home"}
    )
    body = response.json()
    assert response.status_code == 201 and body["path"] == ["home", "lamps"]
    assert body["parent"] == "home" and body["position"] > 0


@pytest.mark.parametrize(
    ("role", "status"), [(None, 401), ("customer", 403), ("auditor", 403), ("ops", 403)]
)
def test_only_staff_change_the_tree(shop: Shop, role: str | None, status: int) -> None:
    category(shop, "home")
    body = {"slug": "toys", "name": "Toys"}
    headers = shop.headers[role] if role else {}
    assert_problem(shop.client.post("/v1/categories", json=body, headers=headers), status)
    assert_problem(patch(shop, "/v1/categories/home", role, {"name": "X"}), status)


def test_a_rename_and_a_move_in_one_patch(shop: Shop) -> None:
    category(shop, "home")
    category(shop, "garden")
    category(shop, "lamps", "home")
    response = patch(shop, "/v1/categories/lamps", "staff", {"name": "Lights", "parent": "garden"})
    assert response.status_code == 200, response.text
    assert response.json()["path"] == ["garden", "lamps"]
    response = patch(shop, "/v1/categories/lamps", "staff", {"parent": ""})
    assert response.json()["path"] == ["lamps"] and response.json()["parent"] is None
    tree = shop.get("/v1/categories", min_position=response.json()["position"]).json()
    assert {node["slug"]: node["name"] for node in tree["items"]}["lamps"] == "Lights"


def test_moving_a_category_into_its_own_subtree_is_409_naming_parent(shop: Shop) -> None:
    category(shop, "home")
    category(shop, "kitchen", "home")
    assert_problem(
        patch(shop, "/v1/categories/home", "staff", {"parent": "kitchen"}), 409, "parent"
    )
    assert_problem(patch(shop, "/v1/categories/home", "staff", {"parent": "home"}), 409, "parent")


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"slug": "Bad Slug", "name": "X"}, 400, "slug"),
        ({"slug": "ok\n", "name": "X"}, 400, "slug"),
        ({"slug": "ok", "name": ""}, 400, "name"),
        ({"slug": "ok", "name": 7}, 400, "name"),
        ({"slug": "ok"}, 400, "name"),
        ({"slug": "ok", "name": "X", "parent": "NOPE!"}, 400, "parent"),
        ({"slug": "ok", "name": "X", "parent": "nope"}, 404, "parent"),
        ({"slug": "home", "name": "Again"}, 409, "slug"),
    ],
)
def test_bad_category_input_is_a_problem_naming_the_field(
    shop: Shop, body: dict, status: int, field: str
) -> None:
    category(shop, "home")
    assert_problem(shop.post("/v1/categories", "staff", body), status, field)


def test_changing_an_unknown_category_is_404(shop: Shop) -> None:
    assert_problem(patch(shop, "/v1/categories/nope", "staff", {"name": "X"}), 404, "slug")


def test_a_card_shows_its_breadcrumb_and_follows_moves(shop: Shop) -> None:
    category(shop, "home")
    category(shop, "kitchen", "home")
    category(shop, "garden")
    position = shop.product("MUG", 900, category="kitchen")
    card = shop.get("/v1/products/MUG", min_position=position).json()
    assert card["breadcrumb"] == [
        {"slug": "home", "name": "Home"},
        {"slug": "kitchen", "name": "Kitchen"},
    ]
    position = patch(shop, "/v1/categories/kitchen", "staff", {"parent": "garden"}).json()[
        "position"
    ]
    card = shop.get("/v1/products/MUG", min_position=position).json()
    assert [crumb["slug"] for crumb in card["breadcrumb"]] == ["garden", "kitchen"]


def test_a_product_outside_the_tree_still_shows_and_filters_by_its_own_category(
    shop: Shop,
) -> None:
    category(shop, "home")
    position = shop.product("OLD", 500, category="bric-a-brac")
    card = shop.get("/v1/products/OLD", min_position=position).json()
    assert card["category"] == "bric-a-brac" and card["breadcrumb"] == []
    found = shop.get("/v1/products", category="bric-a-brac", min_position=position).json()
    assert [item["sku"] for item in found["items"]] == ["OLD"]


def test_search_by_a_category_includes_its_sub_categories_with_facets(shop: Shop) -> None:
    category(shop, "home")
    category(shop, "kitchen", "home")
    shop.product("MUG", 900, category="kitchen", tags=["gift"])
    shop.product("LAMP", 3000, category="home")
    position = shop.product("HOSE", 1500, category="garden")
    body = shop.get("/v1/products", category="home", min_position=position).json()
    assert sorted(item["sku"] for item in body["items"]) == ["LAMP", "MUG"]
    assert body["facets"]["category"] == {"home": 1, "kitchen": 1}
    assert body["facets"]["tag"] == {"gift": 1}
    assert body["facets"]["price_band"] == {"0-999": 1, "2500-4999": 1}
