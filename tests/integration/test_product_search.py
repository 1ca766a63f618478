"""Search a shop can live with, on real PostgreSQL: ranking, stemming, prefix matching,
categories with their sub-categories, archived products hidden, facet counts that equal the
counts of the whole result set, and keyset pages that stay stable while products change."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from tillroll.aggregates.money import Money
from tillroll.commands.bus import dispatch
from tillroll.commands.catalog import (
    ArchiveProduct,
    ChangePrice,
    ChangeProductDetails,
    CreateProduct,
)
from tillroll.commands.categories import ChangeCategory, CreateCategory
from tillroll.commands.context import CommandContext
from tillroll.projections.engine.verify import verify
from tillroll.queries import product_search as search
from tillroll.queries.categories import category_tree
from tillroll.queries.read_side import BadCursor, ReadSide

from tillroll.bootstrap import Runtime


class Catalog:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.ctx = CommandContext(runtime.store)
        self.read: ReadSide = runtime.read_side()

    def product(self, sku: str, name: str, cents: int = 1000, **extra: Any) -> None:
        dispatch(CreateProduct(sku=sku, name=name, price=Money(cents, "EUR"), **extra), self.ctx)

    def run(self, command: Any) -> Any:
        return dispatch(command, self.ctx)

    def find(self, **filters: Any) -> search.SearchPage:
        self.runtime.runner.catch_up()
        return search.search_products(self.read, search.ProductFilter(**filters))

    def skus(self, **filters: Any) -> list[str]:
        return [item.sku for item in self.find(limit=100, **filters).items]

    def walk(self, between_pages: Any = None, **filters: Any) -> list[str]:
        seen, cursor = [], None
        for _ in range(200):
            page = self.find(cursor=cursor, **filters)
            seen += [item.sku for item in page.items]
            cursor = page.next_cursor
            if cursor is None:
                return seen
            if between_pages is not None:
                between_pages()
        raise AssertionError("the pages never ended")


@pytest.fixture
def catalog(runtime: Runtime) -> Iterator[Catalog]:
    yield Catalog(runtime)


def test_a_match_in_the_name_ranks_above_one_in_the_description(catalog: Catalog) -> None:
    catalog.product("NOTE", "Notebook", description="a steel bottle sticker inside")
    catalog.product("BOTTLE", "Steel bottle", description="keeps water cold")
    catalog.product("CUP", "Cup", description="ceramic")
    assert catalog.skus(q="steel bottle") == ["BOTTLE", "NOTE"]


def test_words_are_stemmed_so_plurals_and_tenses_match(catalog: Catalog) -> None:
    catalog.product("MUG", "Classic mug")
    catalog.product("SHOE", "Trail shoe", description="for running on rocky paths")
    assert catalog.skus(q="mugs") == ["MUG"]
    assert catalog.skus(q="runs") == ["SHOE"]


def test_the_last_word_matches_as_a_prefix_for_type_ahead(catalog: Catalog) -> None:
    catalog.product("BOTTLE", "Steel water bottle")
    catalog.product("BOLT", "Bolt")
    assert catalog.skus(q="bot") == ["BOTTLE"]
    assert sorted(catalog.skus(q="bo")) == ["BOLT", "BOTTLE"]
    assert catalog.skus(q="steel bot") == ["BOTTLE"]


@pytest.mark.parametrize("q", ["mug & | ! ( ) :* '", "\\", "'; DROP TABLE x; --", "!!!", "的"])
def test_query_syntax_in_user_input_is_never_parsed(catalog: Catalog, q: str) -> None:
    catalog.product("MUG", "Mug")
    catalog.find(q=q)  # no error, whatever it finds


def test_tags_and_attributes_are_searchable(catalog: Catalog) -> None:
    catalog.product("TEE", "T-shirt", tags=["cotton"], attributes={"colour": "crimson"})
    catalog.product("MUG", "Mug")
    assert catalog.skus(q="cotton") == ["TEE"]
    assert catalog.skus(q="crimson") == ["TEE"]
    catalog.run(ChangeProductDetails("TEE", attributes={"colour": "navy"}))
    assert catalog.skus(q="crimson") == [] and catalog.skus(q="navy") == ["TEE"]


def _tree(catalog: Catalog) -> None:
    for slug, parent in [
        ("home", None),
        ("kitchen", "home"),
        ("mugs", "kitchen"),
        ("garden", None),
    ]:
        catalog.run(CreateCategory(slug=slug, name=slug.title(), parent=parent))
    catalog.product("MUG", "Mug", category="mugs")
    catalog.product("PAN", "Pan", category="kitchen")
    catalog.product("LAMP", "Lamp", category="home")
    catalog.product("HOSE", "Hose", category="garden")
    catalog.product("OLD", "Old thing", category="misc stuff")  # free text, not in the tree


def test_a_category_filter_includes_every_sub_category(catalog: Catalog) -> None:
    _tree(catalog)
    assert sorted(catalog.skus(category="home")) == ["LAMP", "MUG", "PAN"]
    assert sorted(catalog.skus(category="kitchen")) == ["MUG", "PAN"]
    assert catalog.skus(category="misc stuff") == ["OLD"]
    assert catalog.skus(category="nowhere") == []


def test_after_a_move_products_are_found_under_their_new_ancestors(catalog: Catalog) -> None:
    _tree(catalog)
    catalog.run(ChangeCategory(slug="kitchen", parent="garden"))
    assert sorted(catalog.skus(category="garden")) == ["HOSE", "MUG", "PAN"]
    assert catalog.skus(category="home") == ["LAMP"]
    tree = category_tree(catalog.read)
    garden = next(node for node in tree.items if node.slug == "garden")
    assert [child.slug for child in garden.children] == ["kitchen"]
    assert garden.children[0].children[0].slug == "mugs"


def test_archived_products_are_hidden_from_search(catalog: Catalog) -> None:
    catalog.product("MUG", "Mug", tags=["gift"])
    catalog.product("CUP", "Cup", tags=["gift"])
    catalog.run(ArchiveProduct("MUG"))
    assert catalog.skus(q="mug") == [] and catalog.skus(tag="gift") == ["CUP"]
    assert catalog.find().facets.tag == {"gift": 1}  # type: ignore[union-attr]


def _random_catalog(catalog: Catalog, count: int = 45, seed: int = 3) -> None:
    rng = random.Random(seed)
    for i in range(count):
        catalog.product(
            f"P{i:02d}",
            f"{rng.choice(['red', 'blue', 'green'])} {rng.choice(['mug', 'cup', 'bowl'])} {i}",
            cents=rng.choice([500, 999, 1000, 2499, 2500, 7000, 12000, 40000]),
            category=rng.choice(["kitchen", "garden", "toys"]),
            tags=rng.sample(["gift", "sale", "new", "eco"], rng.randint(0, 3)),
            attributes={"size": rng.choice(["S", "M", "L"])} if rng.random() < 0.7 else {},
        )


def _counts(catalog: Catalog, **filters: Any) -> dict[str, Any]:
    """Facet counts computed from every product of the result set, page by page."""
    rows = []
    for sku in catalog.walk(limit=7, **filters):
        rows.append(next(i for i in catalog.find(limit=100, **filters).items if i.sku == sku))
    attribute: dict[str, Counter[str]] = {}
    for row in rows:
        for name, value in row.attributes.items():
            attribute.setdefault(name, Counter())[value] += 1
    return {
        "category": dict(Counter(row.category for row in rows)),
        "tag": dict(Counter(tag for row in rows for tag in row.tags)),
        "attribute": {name: dict(values) for name, values in attribute.items()},
        "price_band": dict(Counter(search.band_label(row.price.amount) for row in rows)),
    }


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"q": "mug"},
        {"q": "red cu"},
        {"tag": "gift"},
        {"category": "kitchen", "min_price": 1000},
        {"attributes": (("size", "M"),), "max_price": 7000},
        {"q": "blue", "sort": "price"},
    ],
)
def test_facets_count_exactly_the_products_the_search_finds(
    catalog: Catalog, filters: dict[str, Any]
) -> None:
    _random_catalog(catalog)
    facets = catalog.find(limit=5, **filters).facets
    assert facets is not None
    expected = _counts(catalog, **filters)
    assert {
        "category": facets.category,
        "tag": facets.tag,
        "attribute": facets.attribute,
        "price_band": facets.price_band,
    } == expected
    assert sum(facets.category.values()) == len(catalog.walk(limit=7, **filters)) > 0


@pytest.mark.parametrize("sort", ["sku", "price", "-price", "name", "newest", "relevance"])
def test_pages_stay_stable_while_products_are_added_and_repriced(
    catalog: Catalog, sort: str
) -> None:
    _random_catalog(catalog, count=30)
    filters: dict[str, Any] = {
        "sort": sort,
        "limit": 4,
        "q": "mug" if sort == "relevance" else None,
    }
    before = set(catalog.skus(q=filters["q"]))
    added = iter(range(1000))
    repriced: set[str] = set()

    def meanwhile() -> None:
        # New products that sort before and after the page just read, and a price change.
        for name, cents in [("aaa mug new", 1), ("zzz mug new", 10**9)]:
            n = next(added)
            catalog.product(f"NEW{n:03d}", f"{name} {n}", cents=cents)
        sku = f"P{next(added) % 30:02d}"
        catalog.run(ChangePrice(sku, Money(777, "EUR")))
        repriced.add(sku)

    seen = catalog.walk(between_pages=meanwhile, **filters)
    # A product whose sort key changed between pages may show again at its new place (or
    # not, if it moved behind the cursor); every other product that existed before the
    # walk is shown exactly once, however many were added around it.
    moved = repriced if sort in {"price", "-price"} else set()
    steady = [sku for sku in seen if sku not in moved]
    assert len(steady) == len(set(steady)), "a product was shown twice"
    assert before - moved <= set(seen)
    assert len(catalog.skus(q=filters["q"])) > len(before)  # the inserts did happen


def test_a_forged_or_foreign_cursor_is_refused(catalog: Catalog) -> None:
    _random_catalog(catalog, count=10)
    cursor = catalog.find(limit=2, sort="price").next_cursor
    assert cursor is not None
    catalog.find(limit=2, sort="price", cursor=cursor)  # the real one works
    forged = [
        "garbage",
        cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB"),
        search.encode_cursor(["x", "P01", "0" * 16]),
        search.encode_cursor([1, 2]),
    ]
    for bad in forged:
        with pytest.raises(BadCursor):
            catalog.find(limit=2, sort="price", cursor=bad)
    with pytest.raises(BadCursor):  # another search's cursor
        catalog.find(limit=2, sort="name", cursor=cursor)
    with pytest.raises(BadCursor):
        catalog.find(limit=2, sort="price", tag="gift", cursor=cursor)


def test_any_text_an_event_carries_is_stored_and_the_models_rebuild_identically(
    catalog: Catalog,
) -> None:
    catalog.run(CreateCategory(slug="odd", name="Odd\x00name"))
    catalog.product(
        "NUL",
        "Nul\x00mug",
        description="x\x00y",
        category="odd\x00cat",
        tags=["t\x00ag"],
        attributes={"colour": "re\x00d"},
    )
    catalog.run(ChangeProductDetails("NUL", attributes={"colour": "bl\x00ue"}))
    assert catalog.skus(q="mug") == ["NUL"]
    runner = catalog.runtime.runner
    for name in ("product_search", "price_history", "product_cards"):
        assert verify(runner, name).ok, name
