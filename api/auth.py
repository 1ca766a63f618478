"""JWT bearer auth, role guards and the session routes: register, login, refresh, logout."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Annotated, Any, ClassVar
from uuid import UUID

import anyio
import msgspec
from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware.authentication import AuthenticationResult
from litestar.params import JSONBody
from litestar.response import Response
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token
from tillroll.aggregates.errors import Conflict, NotFound, Unauthorized
from tillroll.api.requests import request_id
from tillroll.api.throttle import LoginThrottle
from tillroll.commands.bus import dispatch
from tillroll.commands.carts import MergeCarts
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.identity import OpenAccount, authenticate
from tillroll.commands.ports import CredentialStore, EventStorePort, SessionStore

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


async def retrieve_principal(token: Token, _: ASGIConnection) -> Principal | None:
    role = token.extras.get("role")
    if not isinstance(role, str):
        return None
    return Principal(subject=token.sub, role=role, email=str(token.extras.get("email", "")))


class VerifiedTokens:
    """Tokens this process has already verified, with who they name, until they expire.

    Verifying a JWT (base64, JSON, HMAC, claims) cost more than the rest of a cached read;
    a client sends the same token on every request. An entry is never used past the token's
    own `exp`, the cache holds at most `size` tokens (the oldest go first), and only tokens
    that passed the full check are kept, so a bad token is checked (and refused) each time."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._found: dict[str, tuple[float, AuthenticationResult]] = {}

    def get(self, encoded: str, now: float) -> AuthenticationResult | None:
        found = self._found.get(encoded)
        if found is None:
            return None
        if now >= found[0]:
            del self._found[encoded]
            return None
        return found[1]

    def put(self, encoded: str, result: AuthenticationResult) -> None:
        token = result.auth
        if not isinstance(token, Token):
            return
        if len(self._found) >= self.size:
            now = time.time()
            for key in [k for k, (exp, _) in self._found.items() if now >= exp]:
                del self._found[key]
            while len(self._found) >= self.size:
                del self._found[next(iter(self._found))]
        self._found[encoded] = (token.exp.timestamp(), result)

    def __len__(self) -> int:
        return len(self._found)


SESSION_COOKIE = "tillroll_session"
"""The console's session: the same JWT a bearer client sends, in an HttpOnly cookie."""
CONSOLE_PATH = "/console"


class CachedJWTMiddleware(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware, verifying each token once (see VerifiedTokens). Each app
    gets a subclass with a cache of its own (`jwt_auth`), so apps with different secrets in
    one process never share verdicts.

    Under /console only, a request without an `Authorization` header may carry the same
    token in the session cookie (api/console): the JSON API never accepts a cookie, so a
    page elsewhere cannot make a browser send a credential to it (no CSRF exposure there),
    and the console's forms are CSRF-checked."""

    verified: ClassVar[VerifiedTokens]

    async def authenticate_request(self, connection: Any) -> AuthenticationResult:
        if not connection.headers.get(self.auth_header) and _in_console(connection.scope):
            cookie = connection.cookies.get(SESSION_COOKIE)
            if cookie:
                return await self.authenticate_token(cookie, connection)
        return await super().authenticate_request(connection)

    async def authenticate_token(self, encoded_token: str, connection: Any) -> AuthenticationResult:
        cached = self.verified.get(encoded_token, time.time())
        if cached is not None:
            return cached
        result = await super().authenticate_token(encoded_token, connection)
        self.verified.put(encoded_token, result)
        return result


def _in_console(scope: Any) -> bool:
    path = scope.get("path", "")
    return path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


def jwt_auth(secret: str, ttl_seconds: int) -> JWTAuth[Principal, Token]:
    middleware = type("AppJWTMiddleware", (CachedJWTMiddleware,), {"verified": VerifiedTokens()})
    return JWTAuth[Principal, Token](
        authentication_middleware_class=middleware,
        retrieve_user_handler=retrieve_principal,
        token_secret=secret,
        default_token_expiration=timedelta(seconds=ttl_seconds),
        exclude=["/health", "/ready", "/schema", "/docs", "/metrics"],
        exclude_opt_key="public",
    )


def roles(*allowed: str) -> Any:
    """Guard: the caller's role must be one of these."""

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # Litestar's automatic OPTIONS answer: no data, and no token to check
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal) or principal.role not in allowed:
            raise PermissionDeniedException(f"this needs one of the roles: {', '.join(allowed)}")

    guard.__name__ = f"roles_{'_'.join(allowed)}"
    return guard


CUSTOMER, STAFF, AUDITOR, OPS = "customer", "staff", "auditor", "ops"


class LoginRequest(msgspec.Struct, frozen=True):
    email: Email
    password: Password
    guest_cart_id: UUID | None = None
    """A guest cart to merge into the customer's cart once logged in."""


class RegisterRequest(msgspec.Struct, frozen=True):
    email: Email
    password: Password
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Registered(msgspec.Struct):
    customer_id: str
    position: int


