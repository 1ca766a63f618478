"""The console without a browser: its session cookie, CSRF on its forms, HTML answers for
the refused, and the JSON API left as it was (bearer only, no cookie accepted)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient
from tillroll.infra.embedded import EmbeddedServers

from tests.api.conftest import Shop
from tests.conftest import DEMO_PASSWORD, fresh_settings, open_accounts
from tillroll.bootstrap import Runtime, http_app


@pytest.fixture(scope="module")
def shop(servers: EmbeddedServers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """One app for the module (these tests only log in and read); each test starts with no
    cookies."""
    runtime = Runtime.open(fresh_settings(servers, tmp_path_factory.mktemp("con")))
    try:
        open_accounts(runtime)
        with TestClient(http_app(runtime, run_projections=True)) as client:
            yield Shop(client)
    finally:
        runtime.close()


@pytest.fixture(autouse=True)
def no_cookies(shop: Shop) -> None:
    shop.client.cookies.clear()


def _csrf(shop: Shop) -> str:
    page = shop.client.get("/console/login")
    assert page.status_code == 200
    return re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)


def _log_in(shop: Shop, role: str) -> object:
    token = _csrf(shop)
    return shop.client.post(
        "/console/login",
        data={"email": f"{role}@example.com", "password": DEMO_PASSWORD, "_csrf_token": token},
        follow_redirects=False,
    )


def test_login_sets_an_httponly_strict_session_cookie_kept_to_the_console(shop: Shop) -> None:
    answer = _log_in(shop, "ops")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/ops"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "tillroll_session=" in c)
    assert (
        "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/console" in cookie
    )
    assert "Secure" not in cookie  # plain HTTP here; behind TLS it is Secure
    page = shop.client.get("/console/ops")
    assert page.status_code == 200 and "order_status" in page.text
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-request-id"]


def test_a_form_posted_without_the_csrf_token_is_refused(shop: Shop) -> None:
    assert _log_in(shop, "ops").status_code == 303
    answer = shop.client.post("/console/ops/projections/order_status/retry", data={})
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html")
    assert "CSRF" in answer.text


def test_a_login_form_without_the_csrf_token_is_refused(shop: Shop) -> None:
    body = {"email": "ops@example.com", "password": DEMO_PASSWORD}
    answer = shop.client.post("/console/login", data=body, follow_redirects=False)
    assert answer.status_code == 403
    assert "tillroll_session" not in answer.headers.get("set-cookie", "")


def test_a_customer_is_shown_a_not_allowed_page(shop: Shop) -> None:
    assert _log_in(shop, "customer").status_code == 303
    for path in ("/console", "/console/ops", "/console/audit"):
        answer = shop.client.get(path)
        assert answer.status_code == 403, path
        assert answer.headers["content-type"].startswith("text/html")
        assert "Not allowed" in answer.text and "customer" in answer.text


def test_without_a_session_the_console_answers_with_a_login_form_that_works(shop: Shop) -> None:
    answer = shop.client.get("/console/audit")
    assert answer.status_code == 401
    assert 'action="/console/login"' in answer.text
    # Authentication refused before the CSRF middleware ran: the form still carries a token.
    token = re.search(r'name="_csrf_token" value="([^"]+)"', answer.text).group(1)
    body = {"email": "auditor@example.com", "password": DEMO_PASSWORD, "_csrf_token": token}
    logged_in = shop.client.post("/console/login", data=body, follow_redirects=False)
    assert logged_in.status_code == 303 and logged_in.headers["location"] == "/console/audit"


def test_the_json_api_never_accepts_the_session_cookie(shop: Shop) -> None:
    assert _log_in(shop, "ops").status_code == 303
    assert shop.client.cookies.get("tillroll_session")
    token = shop.client.cookies.get("tillroll_session")
    # The browser would not send it there (Path=/console); sent anyway, it is not a credential.
    answer = shop.client.get("/v1/ops/projections", headers={"Cookie": f"tillroll_session={token}"})
    assert answer.status_code == 401


def test_a_wrong_password_stays_on_the_login_form(shop: Shop) -> None:
    token = _csrf(shop)
    body = {"email": "ops@example.com", "password": "not-it", "_csrf_token": token}
    answer = shop.client.post("/console/login", data=body, follow_redirects=False)
    assert answer.status_code == 401 and 'action="/console/login"' in answer.text
    assert "tillroll_session" not in answer.headers.get("set-cookie", "")


def test_htmx_is_served_by_tillroll(shop: Shop) -> None:
    page = shop.client.get("/console/login")
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    assert scripts == ["/console/static/htmx.min.js"]
    asset = shop.client.get(scripts[0])
    assert asset.status_code == 200 and "htmx" in asset.text[:2000]


def test_behind_tls_the_session_cookie_is_secure(shop: Shop) -> None:
    # The scheme uvicorn reports (it honours X-Forwarded-Proto from trusted proxies).
    client = shop.client
    base, client.base_url = client.base_url, "https://testserver"
    try:
        answer = _log_in(shop, "auditor")
    finally:
        client.base_url = base
    assert answer.status_code == 303
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "tillroll_session=" in c)
    assert "Secure" in cookie


def test_retrying_a_job_that_did_not_fail_says_so_on_the_page(shop: Shop) -> None:
    # A bearer client needs no CSRF token (a browser never adds the header by itself).
    answer = shop.post("/console/ops/jobs/no-such-job/retry", "ops", **{"HX-Request": "true"})
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "no failed job" in answer.text and "<html" not in answer.text  # a fragment for htmx
