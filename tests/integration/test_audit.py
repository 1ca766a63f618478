"""Auditors: history, time travel, export and tamper evidence, on the real event store."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.ordering import CancelOrder
from tillroll.infra.eventstore import EVENTS_TABLE
from tillroll.infra.settings import Settings
from tillroll.queries import audit

from tests.conftest import DEMO_PASSWORD, open_accounts
from tests.integration.workload import create_product, order, shop
from tillroll.bootstrap import Runtime, http_app


def _table(rt: Runtime) -> str:
    return f"{rt.settings.event_schema}.{EVENTS_TABLE}"


def _sql(rt: Runtime, statement: str, *params: Any) -> None:
    with rt.store.connection() as conn:
        conn.execute(statement, params)


def test_an_orders_history_names_who_did_what_and_state_travels_in_time(runtime: Runtime) -> None:
    create_product(runtime.store, "MUG", 1200, 5)
    customer = uuid.uuid4()
    order_id = uuid.UUID(order(runtime.store, customer, [("MUG", 2, 1200)]))
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    staff = CommandContext(runtime.store, Principal("staff-7", "staff"), request_id="req-cancel")
    dispatch(CancelOrder(order_id, "out of stock"), staff)

    events = audit.history(runtime.store, order_id)
    assert [(e.version, e.type) for e in events] == [(1, "Order.Placed"), (2, "Order.Cancelled")]
    assert events[0].metadata["principal"] == str(customer)
    assert events[1].metadata == {
        "principal": "staff-7",
        "role": "staff",
        "request_id": "req-cancel",
    }
    assert events[0].data["total"] == {"amount": 2400, "currency": "EUR"}
    assert events[1].data["reason"] == "out of stock"
    assert all(e.time and e.time.tzinfo is not None and e.hash for e in events)

    assert audit.state_at(runtime.store, order_id, version=1).state["status"] == "placed"
    before_cancel = audit.state_at(runtime.store, order_id, at=between)
    assert (before_cancel.version, before_cancel.state["status"]) == (1, "placed")
    assert audit.state_at(runtime.store, order_id).state["status"] == "cancelled"
    steps = [(e.version, state["status"]) for e, state in audit.replay(runtime.store, order_id)]
    assert steps == [(1, "placed"), (2, "cancelled")]


def test_an_untouched_store_verifies_clean(runtime: Runtime) -> None:
    shop(runtime.store, orders=40)
    report = audit.verify(runtime.store)
    assert report.ok and report.first_break is None
    assert report.events == runtime.store.head() and report.streams > 10


def _order_stream(rt: Runtime) -> tuple[uuid.UUID, list[audit.AuditEvent]]:
    create_product(rt.store, "PEN", 300, 10)
    order_id = uuid.UUID(order(rt.store, uuid.uuid4(), [("PEN", 1, 300)]))
    dispatch(CancelOrder(order_id, "test"), CommandContext(rt.store))
    return order_id, audit.history(rt.store, order_id)


def _item_stream(rt: Runtime) -> tuple[uuid.UUID, list[audit.AuditEvent]]:
    from tillroll.aggregates.inventory.item import InventoryItem

    create_product(rt.store, "BOLT", 10, 5)
    for _ in range(3):
        order(rt.store, uuid.uuid4(), [("BOLT", 1, 10)])
    stream = InventoryItem.create_id("BOLT")
    return stream, audit.history(rt.store, stream)


def test_verify_names_an_event_with_one_byte_changed(runtime: Runtime) -> None:
    stream, events = _item_stream(runtime)
    _sql(
        runtime,
        f"UPDATE {_table(runtime)} SET state = overlay(state placing '9'::bytea from 40 for 1)"
        " WHERE originator_id = %s AND originator_version = 3",
        stream,
    )
    first = audit.verify(runtime.store).first_break
    assert first is not None
    assert (first.stream_id, first.version, first.position) == (stream, 3, events[2].position)
    assert "altered" in first.problem


def test_verify_names_a_deleted_event(runtime: Runtime) -> None:
    stream, _events = _item_stream(runtime)
    _sql(
        runtime,
        f"DELETE FROM {_table(runtime)} WHERE originator_id = %s AND originator_version = 2",
        stream,
    )
    first = audit.verify(runtime.store).first_break
    assert first is not None
    assert (first.stream_id, first.version) == (stream, 2)
    assert "missing" in first.problem


def test_verify_names_two_events_swapped(runtime: Runtime) -> None:
    stream, _ = _item_stream(runtime)
    table = _table(runtime)
    _sql(
        runtime,
        f"UPDATE {table} SET originator_version = -1 WHERE originator_id = %s AND originator_version = 2",
        stream,
    )
    _sql(
        runtime,
        f"UPDATE {table} SET originator_version = 2 WHERE originator_id = %s AND originator_version = 3",
        stream,
    )
    _sql(
        runtime,
        f"UPDATE {table} SET originator_version = 3 WHERE originator_id = %s AND originator_version = -1",
        stream,
    )
    first = audit.verify(runtime.store).first_break
    assert first is not None and (first.stream_id, first.version) == (stream, 2)


def test_an_anchor_exposes_a_wholesale_rewrite_that_chains_verify_alone(runtime: Runtime) -> None:
    from tillroll.infra.eventlog.chain import GENESIS, link

    stream, _events = _order_stream(runtime)
    anchor = audit.verify(runtime.store)
    # A forger who changes the reason and recomputes the whole chain passes plain verify ...
    with runtime.store.connection() as conn:
        rows = conn.execute(
            f"SELECT originator_version, topic, state FROM {_table(runtime)}"
            " WHERE originator_id = %s ORDER BY originator_version",
            (stream,),
        ).fetchall()
        previous = GENESIS
        for row in rows:
            state = bytes(row["state"]).replace(b'"test"', b'"fine"')
            previous = link(previous, stream, row["originator_version"], row["topic"], state)
            conn.execute(
                f"UPDATE {_table(runtime)} SET state = %s, hash = %s"
                " WHERE originator_id = %s AND originator_version = %s",
                (state, previous, stream, row["originator_version"]),
            )
    rewritten = audit.verify(runtime.store, up_to=anchor.position)
    assert rewritten.ok
    # ... but not the anchor taken before.
    assert rewritten.head_digest != anchor.head_digest


def _client(rt: Runtime) -> tuple[TestClient[Any], dict[str, dict[str, str]]]:
    open_accounts(rt)
    client = TestClient(http_app(rt, run_projections=False))
    headers = {}
    for role in ("auditor", "ops", "customer"):
        token = client.post(
            "/v1/auth/login", json={"email": f"{role}@example.com", "password": DEMO_PASSWORD}
        ).json()["access_token"]
        headers[role] = {"Authorization": f"Bearer {token}"}
    return client, headers


def test_the_ndjson_export_streams_the_whole_log_and_round_trips(runtime: Runtime) -> None:
    shop(runtime.store, orders=120)
    client, headers = _client(runtime)
    with client:
        response = client.get(
            "/v1/audit/events", headers={**headers["ops"], "Accept": "application/x-ndjson"}
        )
        page = client.get("/v1/audit/events?after=0&limit=5", headers=headers["auditor"]).json()
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == runtime.store.head()
    assert [e["position"] for e in lines] == sorted({e["position"] for e in lines})
    assert set(lines[0]) == {
        "position",
        "stream_id",
        "version",
        "type",
        "time",
        "data",
        "metadata",
        "hash",
    }
    assert [e["position"] for e in page["items"]] == [e["position"] for e in lines[:5]]
    assert page["next_cursor"] == str(lines[4]["position"])
    # Round trip: the exported hashes are the chain verify recomputes from the data.
    by_stream: dict[str, list[dict]] = {}
    for e in lines:
        by_stream.setdefault(e["stream_id"], []).append(e)
    assert all(
        [e["version"] for e in es] == list(range(1, len(es) + 1)) for es in by_stream.values()
    )


def test_audit_routes_are_for_auditors_and_never_change_anything(runtime: Runtime) -> None:
    create_product(runtime.store, "MUG", 1200, 5)
    client, headers = _client(runtime)
    head = runtime.store.head()
    from tillroll.aggregates.catalog.product import Product

    product = Product.create_id("MUG")
    with client:
        assert (
            client.get(
                f"/v1/audit/streams/{product}/events", headers=headers["customer"]
            ).status_code
            == 403
        )
        assert client.get("/v1/audit/verify", headers=headers["ops"]).status_code == 403
        history = client.get(
            f"/v1/audit/streams/{product}/events", headers=headers["auditor"]
        ).json()
        state = client.get(
            f"/v1/audit/streams/{product}/state?version=1", headers=headers["auditor"]
        ).json()
        verify = client.get("/v1/audit/verify", headers=headers["auditor"]).json()
        missing = client.get(f"/v1/audit/streams/{uuid.uuid4()}/events", headers=headers["auditor"])
    assert [e["type"] for e in history["items"]] == ["Product.Created"]
    assert state["state"]["price"] == {"amount": 1200, "currency": "EUR"} and state["version"] == 1
    assert verify["ok"] is True
    assert missing.status_code == 404
    assert runtime.store.head() == head  # reading wrote nothing


@pytest.mark.parametrize("action", [["history"], ["state", "--version", "1"], ["replay"]])
def test_cli_audit_commands_print_the_stream(runtime: Runtime, action: list[str]) -> None:
    import subprocess
    import sys

    from tillroll.aggregates.catalog.product import Product

    from tests.conftest import ROOT, child_env

    create_product(runtime.store, "LAMP", 4500, 0)
    stream = str(Product.create_id("LAMP"))
    result = subprocess.run(
        [sys.executable, "-m", "tillroll.cli", "audit", action[0], stream, *action[1:]],
        env=child_env(runtime.settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "LAMP" in result.stdout


def test_a_damaged_event_is_still_exported_as_stored(runtime: Runtime) -> None:
    stream, _ = _item_stream(runtime)
    _sql(
        runtime,
        f"UPDATE {_table(runtime)} SET state = 'not json at all'::bytea"
        " WHERE originator_id = %s AND originator_version = 2",
        stream,
    )
    exported = list(audit.export(runtime.store))
    damaged = next(e for e in exported if e.stream_id == stream and e.version == 2)
    assert bytes.fromhex(damaged.data["undecodable_state_hex"]) == b"not json at all"
    assert len(exported) == runtime.store.head()


def test_events_stored_before_the_hash_chain_are_chained_when_the_store_opens(
    settings: Settings,
) -> None:
    rt = Runtime.open(settings)
    try:
        create_product(rt.store, "MUG", 1200, 10)
        order(rt.store, uuid.uuid4(), [("MUG", 2, 1200)])
        chained = audit.verify(rt.store)
        _sql(rt, f"UPDATE {_table(rt)} SET hash = NULL")  # as a store from before the chain
        assert not audit.verify(rt.store).ok
    finally:
        rt.close()
    rt = Runtime.open(settings)  # the migration chains them
    try:
        report = audit.verify(rt.store)
        assert report.ok and report.head_digest == chained.head_digest
    finally:
        rt.close()