class RefreshRequest(msgspec.Struct, frozen=True):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class LoginResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    role: str
    subject: str
    refresh_token: str = ""
    cart_id: str | None = None
    """The customer's cart, when a guest cart was merged into it at login."""


def _merge_guest_cart(
    store: EventStorePort, principal: Principal, guest_cart_id: UUID, request_id: str
) -> str | None:
    """The guest cart merged into the customer's (one atomic save); a cart that is not a
    live guest cart any more (merged before, checked out, unknown) leaves login alone."""
    ctx = CommandContext(store, principal=principal, request_id=request_id)
    try:
        merged = dispatch(MergeCarts(guest_cart_id, UUID(principal.subject)), ctx)
    except (NotFound, Conflict):
        return None
    return merged.cart_id


def access_token(request: Request, principal: Principal) -> tuple[str, int]:
    """A signed access token for `principal` and its lifetime in seconds (what a bearer
    client sends and the console's session cookie holds)."""
    auth: JWTAuth[Principal, Token] = request.app.state.jwt_auth
    ttl = int(auth.default_token_expiration.total_seconds())
    token = auth.create_token(
        identifier=principal.subject,
        token_extras={"role": principal.role, "email": principal.email},
    )
    return token, ttl


def _tokens(request: Request, principal: Principal, refresh_token: str) -> LoginResponse:
    token, ttl = access_token(request, principal)
    return LoginResponse(token, "bearer", ttl, principal.role, principal.subject, refresh_token)


async def check_credentials(
    request: Request, store: EventStorePort, creds: CredentialStore, email: str, password: str
) -> Principal:
    """Who an email and password name (Unauthorized if nobody). Failed logins are throttled
    per account and per client address (429 with Retry-After), before the password is
    checked. Shared by the JSON login and the console's login form."""
    throttle: LoginThrottle = request.app.state.login_throttle
    address = request.client.host if request.client else "unknown"
    await throttle.check(email, address)
    try:
        principal = await anyio.to_thread.run_sync(authenticate, store, creds, email, password)
    except Unauthorized:
        await throttle.failed(email, address)
        raise
    await throttle.succeeded(email, address)
    return principal


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]

    @post("/register", opt={"public": True}, sync_to_thread=True, status_code=201)
    def register(
        self,
        data: JSONBody[RegisterRequest],
        store: NamedDependency[EventStorePort],
        credentials: NamedDependency[Any],
        request: Request,
    ) -> Response[Registered]:
        """Sign a customer up: 409 naming `email` if taken, 422 naming `password` if weak."""
        ctx = CommandContext(
            store,
            principal=Principal("system:register", CUSTOMER),
            request_id=request_id(request),
            credentials=credentials,
        )
        opened = dispatch(OpenAccount(data.email, data.name, CUSTOMER, data.password), ctx)
        return Response(
            Registered(opened.account_id, opened.position),
            status_code=201,
            headers={"X-Log-Position": str(opened.position)},
        )

    @post("/login", opt={"public": True}, status_code=200)
    async def login(
        self,
        data: JSONBody[LoginRequest],
        store: NamedDependency[EventStorePort],
        credentials: NamedDependency[Any],
        request: Request,
    ) -> LoginResponse:
        """Exchange an email and password for a bearer token and a refresh token. Failed
        logins are throttled per account and per client address (429 with Retry-After),
        before the password is checked."""
        sessions: SessionStore = credentials
        principal = await check_credentials(request, store, credentials, data.email, data.password)
        token = await anyio.to_thread.run_sync(sessions.issue, UUID(principal.subject))
        answer = _tokens(request, principal, token)
        if data.guest_cart_id is not None and principal.role == CUSTOMER:
            answer.cart_id = await anyio.to_thread.run_sync(
                _merge_guest_cart, store, principal, data.guest_cart_id, request_id(request)
            )
        return answer

    @post("/refresh", opt={"public": True}, sync_to_thread=True, status_code=200)
    def refresh(
        self,
        data: JSONBody[RefreshRequest],
        store: NamedDependency[EventStorePort],
        credentials: NamedDependency[Any],
        request: Request,
    ) -> LoginResponse:
        """A new access token and refresh token; the one sent stops working. Sending a
        refresh token a second time revokes its whole session (401)."""
        sessions: SessionStore = credentials
        account_id, token = sessions.rotate(data.refresh_token)
        account = store.get(account_id)
        principal = Principal(subject=str(account.id), role=account.role, email=account.email)
        return _tokens(request, principal, token)

    @post("/logout", opt={"public": True}, sync_to_thread=True, status_code=204)
    def logout(self, data: JSONBody[RefreshRequest], credentials: NamedDependency[Any]) -> None:
        """End the session the refresh token belongs to."""
        sessions: SessionStore = credentials
        sessions.revoke(data.refresh_token)
