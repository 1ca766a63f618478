"""Reviews over HTTP: only a customer a product was delivered to may review it, once; an
edit replaces the review; staff hide one with a reason and it leaves the listing and the
card's average; helpful votes order the `helpful` listing, paged with a cursor."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Shop, assert_problem
from tests.api.test_lifecycle import wait_for_reaction
from tests.conftest import DEMO_PASSWORD
from tests.integration.readmodels import clean_rebuild, dump
from tillroll.bootstrap import Runtime


def customer(shop: Shop, name: str) -> str:
    """Register and log in another customer; their headers go under `name`."""
    body = {"email": f"{name}@example.com", "password": DEMO_PASSWORD, "name": name.title()}
    assert shop.client.post("/v1/auth/register", json=body).status_code == 201
    shop.headers[name] = shop.login("customer", f"{name}@example.com")
    return name


def delivered(shop: Shop, runtime: Runtime, sku: str, role: str = "customer") -> None:
    """An order of `sku` paid, shipped and delivered, and the delivery seen by the reaction
    that makes its customer a verified buyer."""
    order_id = shop.order([(sku, 1, 1000)], role=role).json()["order_id"]
    intent = shop.post(f"/v1/orders/{order_id}/payment", role).json()
    shop.client.post(f"/v1/dev/payments/{intent['payment_intent_id']}/succeed")
    assert shop.post(f"/v1/orders/{order_id}/ship", "staff", {}).status_code == 200
    done = shop.post(f"/v1/orders/{order_id}/deliver", "staff")
    assert done.status_code == 200, done.text
    wait_for_reaction(runtime, "received_products", int(done.headers["X-Log-Position"]))


def review(shop: Shop, sku: str, role: str, rating: int, title: str = "Nice") -> Any:
    body = {"rating": rating, "title": title, "text": f"{role} says {rating}"}
    return shop.post(f"/v1/products/{sku}/reviews", role, body)


def card(shop: Shop, sku: str, position: int) -> dict[str, Any]:
    return shop.get(f"/v1/products/{sku}", min_position=position).json()


def reviews(shop: Shop, sku: str, position: int, **params: Any) -> dict[str, Any]:
    response = shop.get(f"/v1/products/{sku}/reviews", min_position=position, **params)
    assert response.status_code == 200, response.text
    return response.json()


def test_only_a_customer_the_product_was_delivered_to_may_review_it(
    shop: Shop, runtime: Runtime
) -> None:
    shop.product("MUG", 1000, stock=5)
    assert_problem(review(shop, "MUG", "customer", 5), 422, "sku")  # never bought
    order_id = shop.order([("MUG", 1, 1000)]).json()["order_id"]
    intent = shop.post(f"/v1/orders/{order_id}/payment", "customer").json()
    shop.client.post(f"/v1/dev/payments/{intent['payment_intent_id']}/succeed")
    assert_problem(review(shop, "MUG", "customer", 5), 422, "sku")  # paid, not received
    assert_problem(review(shop, "MUG", "staff", 5), 403)

    delivered(shop, runtime, "MUG")

    assert review(shop, "MUG", "customer", 5).status_code == 201


def test_a_customer_reviews_a_product_once_and_an_edit_replaces_it(
    shop: Shop, runtime: Runtime
) -> None:
    shop.product("MUG", 1000, stock=5)
    delivered(shop, runtime, "MUG")
    assert review(shop, "MUG", "customer", 2, "Meh").status_code == 201
    assert_problem(review(shop, "MUG", "customer", 4, "Again"), 409, "sku")

    body = {"rating": 4, "title": "Grew on me", "text": "better after a week"}
    edited = shop.client.put(
        "/v1/products/MUG/reviews", json=body, headers=shop.headers["customer"]
    )
    assert edited.status_code == 200, edited.text

    position = int(edited.headers["X-Log-Position"])
    (only,) = reviews(shop, "MUG", position)["items"]
    assert (only["rating"], only["title"], only["text"]) == (4, "Grew on me", "better after a week")
    assert only["edited_at"] is not None
    assert card(shop, "MUG", position)["rating"] == {"average": 4.0, "count": 1}


def test_a_hidden_review_leaves_the_listing_and_the_average(shop: Shop, runtime: Runtime) -> None:
    shop.product("MUG", 1000, stock=5)
    customer(shop, "bob")
    delivered(shop, runtime, "MUG")
    delivered(shop, runtime, "MUG", role="bob")
    assert review(shop, "MUG", "customer", 5).status_code == 201
    rant = review(shop, "MUG", "bob", 1, "Rant")
    assert rant.status_code == 201
    assert card(shop, "MUG", int(rant.headers["X-Log-Position"]))["rating"] == {
        "average": 3.0,
        "count": 2,
    }

    hidden = shop.post(
        f"/v1/reviews/{rant.json()['review_id']}/hide", "staff", {"reason": "abusive language"}
    )
    assert hidden.status_code == 200, hidden.text

    position = int(hidden.headers["X-Log-Position"])
    assert card(shop, "MUG", position)["rating"] == {"average": 5.0, "count": 1}
    assert [r["title"] for r in reviews(shop, "MUG", position)["items"]] == ["Nice"]
    again = shop.post(f"/v1/reviews/{rant.json()['review_id']}/hide", "staff", {"reason": "x"})
    assert_problem(again, 409)


def test_helpful_votes_order_the_helpful_listing_page_by_page(shop: Shop, runtime: Runtime) -> None:
    shop.product("MUG", 1000, stock=5)
    customer(shop, "bob")
    delivered(shop, runtime, "MUG")
    delivered(shop, runtime, "MUG", role="bob")
    first = review(shop, "MUG", "customer", 4, "First").json()["review_id"]
    assert review(shop, "MUG", "bob", 3, "Second").status_code == 201
    vote = shop.post(f"/v1/reviews/{first}/helpful", "bob")
    assert vote.status_code == 200, vote.text
    assert_problem(shop.post(f"/v1/reviews/{first}/helpful", "customer"), 422)  # own review
    position = int(vote.headers["X-Log-Position"])

    newest = reviews(shop, "MUG", position, sort="newest")["items"]
    assert [r["title"] for r in newest] == ["Second", "First"]
    page = reviews(shop, "MUG", position, sort="helpful", limit=1)
    assert [(r["title"], r["helpful"]) for r in page["items"]] == [("First", 1)]
    rest = reviews(shop, "MUG", position, sort="helpful", limit=1, cursor=page["next_cursor"])
    assert [r["title"] for r in rest["items"]] == ["Second"] and rest["next_cursor"] is None
    assert_problem(shop.get("/v1/products/MUG/reviews", cursor="bm9wZQ"), 400)


def test_the_ratings_and_the_reviews_rebuilt_from_the_log_come_out_identical(
    shop: Shop, runtime: Runtime
) -> None:
    shop.product("MUG", 1000, stock=5)
    customer(shop, "bob")
    delivered(shop, runtime, "MUG")
    delivered(shop, runtime, "MUG", role="bob")
    mine = review(shop, "MUG", "customer", 5).json()["review_id"]
    rant = review(shop, "MUG", "bob", 1, "Rant").json()["review_id"]
    body = {"rating": 3, "title": "Fine", "text": ""}
    shop.client.put("/v1/products/MUG/reviews", json=body, headers=shop.headers["customer"])
    shop.post(f"/v1/reviews/{mine}/helpful", "bob")
    last = shop.post(f"/v1/reviews/{rant}/hide", "staff", {"reason": "abuse"})
    position = int(last.headers["X-Log-Position"])
    assert card(shop, "MUG", position)["rating"] == {"average": 3.0, "count": 1}
    reviews(shop, "MUG", position)  # both read models have reached the last event

    live, clean = dump(runtime), clean_rebuild(runtime.settings)

    assert live["product_reviews"] == clean["product_reviews"]
    # The card's rating fields (a zero `reserved` counter may exist on one side only: a
    # batch that nets a counter to zero skips it, one event at a time leaves a 0).
    rating = [(k, v) for k, v in live["product_cards"]["MUG"] if k.startswith(b"rating_")]
    assert rating == [(k, v) for k, v in clean["product_cards"]["MUG"] if k.startswith(b"rating_")]
    assert rating == [(b"rating_count", b"1"), (b"rating_sum", b"3")]
