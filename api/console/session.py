"""The console's session: login form, logout, the session cookie, CSRF on its forms, and
errors as HTML pages (401: the login form; 403: "not allowed") instead of problem+json.

The cookie holds the same signed token a bearer client sends (api/auth.py reads it under
/console only), HttpOnly, SameSite=Strict, Secure when the request came over TLS. Forms are
checked with Litestar's CSRFMiddleware (double-submit cookie, signed token) whenever the
request could carry an ambient credential, i.e. it has no `Authorization` header: a browser
never adds that header on its own, so a bearer client's request cannot be forged."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from litestar import Request, Response, get, post
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware.csrf import CSRFMiddleware, generate_csrf_token
from litestar.response import Redirect, Template
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.empty import value_or_default
from litestar.utils.scope.state import ScopeState
from tillroll.aggregates.errors import Unauthorized
from tillroll.api.auth import (
    AUDITOR,
    CONSOLE_PATH,
    OPS,
    SESSION_COOKIE,
    access_token,
    check_credentials,
)
from tillroll.api.errors import exception_handlers
from tillroll.commands.context import Principal
from tillroll.commands.ports import EventStorePort

CSRF_COOKIE = "tillroll_csrf"
HTML = "text/html; charset=utf-8"
CONSOLE_ROLES = (AUDITOR, OPS)
HOME = {OPS: f"{CONSOLE_PATH}/ops", AUDITOR: f"{CONSOLE_PATH}/audit"}


def _tls(scope: Any) -> bool:
    return scope.get("scheme") == "https"


class ConsoleCsrf:
    """Litestar's CSRF check on the console's forms, its cookie kept to /console (Secure over
    TLS), skipped for requests that carry an `Authorization` header."""

    def __init__(self, jwt_secret: str) -> None:
        # A secret of its own, derived from the JWT secret: one setting to keep, two uses.
        self.secret = hashlib.sha256(b"tillroll-console-csrf:" + jwt_secret.encode()).hexdigest()

    def config(self, secure: bool) -> CSRFConfig:
        return CSRFConfig(
            secret=self.secret,
            cookie_name=CSRF_COOKIE,
            cookie_path=CONSOLE_PATH,
            cookie_samesite="strict",
            cookie_httponly=True,  # the pages carry the token; no script needs the cookie
            cookie_secure=secure,
        )

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Router middleware (a Litestar middleware factory)."""
        plain = CSRFMiddleware(app, self.config(False))
        secure = CSRFMiddleware(app, self.config(True))

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or any(
                name == b"authorization" for name, _ in scope.get("headers", ())
            ):
                await app(scope, receive, send)
                return
            await (secure if _tls(scope) else plain)(scope, receive, send)

        return middleware

    def token_for(self, request: Request) -> Cookie | None:
        """Give a page rendered before the CSRF middleware ran (the login form a 401 shows:
        authentication refuses before the router's middleware) the token its form needs, as
        the middleware would: the visitor's cookie, or a new token and the cookie to set."""
        state = ScopeState.from_scope(request.scope)
        if value_or_default(state.csrf_token, ""):
            return None
        existing = request.cookies.get(CSRF_COOKIE)
        state.csrf_token = existing or generate_csrf_token(self.secret)
        if existing:
            return None
        config = self.config(_tls(request.scope))
        return Cookie(
            key=CSRF_COOKIE,
            value=state.csrf_token,
            path=CONSOLE_PATH,
            httponly=True,
            samesite="strict",
            secure=config.cookie_secure,
        )


# -- errors as pages ---------------------------------------------------------------------
def _user(request: Request) -> Principal | None:
    user = request.scope.get("user")
    return user if isinstance(user, Principal) else None


def _page(
    request: Request, status: int, title: str, detail: str, headers: Any, csrf: ConsoleCsrf
) -> Response[Any]:
    if status == 401:
        cookie = csrf.token_for(request)
        page = login_page(request, error=detail, status=401)
        page.cookies = [*page.cookies, cookie] if cookie else page.cookies
        page.headers.update(headers)
        return page
    return Template(
        media_type=HTML,
        template_name="error.html",
        context={"status": status, "title": title, "detail": detail, "user": _user(request)},
        status_code=status,
        headers=headers,
    )


def html_exception_handlers(csrf: ConsoleCsrf) -> dict[Any, Any]:
    """The API's error table (api/errors.py), each answer rendered as a page: the same
    statuses, and no 500 for what a visitor did."""

    def as_page(handler: Callable[[Request, Any], Response[Any]]) -> Callable[..., Any]:
        def render(request: Request, exc: Exception) -> Response[Any]:
            answer = handler(request, exc)
            body = answer.content if isinstance(answer.content, dict) else {}
            headers = {
                k: v for k, v in (answer.headers or {}).items() if k.lower() == "retry-after"
            }
            if answer.status_code == 401 and request.headers.get("hx-request"):
                headers["HX-Redirect"] = f"{CONSOLE_PATH}/login"  # the session ran out
            title = str(body.get("title", "Error"))
            if isinstance(exc, PermissionDeniedException) and "CSRF" not in str(exc.detail):
                title = "Not allowed"
            detail = str(body.get("detail", ""))
            return _page(request, answer.status_code, title, detail, headers, csrf)

        return render

    return {cls: as_page(handler) for cls, handler in exception_handlers().items()}


# -- login and logout ----------------------------------------------------------------------
def login_page(request: Request, error: str = "", status: int = 200, email: str = "") -> Any:
    return Template(
        media_type=HTML,
        template_name="login.html",
        context={"error": error, "email": email, "user": None},
        status_code=status,
    )


def _session_cookie(request: Request, token: str, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path=CONSOLE_PATH,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=_tls(request.scope),
    )


@get("/login", opt={"public": True})
async def login_form(request: Request) -> Any:
    """The login form (any account; the views check the role)."""
    return login_page(request)


@post("/login", opt={"public": True}, status_code=303)
async def login(
    request: Request, store: NamedDependency[EventStorePort], credentials: NamedDependency[Any]
) -> Any:
    """Check the email and password as POST /v1/auth/login does (same throttle), then keep
    the access token in the session cookie and go to the caller's view."""
    form = await request.form()
    email, password = str(form.get("email", "")).strip(), str(form.get("password", ""))
    if not email or not password:
        return login_page(request, "enter an email and a password", 400, email)
    try:
        principal = await check_credentials(request, store, credentials, email, password)
    except Unauthorized as exc:
        return login_page(request, exc.detail, 401, email)
    token, ttl = access_token(request, principal)
    return Redirect(
        HOME.get(principal.role, CONSOLE_PATH),
        status_code=303,
        cookies=[_session_cookie(request, token, ttl)],
    )


@post("/logout", opt={"public": True}, status_code=303)
async def logout(request: Request) -> Any:
    """Forget the session cookie (the token itself runs out at its expiry, as a bearer
    token does)."""
    gone = Cookie(key=SESSION_COOKIE, value="", path=CONSOLE_PATH, max_age=0, httponly=True)
    return Redirect(f"{CONSOLE_PATH}/login", status_code=303, cookies=[gone])


def principal_of(request: Request) -> Principal:
    user = request.user
    if not isinstance(user, Principal):  # the guards ran; this is for the type checker
        raise NotAuthorizedException("log in first")
    return user
