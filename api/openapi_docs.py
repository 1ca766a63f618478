"""The OpenAPI document, made honest: every operation lists the error answers it can give,
as RFC 9457 problem+json, and the security it needs; and /docs works with no internet.

Litestar documents the success answer and a 400 of its own shape. What the app really
answers beyond that is decided in a few places (api/errors.py maps domain errors, the guards,
the JWT middleware, the rate limit, the deadline) that apply to routes by kind, so the errors
are documented by kind too, once the app has generated its document:
- every operation: 429 (rate limit; the probes excepted) and 503 (a database slow or down);
- with parameters or a body: 400 and 422 (a value the schema allows, the rules do not: a
  position not yet in the log, a control character);
- guarded (not `public`) and public commands (login, refresh refuse with it): 401;
  guarded: the bearer scheme as the security requirement, and 403 when it checks a role
  (public ones declare an empty security requirement);
- with path parameters: 404;
- commands (POST, PUT, PATCH, DELETE): 409 and 422.
`tests/api/test_openapi.py` checks the document against the app's routes, and the schemathesis
run checks the real answers against the document."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)
from litestar.static_files import create_static_files_router

PROBLEM = "application/problem+json"
ASSETS = Path(__file__).parent / "static" / "swagger-ui"
ASSETS_PATH = "/docs/assets"
UNLIMITED = {"/health", "/ready", "/metrics"}
COMMANDS = ("post", "put", "patch", "delete")

TITLES = {
    "400": "Invalid request: the problem names the field",
    "401": "Missing, expired or invalid bearer token",
    "403": "The token's role may not do this",
    "404": "Not found (also: someone else's resource)",
    "409": "Conflict: stock short, state does not allow it, version moved on, key reused",
    "422": "A business rule refused it: the problem names the field",
    "429": "Too many requests: see Retry-After",
    "503": "A database is slow or unreachable, or a read model is behind: see Retry-After",
}

PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    description="RFC 9457 problem details",
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "field": Schema(type=OpenAPIType.STRING, description="the field at fault, if one is"),
    },
)


def swagger_plugin() -> SwaggerRenderPlugin:
    """Swagger UI from tillroll's own copy of its assets (api/static/swagger-ui/VERSION)."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def assets_router() -> Any:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[ASSETS],
        opt={"public": True},
        include_in_schema=False,
        name="docs-assets",
    )


def _answer(status: str) -> OpenAPIResponse:
    headers = None
    if status in ("429", "503"):
        headers = {"Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER))}
    if status == "401":
        headers = {"WWW-Authenticate": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING))}
    return OpenAPIResponse(
        description=TITLES[status],
        headers=headers,
        content={PROBLEM: OpenAPIMediaType(schema=Reference("#/components/schemas/Problem"))},
    )


def _handlers(app: Litestar) -> dict[tuple[str, str], Any]:
    """(path as OpenAPI writes it, lower-case method) -> route handler."""
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            for method in getattr(handler, "http_methods", ()):
                found[(route.path_format, method.lower())] = handler
    return found


def errors_for(path: str, method: str, operation: Any, handler: Any) -> list[str]:
    public = bool(handler is not None and handler.opt.get("public"))
    statuses = ["503"]
    if path not in UNLIMITED:
        statuses.append("429")
    if operation.parameters or operation.request_body:
        statuses += ["400", "422"]  # 422: a value the schema allows but the rules do not
    if not public or method in COMMANDS:  # public commands: login, refresh refuse with 401
        statuses.append("401")
        # 403: a role guard, or a public command that refuses some roles itself (a staff
        # token opening a cart)
        if (handler is not None and handler.resolve_guards()) or method in COMMANDS:
            statuses.append("403")
    if "{" in path:
        statuses.append("404")
    if method in COMMANDS:  # a body may be malformed even where none is declared (webhooks)
        statuses += ["400", "409", "422"]
    statuses = list(dict.fromkeys(statuses))
    return statuses


def document_errors(app: Litestar) -> None:
    """Add the error answers and security requirements to the app's generated document (the
    object Litestar serves at /schema, generated once and kept)."""
    schema = app.openapi_schema
    assert schema.components is not None
    schemas = schema.components.schemas = dict(schema.components.schemas or {})
    schemas["Problem"] = PROBLEM_SCHEMA
    handlers = _handlers(app)
    for path, item in (schema.paths or {}).items():
        for method in ("get", "post", "put", "patch", "delete"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            handler = handlers.get((path, method))
            responses = operation.responses = dict(operation.responses or {})
            for status in errors_for(path, method, operation, handler):
                responses[status] = _answer(status)
            _alternatives(responses, handler)
            public = handler is not None and handler.opt.get("public")
            operation.security = [] if public else [{"BearerToken": []}]


def _alternatives(responses: dict[str, Any], handler: Any) -> None:
    """A route that also answers in other media types (opt "also_answers": CSV beside
    JSON) says so in its 200 answer, each as text."""
    ok = responses.get("200")
    extra = handler.opt.get("also_answers", ()) if handler is not None else ()
    if not extra or not isinstance(ok, OpenAPIResponse):
        return
    ok.content = dict(ok.content or {})
    for media_type in extra:
        ok.content[media_type] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
