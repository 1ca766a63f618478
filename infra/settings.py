"""Settings: one frozen dataclass built once from TILLROLL_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path


class SettingsError(ValueError):
    pass


def _flag(value: str | None, default: bool | None) -> bool | None:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "y", "on"}:
        return True
    if lowered in {"0", "false", "no", "n", "off"}:
        return False
    raise SettingsError(f"not a boolean: {value!r}")


def duration(raw: str) -> float:
    """Seconds from `90`, `90s`, `30m`, `2h` (a plain number is seconds)."""
    text = raw.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    scale = units.get(text[-1:])
    number = text[:-1] if scale is not None else text
    try:
        seconds = float(number) * (scale or 1)
    except ValueError:
        raise SettingsError(f"not a duration (e.g. 90s, 30m, 2h): {raw!r}") from None
    if not seconds > 0 or seconds == float("inf"):
        raise SettingsError(f"a duration must be positive: {raw!r}")
    return seconds


def _value_or_file(env: Mapping[str, str], name: str) -> str | None:
    """NAME, or the contents of the file NAME_FILE names (Docker secrets: the value stays
    out of the environment and of `docker inspect`), without its final newline."""
    value = env.get(name) or None
    path = env.get(f"{name}_FILE") or None
    if path is None:
        return value
    if value is not None:
        raise SettingsError(f"set {name} or {name}_FILE, not both")
    try:
        return Path(path).read_text().rstrip("\r\n") or None
    except OSError as exc:
        raise SettingsError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise SettingsError(f"{name} must be 1 or more, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not value >= 0:
        raise SettingsError(f"{name} must be 0 or more, got {raw!r}")
    return value


RATE_UNITS = ("second", "minute", "hour", "day")


def parse_rate(text: str) -> tuple[str, int] | None:
    """`100/minute` → ("minute", 100); `off` or `0` → None (no limit)."""
    text = text.strip().lower()
    if text in ("", "0", "off", "none"):
        return None
    count, _, unit = text.partition("/")
    if unit not in RATE_UNITS or not count.isdigit() or int(count) <= 0:
        raise SettingsError(f"TILLROLL_RATE_LIMIT is N/second|minute|hour|day or off, not {text!r}")
    return unit, int(count)


MIN_SECRET_BYTES = 32
"""HS256 keys shorter than the hash output (32 bytes) can be brute-forced offline from one
token (RFC 7518 section 3.2 requires at least this)."""


def _rate(text: str) -> str:
    parse_rate(text)  # refuse a bad one at start, with the reason
    return text


def _secret(value: str | None) -> str | None:
    if value is not None and len(value.encode()) < MIN_SECRET_BYTES:
        raise SettingsError(
            f"TILLROLL_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes "
            f"(got {len(value.encode())}); e.g. `python -c 'import secrets; "
            "print(secrets.token_hex(32))'`"
        )
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    """External PostgreSQL; None starts the embedded one under data_dir."""
    redis_url: str | None = None
    """External Redis/valkey; None starts the embedded valkey under data_dir."""
    data_dir: Path = Path(".tillroll")
    demo: bool | None = None
    """Seed demo data on first start. None: on for embedded servers, off for external ones."""
    jwt_secret: str | None = None
    """None: a random secret kept in data_dir (fine for the embedded default only)."""
    jwt_ttl_seconds: int = 3600
    host: str = "127.0.0.1"
    port: int = 8000
    run_projections: bool = True
    """Run the projection runner inside `tillroll serve`."""
    event_schema: str = "public"
    """PostgreSQL schema of the event store."""
    read_schema: str = "read_models"
    """PostgreSQL schema of the SQL read models."""
    redis_prefix: str = "tr:"
    """Prefix of every Redis key the read models write."""
    pg_pool_size: int = 10
    """The most connections each of a process's two PostgreSQL pools (event store, read
    models) opens; each keeps one open when idle. This is the API's size; the other process
    kinds use their own (for_process, docs/DEPLOYMENT.md "Connection budget")."""
    projector_pg_pool_size: int = 3
    """Pool size of `tillroll projections run`: one follower reads pages and writes each
    batch in one transaction, reactions save now and then."""
    worker_pg_pool_size: int = 2
    """Pool size of `tillroll worker` (one job at a time) and of one-off commands (migrate,
    users, projections rebuild ...)."""
    log_level: str = "INFO"
    log_json: bool = False
    access_log: bool = False
    """One line per request (logger tillroll.access). Off by default: a line costs more
    server CPU than a cached read itself (tests/bench/bench_guards.py)."""
    projection_batch: int = 500
    """Events a projection applies per transaction while following the log."""
    projection_rebuild_batch: int = 5000
    """Events a rebuild reads and applies per transaction."""
    read_wait_seconds: float = 1.5
    """How long a read with ?min_position=N waits for its read model (less than the request
    deadline, so that a read model behind answers as such)."""
    rate_limit: str = "100/minute"
    """Requests per client address, shared by all processes (`N/second|minute|hour|day`, or
    `off`); the health probes and /metrics are never limited."""
    ready_max_lag_seconds: float = 30.0
    """`/ready` says not ready while a read model's oldest unapplied event is older than
    this (its lag in seconds)."""
    request_deadline_seconds: float = 2.0
    """An answer not started by then is a 503 with Retry-After (a stalled database); 0: none."""
    live_stream_seconds: float = 300.0
    """How long a Server-Sent Events stream lasts (never past the caller's token); the
    browser's EventSource then reconnects with Last-Event-ID and misses nothing."""
    smtp_url: str | None = None
    """smtp://user:pass@host:587?starttls=1 or smtps://...; None writes .eml files under
    data_dir/mail instead."""
    mail_from: str = "tillroll <shop@tillroll.invalid>"
    payment_timeout: float = 1800.0
    """Seconds an order may stay unpaid before its reservation expires (it is cancelled)."""
    stripe_api_key: str | None = None
    """None: the built-in test-mode payment provider (no Stripe account needed)."""
    stripe_webhook_secret: str | None = None
    """None: a random one kept in data_dir (test mode only makes sense then)."""
    stripe_api_base: str | None = None
    """Another Stripe API address (a local fake in tests); None: Stripe's own."""
    stripe_webhook_tolerance: int = 300
    """Seconds a webhook's signed timestamp may be old."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=_value_or_file(env, "TILLROLL_DATABASE_URL"),
            redis_url=_value_or_file(env, "TILLROLL_REDIS_URL"),
            data_dir=Path(env.get("TILLROLL_DATA_DIR") or ".tillroll"),
            demo=_flag(env.get("TILLROLL_DEMO"), None),
            jwt_secret=_secret(_value_or_file(env, "TILLROLL_JWT_SECRET")),
            jwt_ttl_seconds=_int(env, "TILLROLL_JWT_TTL", 3600),
            host=env.get("TILLROLL_HOST") or "127.0.0.1",
            port=_int(env, "TILLROLL_PORT", 8000),
            run_projections=bool(_flag(env.get("TILLROLL_PROJECTIONS"), True)),
            event_schema=env.get("TILLROLL_EVENT_SCHEMA") or "public",
            read_schema=env.get("TILLROLL_READ_SCHEMA") or "read_models",
            redis_prefix=env.get("TILLROLL_REDIS_PREFIX") or "tr:",
            pg_pool_size=_positive(env, "TILLROLL_PG_POOL_SIZE", 10),
            projector_pg_pool_size=_positive(env, "TILLROLL_PROJECTOR_PG_POOL_SIZE", 3),
            worker_pg_pool_size=_positive(env, "TILLROLL_WORKER_PG_POOL_SIZE", 2),
            log_level=(env.get("TILLROLL_LOG_LEVEL") or "INFO").upper(),
            log_json=bool(_flag(env.get("TILLROLL_LOG_JSON"), False)),
            access_log=bool(_flag(env.get("TILLROLL_ACCESS_LOG"), False)),
            projection_batch=_int(env, "TILLROLL_PROJECTION_BATCH", 500),
            projection_rebuild_batch=_int(env, "TILLROLL_PROJECTION_REBUILD_BATCH", 5000),
            request_deadline_seconds=_float(env, "TILLROLL_REQUEST_DEADLINE", 2.0),
            ready_max_lag_seconds=_float(env, "TILLROLL_READY_MAX_LAG", 30.0),
            rate_limit=_rate(env.get("TILLROLL_RATE_LIMIT") or "100/minute"),
            smtp_url=_value_or_file(env, "TILLROLL_SMTP_URL"),
            live_stream_seconds=_float(env, "TILLROLL_LIVE_STREAM_SECONDS", 300.0),
            mail_from=env.get("TILLROLL_MAIL_FROM") or "tillroll <shop@tillroll.invalid>",
            payment_timeout=duration(env.get("TILLROLL_PAYMENT_TIMEOUT") or "30m"),
            stripe_api_key=_value_or_file(env, "TILLROLL_STRIPE_API_KEY"),
            stripe_webhook_secret=_value_or_file(env, "TILLROLL_STRIPE_WEBHOOK_SECRET"),
            stripe_api_base=env.get("TILLROLL_STRIPE_API_BASE") or None,
            stripe_webhook_tolerance=_int(env, "TILLROLL_STRIPE_WEBHOOK_TOLERANCE", 300),
        )

    def as_env(self) -> dict[str, str]:
        """These settings as TILLROLL_* variables, for a child process (from_env's inverse)."""
        env = {
            "TILLROLL_DATABASE_URL": self.database_url or "",
            "TILLROLL_REDIS_URL": self.redis_url or "",
            "TILLROLL_DATA_DIR": str(self.data_dir),
            "TILLROLL_JWT_SECRET": self.jwt_secret or "",
            "TILLROLL_JWT_TTL": str(self.jwt_ttl_seconds),
            "TILLROLL_HOST": self.host,
            "TILLROLL_PORT": str(self.port),
            "TILLROLL_PROJECTIONS": "1" if self.run_projections else "0",
            "TILLROLL_EVENT_SCHEMA": self.event_schema,
            "TILLROLL_READ_SCHEMA": self.read_schema,
            "TILLROLL_REDIS_PREFIX": self.redis_prefix,
            "TILLROLL_PG_POOL_SIZE": str(self.pg_pool_size),
            "TILLROLL_PROJECTOR_PG_POOL_SIZE": str(self.projector_pg_pool_size),
            "TILLROLL_WORKER_PG_POOL_SIZE": str(self.worker_pg_pool_size),
            "TILLROLL_LOG_LEVEL": self.log_level,
            "TILLROLL_LOG_JSON": "1" if self.log_json else "0",
            "TILLROLL_ACCESS_LOG": "1" if self.access_log else "0",
            "TILLROLL_PROJECTION_BATCH": str(self.projection_batch),
            "TILLROLL_PROJECTION_REBUILD_BATCH": str(self.projection_rebuild_batch),
            "TILLROLL_REQUEST_DEADLINE": str(self.request_deadline_seconds),
            "TILLROLL_READY_MAX_LAG": str(self.ready_max_lag_seconds),
            "TILLROLL_RATE_LIMIT": self.rate_limit,
            "TILLROLL_LIVE_STREAM_SECONDS": str(self.live_stream_seconds),
            "TILLROLL_SMTP_URL": self.smtp_url or "",
            "TILLROLL_MAIL_FROM": self.mail_from,
            "TILLROLL_PAYMENT_TIMEOUT": repr(self.payment_timeout),
            "TILLROLL_STRIPE_API_KEY": self.stripe_api_key or "",
            "TILLROLL_STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret or "",
            "TILLROLL_STRIPE_API_BASE": self.stripe_api_base or "",
            "TILLROLL_STRIPE_WEBHOOK_TOLERANCE": str(self.stripe_webhook_tolerance),
        }
        if self.demo is not None:
            env["TILLROLL_DEMO"] = "1" if self.demo else "0"
        return env

    def for_process(self, kind: str) -> Settings:
        """These settings for one kind of process: `api` keeps pg_pool_size, `projector`
        and every other kind (worker, migrate, one-off commands) take their own smaller
        pools (the connection budget in docs/DEPLOYMENT.md)."""
        if kind == "api":
            return self
        size = self.projector_pg_pool_size if kind == "projector" else self.worker_pg_pool_size
        return replace(self, pg_pool_size=size)

    @property
    def embedded(self) -> bool:
        return self.database_url is None or self.redis_url is None

    @property
    def seed_demo(self) -> bool:
        if self.demo is not None:
            return self.demo
        return self.database_url is None

    def with_urls(self, database_url: str, redis_url: str) -> Settings:
        """The same settings once embedded servers are up (demo seeding decided before)."""
        return replace(self, database_url=database_url, redis_url=redis_url, demo=self.seed_demo)
