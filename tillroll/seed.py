"""Demo data for the embedded default: one account per role, a small category tree and a few
products with stock (attributes on the T-shirts, a gold price on the mug)."""

from __future__ import annotations

from tillroll.aggregates.money import Money
from tillroll.commands.bus import dispatch
from tillroll.commands.catalog import CreateProduct, SetTierPrice
from tillroll.commands.categories import CreateCategory
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.identity import OpenAccount
from tillroll.commands.inventory import ReceiveStock
from tillroll.commands.ports import CredentialStore
from tillroll.infra.eventstore import EventStore

DEMO_PASSWORD = "tillroll-demo"
DEMO_ACCOUNTS = [
    ("customer@example.com", "Casey Customer", "customer"),
    ("staff@example.com", "Sam Staff", "staff"),
    ("auditor@example.com", "Alex Auditor", "auditor"),
    ("ops@example.com", "Olu Ops", "ops"),
]
DEMO_CATEGORIES = [
    # slug, name, parent ("" for the top)
    ("home", "Home", ""),
    ("kitchen", "Kitchen", "home"),
    ("stationery", "Stationery", "home"),
    ("apparel", "Apparel", ""),
    ("outdoor", "Outdoor", ""),
]
DEMO_ATTRIBUTES = {
    "TEE-BLACK-M": {"colour": "black", "size": "M"},
    "TEE-BLACK-L": {"colour": "black", "size": "L"},
}
DEMO_TIER_PRICES = [("MUG-CLASSIC", "gold", 1099)]
DEMO_PRODUCTS = [
    # sku, name, category, tags, price (EUR cents), stock
    ("MUG-CLASSIC", "Classic mug", "kitchen", ["ceramic", "gift"], 1299, 40),
    ("TEE-BLACK-M", "Black T-shirt, M", "apparel", ["cotton"], 2499, 25),
    ("TEE-BLACK-L", "Black T-shirt, L", "apparel", ["cotton"], 2499, 10),
    ("NOTEBOOK-A5", "A5 dotted notebook", "stationery", ["paper", "gift"], 899, 100),
    ("BOTTLE-STEEL", "Steel water bottle", "outdoor", ["steel"], 1999, 3),
]
SEED = Principal(subject="system:seed", role="ops")


def seed_demo(store: EventStore, credentials: CredentialStore) -> bool:
    """Seed an empty store; returns False (and writes nothing) if it holds any event."""
    if store.head() > 0:
        return False
    ctx = CommandContext(store, principal=SEED, credentials=credentials)
    for email, name, role in DEMO_ACCOUNTS:
        dispatch(OpenAccount(email, name, role, DEMO_PASSWORD), ctx)
    for slug, name, parent in DEMO_CATEGORIES:
        dispatch(CreateCategory(slug=slug, name=name, parent=parent), ctx)
    for sku, name, category, tags, cents, stock in DEMO_PRODUCTS:
        dispatch(
            CreateProduct(
                sku=sku,
                name=name,
                price=Money(cents, "EUR"),
                description=f"{name} from the tillroll demo catalog",
                category=category,
                tags=tags,
                attributes=DEMO_ATTRIBUTES.get(sku, {}),
            ),
            ctx,
        )
        dispatch(ReceiveStock(sku, stock, "demo opening stock"), ctx)
    for sku, tier, cents in DEMO_TIER_PRICES:
        dispatch(SetTierPrice(sku, tier, Money(cents, "EUR")), ctx)
    return True
