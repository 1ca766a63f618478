"""The auditor's diff of two versions of an aggregate's state (api/console/state_diff.py)."""

from __future__ import annotations

from tillroll.api.console.state_diff import ADDED, CHANGED, REMOVED, SAME, diff, flatten


def test_nested_state_flattens_to_field_paths() -> None:
    state = {"status": "placed", "lines": [{"sku": "MUG", "quantity": 2}], "payments": {}}
    assert flatten(state) == {
        "status": '"placed"',
        "lines[0].sku": '"MUG"',
        "lines[0].quantity": "2",
        "payments": "{}",
    }


def test_each_field_says_how_it_changed_since_the_previous_version() -> None:
    before = {"status": "placed", "total": 10, "payment_ref": "pi_1"}
    after = {"status": "cancelled", "total": 10, "cancel_reason": "changed my mind"}
    rows = {row.path: (row.change, row.before, row.value) for row in diff(before, after)}
    assert rows == {
        "status": (CHANGED, '"placed"', '"cancelled"'),
        "total": (SAME, "10", "10"),
        "cancel_reason": (ADDED, None, '"changed my mind"'),
        "payment_ref": (REMOVED, '"pi_1"', None),
    }


def test_the_first_version_has_nothing_before_it() -> None:
    assert [row.change for row in diff(None, {"status": "placed"})] == [ADDED]
