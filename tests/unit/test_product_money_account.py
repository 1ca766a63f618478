"""Value objects and the small aggregates: Money, Product and Account."""

from __future__ import annotations

import pytest
from eventsourcing.application import project_aggregate
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.errors import InvalidValue, RuleViolation
from tillroll.aggregates.identity.account import ROLES, Account, normalise_email
from tillroll.aggregates.money import Money

# --- Money -----------------------------------------------------------------------------------


def test_money_keeps_amount_and_currency_when_valid() -> None:
    money = Money(1999, "EUR")

    assert (money.amount, money.currency) == (1999, "EUR")
    assert money == Money(1999, "EUR")
    assert money != Money(1999, "USD")
    assert Money(-5, "JPY").amount == -5


@pytest.mark.parametrize("amount", [19.99, 1.0, True, False, "100", None])
def test_money_raises_invalid_value_on_amount_when_amount_is_not_int(amount: object) -> None:
    with pytest.raises(InvalidValue) as err:
        Money(amount, "EUR")  # type: ignore[arg-type]

    assert err.value.field == "amount"


@pytest.mark.parametrize("currency", ["EUROS", "eur", "usd ", "", "XXX", None])
def test_money_raises_invalid_value_on_currency_when_code_is_unknown(currency: object) -> None:
    with pytest.raises(InvalidValue) as err:
        Money(100, currency)  # type: ignore[arg-type]

    assert err.value.field == "currency"


def test_money_adds_amounts_when_currency_is_the_same() -> None:
    assert Money(150, "EUR") + Money(-50, "EUR") == Money(100, "EUR")


def test_money_raises_invalid_value_on_currency_when_adding_other_currency() -> None:
    with pytest.raises(InvalidValue) as err:
        Money(150, "EUR") + Money(50, "USD")

    assert err.value.field == "currency"
    assert "USD" in err.value.detail and "EUR" in err.value.detail


def test_money_times_multiplies_amount_when_given_quantity() -> None:
    assert Money(333, "GBP").times(3) == Money(999, "GBP")
    assert Money.zero("CHF") == Money(0, "CHF")


def test_money_is_immutable_when_assigned() -> None:
    money = Money(1, "EUR")

    with pytest.raises(AttributeError):
        money.amount = 2  # type: ignore[misc]


# --- Product ---------------------------------------------------------------------------------


def make_product(price: Money | None = None) -> Product:
    return Product.create(
        sku="TEE-M",
        name="T-shirt",
        price=price or Money(1500, "EUR"),
        description="cotton",
        category="apparel",
        tags=["summer", "cotton", "summer"],
    )


def test_product_records_fields_and_sorted_unique_tags_when_created() -> None:
    product = make_product()

    assert (product.sku, product.name, product.price) == ("TEE-M", "T-shirt", Money(1500, "EUR"))
    assert (product.description, product.category) == ("cotton", "apparel")
    assert product.tags == ["cotton", "summer"]
    assert product.id == Product.create_id("TEE-M")
    assert [type(e).__name__ for e in product.pending_events] == ["Created"]


def test_product_has_no_tags_when_none_given() -> None:
    product = Product.create("CAP", "Cap", Money(0, "EUR"))

    assert (product.tags, product.description, product.category) == ([], "", "")


@pytest.mark.parametrize("sku", ["", "a b", "x" * 65])
def test_product_create_raises_invalid_value_on_sku_when_sku_is_malformed(sku: str) -> None:
    with pytest.raises(InvalidValue) as err:
        Product.create(sku, "T-shirt", Money(1500, "EUR"))

    assert err.value.field == "sku"


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_product_create_raises_invalid_value_on_name_when_name_is_blank(name: str) -> None:
    with pytest.raises(InvalidValue) as err:
        Product.create("TEE-M", name, Money(1500, "EUR"))

    assert err.value.field == "name"


def test_product_create_raises_invalid_value_on_price_when_price_is_negative() -> None:
    with pytest.raises(InvalidValue) as err:
        Product.create("TEE-M", "T-shirt", Money(-1, "EUR"))

    assert err.value.field == "price.amount"


