"""JWT bearer auth, role guards and the login route."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody
from litestar.security.jwt import JWTAuth, Token
from tillroll.commands.context import Principal
from tillroll.commands.identity import authenticate
from tillroll.commands.ports import EventStorePort

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


async def retrieve_principal(token: Token, _: ASGIConnection) -> Principal | None:
    role = token.extras.get("role")
    if not isinstance(role, str):
        return None
    return Principal(subject=token.sub, role=role, email=str(token.extras.get("email", "")))


def jwt_auth(secret: str, ttl_seconds: int) -> JWTAuth[Principal, Token]:
    return JWTAuth[Principal, Token](
        retrieve_user_handler=retrieve_principal,
        token_secret=secret,
        default_token_expiration=timedelta(seconds=ttl_seconds),
        exclude=["/health", "/ready", "/schema", "/docs", "/metrics"],
        exclude_opt_key="public",
    )


def roles(*allowed: str) -> Any:
    """Guard: the caller's role must be one of these."""

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        principal = connection.user
        if not isinstance(principal, Principal) or principal.role not in allowed:
            raise PermissionDeniedException(f"this needs one of the roles: {', '.join(allowed)}")

    guard.__name__ = f"roles_{'_'.join(allowed)}"
    return guard


CUSTOMER, STAFF, AUDITOR, OPS = "customer", "staff", "auditor", "ops"


class LoginRequest(msgspec.Struct, frozen=True):
    email: Email
    password: Password


class LoginResponse(msgspec.Struct):
    access_token: str
    token_type: str
    expires_in: int
    role: str
    subject: str


class AuthController(Controller):
    path = "/v1/auth"
    tags = ["auth"]

    @post("/login", opt={"public": True}, sync_to_thread=True, status_code=200)
    def login(
        self, data: JSONBody[LoginRequest], store: NamedDependency[EventStorePort], request: Request
    ) -> LoginResponse:
        """Exchange an email and password for a bearer token."""
        principal = authenticate(store, data.email, data.password)
        auth: JWTAuth[Principal, Token] = request.app.state.jwt_auth
        ttl = int(auth.default_token_expiration.total_seconds())
        token = auth.create_token(
            identifier=principal.subject,
            token_extras={"role": principal.role, "email": principal.email},
        )
        return LoginResponse(token, "bearer", ttl, principal.role, principal.subject)
