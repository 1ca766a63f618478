"""A tiny fake of the Stripe API on 127.0.0.1, for the `stripe` library to talk to in tests:
payment intents (create, retrieve) and refunds (create, list), honouring Idempotency-Key
the way Stripe does (the same key answers the first response again)."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class FakeStripe:
    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.answered: dict[str, tuple[int, dict[str, Any]]] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        """(method, path, Idempotency-Key) of every request, in order."""
        self.ids = itertools.count(1)
        self.lock = threading.Lock()
        self.url = ""

    def succeed(self, intent_id: str) -> dict[str, Any]:
        """The customer paid (what Stripe.js and the bank would do)."""
        self.intents[intent_id]["status"] = "succeeded"
        return self.intents[intent_id]

    def handle(self, method: str, path: str, form: dict[str, str], key: str | None) -> Any:
        with self.lock:
            self.requests.append((method, path, key))
            if method == "POST" and key is not None and key in self.answered:
                return self.answered[key]
            answer = self._route(method, path, form)
            if method == "POST" and key is not None and answer[0] == 200:
                self.answered[key] = answer
            return answer

    def _route(self, method: str, path: str, form: dict[str, str]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["v1", "payment_intents"]:
            intent_id = f"pi_fake_{next(self.ids)}"
            intent = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "currency": form["currency"],
                "status": "requires_payment_method",
                "client_secret": f"{intent_id}_secret_x",
                "metadata": _metadata(form),
            }
            self.intents[intent_id] = intent
            return 200, intent
        if method == "GET" and parts[:2] == ["v1", "payment_intents"] and len(parts) == 3:
            if parts[2] not in self.intents:
                return 404, _error("No such payment_intent")
            return 200, self.intents[parts[2]]
        if method == "POST" and parts == ["v1", "refunds"]:
            intent = self.intents.get(form.get("payment_intent", ""))
            if intent is None or intent["status"] != "succeeded":
                return 400, _error("This PaymentIntent cannot be refunded")
            amount = int(form.get("amount", intent["amount"]))
            done = sum(
                r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"]
            )
            if done + amount > intent["amount"]:
                return 400, _error("Refund amount is greater than unrefunded amount")
            refund_id = f"re_fake_{next(self.ids)}"
            refund = {
                "id": refund_id,
                "object": "refund",
                "amount": amount,
                "payment_intent": intent["id"],
                "status": "succeeded",
                "metadata": _metadata(form),
            }
            self.refunds[refund_id] = refund
            return 200, refund
        if method == "GET" and parts == ["v1", "refunds"]:
            wanted = form.get("payment_intent")
            data = [r for r in self.refunds.values() if r["payment_intent"] == wanted]
            return 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/refunds"}
        return 404, _error(f"no route {method} {path}")


def _metadata(form: dict[str, str]) -> dict[str, str]:
    return {k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")}


def _error(message: str) -> dict[str, Any]:
    return {"error": {"type": "invalid_request_error", "message": message}}


@contextmanager
def fake_stripe() -> Iterator[FakeStripe]:
    fake = FakeStripe()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            form = dict(parse_qsl(body or url.query))
            status, payload = fake.handle(
                method, url.path, form, self.headers.get("Idempotency-Key")
            )
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