def test_change_price_records_price_changed_with_previous_when_price_differs() -> None:
    product = make_product()
    product.collect_events()

    product.change_price(Money(1200, "EUR"))

    assert product.price == Money(1200, "EUR")
    (changed,) = product.collect_events()
    assert type(changed).__name__ == "PriceChanged"
    assert (changed.sku, changed.price, changed.previous) == (
        "TEE-M",
        Money(1200, "EUR"),
        Money(1500, "EUR"),
    )


def test_change_price_records_nothing_when_price_is_the_same() -> None:
    product = make_product()
    product.collect_events()

    product.change_price(Money(1500, "EUR"))

    assert product.collect_events() == []
    assert (product.price, product.version) == (Money(1500, "EUR"), 1)


def test_change_price_raises_invalid_value_on_currency_when_currency_changes() -> None:
    product = make_product()

    with pytest.raises(InvalidValue) as err:
        product.change_price(Money(1500, "USD"))

    assert err.value.field == "price.currency"
    assert (product.price, product.version) == (Money(1500, "EUR"), 1)


def test_change_price_raises_invalid_value_on_amount_when_price_is_negative() -> None:
    product = make_product()

    with pytest.raises(InvalidValue) as err:
        product.change_price(Money(-100, "EUR"))

    assert err.value.field == "price.amount"
    assert product.price == Money(1500, "EUR")


def test_replaying_price_changes_reproduces_product_when_rebuilt() -> None:
    product = make_product()
    product.change_price(Money(1200, "EUR"))
    product.change_price(Money(1200, "EUR"))
    product.change_price(Money(0, "EUR"))

    events = product.collect_events()
    copy = project_aggregate(None, events)

    assert [type(e).__name__ for e in events] == ["Created", "PriceChanged", "PriceChanged"]
    assert [e.previous for e in events[1:]] == [Money(1500, "EUR"), Money(1200, "EUR")]
    assert isinstance(copy, Product)
    assert (copy.price, copy.version, copy.tags) == (Money(0, "EUR"), 3, ["cotton", "summer"])


# --- Account ---------------------------------------------------------------------------------


def test_account_open_normalises_email_when_mixed_case_and_padded() -> None:
    account = Account.open("  Ada.Lovelace@Example.COM \n", "Ada", "customer", "argon2$hash")

    assert account.email == "ada.lovelace@example.com"
    assert (account.name, account.role, account.password_hash) == ("Ada", "customer", "argon2$hash")
    assert account.id == Account.create_id("ada.lovelace@example.com")
    assert [type(e).__name__ for e in account.pending_events] == ["Opened"]


def test_account_id_is_same_when_email_differs_only_in_case() -> None:
    assert (
        Account.open("BOB@x.io", "B", "staff", "h").id
        == Account.open("bob@x.io", "B", "ops", "h").id
    )


@pytest.mark.parametrize("role", ROLES)
def test_account_open_accepts_role_when_role_is_known(role: str) -> None:
    assert Account.open("a@b.co", "A", role, "h").role == role


@pytest.mark.parametrize("role", ["admin", "Customer", "", "staff "])
def test_account_open_raises_invalid_value_on_role_when_role_is_unknown(role: str) -> None:
    with pytest.raises(InvalidValue) as err:
        Account.open("a@b.co", "A", role, "h")

    assert err.value.field == "role"
    assert isinstance(err.value, RuleViolation)


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "plain",
        "@example.com",
        "ada@",
        "ada@localhost",
        "ada lovelace@example.com",
        "ada@exa mple.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_account_open_raises_invalid_value_on_email_when_email_is_malformed(email: str) -> None:
    with pytest.raises(InvalidValue) as err:
        Account.open(email, "A", "customer", "h")

    assert err.value.field == "email"


def test_normalise_email_accepts_address_when_exactly_254_characters() -> None:
    email = "a@" + "b" * 248 + ".com"

    assert len(email) == 254
    assert normalise_email(email.upper()) == email


def test_normalise_email_raises_invalid_value_when_address_has_two_at_signs() -> None:
    with pytest.raises(InvalidValue):
        normalise_email("ada@evil@example.com")


def test_money_raises_invalid_value_on_currency_when_currency_is_unhashable() -> None:
    with pytest.raises(InvalidValue):
        Money(100, ["EUR"])  # type: ignore[arg-type]
