"""Password hashes that early events carried never reach an auditor: every audit path shows
them redacted, while the stored bytes (and so the hash chain) stay as they were."""

from __future__ import annotations

import json

from tillroll.aggregates.identity.account import Account

from tests.api.conftest import Shop
from tests.conftest import DEMO_PASSWORD


def test_audit_answers_redact_password_hashes_and_the_chain_still_verifies(shop: Shop) -> None:
    account_id = str(Account.create_id("customer@example.com"))
    texts = [
        shop.get(f"/v1/audit/streams/{account_id}/events", "auditor").text,
        shop.get(f"/v1/audit/streams/{account_id}/state", "auditor", version=1).text,
        shop.client.get(
            "/v1/audit/events",
            params={"after": 0, "limit": 100},
            headers={**shop.headers["auditor"], "Accept": "application/x-ndjson"},
        ).text,
    ]
    for text in texts:
        assert "scrypt$" not in text and DEMO_PASSWORD not in text
    events = shop.get(f"/v1/audit/streams/{account_id}/events", "auditor").json()
    items = events["items"] if isinstance(events, dict) else events
    stored = [e for e in items if "password_hash" in e["data"]]
    assert all(e["data"]["password_hash"] == "[redacted]" for e in stored)
    verified = shop.get("/v1/audit/verify", "auditor")
    assert verified.status_code == 200 and json.loads(verified.text)["ok"] is True
