"""The ops and auditor console at /console: server-rendered pages (Jinja templates) with htmx,
every asset served by tillroll itself, on the same services, role guards, headers and
request ids as the JSON API. Its session is a cookie; its forms are CSRF-checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.datastructures import ResponseHeader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from tillroll.api.auth import CONSOLE_PATH, roles
from tillroll.api.console.audit_view import AuditConsole
from tillroll.api.console.ops_view import OpsConsole
from tillroll.api.console.session import (
    CONSOLE_ROLES,
    HOME,
    ConsoleCsrf,
    html_exception_handlers,
    login,
    login_form,
    logout,
    principal_of,
)

HERE = Path(__file__).parent
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
"""Only tillroll's own files run or style the pages: no inline script, no eval (htmx is
configured without either, templates/layout.html)."""
STATIC = f"{CONSOLE_PATH}/static"


def template_config() -> TemplateConfig[Any]:
    return TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)


@get("/", guards=[roles(*CONSOLE_ROLES)])
async def home(request: Request) -> Redirect:
    """The caller's view: ops to the read models, auditors to the history."""
    return Redirect(HOME[principal_of(request).role], status_code=303)


def console_router(jwt_secret: str) -> Router:
    csrf = ConsoleCsrf(jwt_secret)
    static = create_static_files_router(
        path="/static",
        directories=[HERE / "static"],
        opt={"public": True},
        include_in_schema=False,
        name="console-static",
        # The files change only with a release; the name of the page's script does not.
        cache_control=None,
    )
    return Router(
        path=CONSOLE_PATH,
        route_handlers=[home, login_form, login, logout, OpsConsole, AuditConsole, static],
        middleware=[csrf.middleware],
        exception_handlers=html_exception_handlers(csrf),
        response_headers=[ResponseHeader(name="Content-Security-Policy", value=CSP)],
        include_in_schema=False,
    )
