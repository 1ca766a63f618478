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


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None


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
    log_level: str = "INFO"
    log_json: bool = False
    projection_batch: int = 500
    """Events a projection applies per transaction while following the log."""
    projection_rebuild_batch: int = 5000
    """Events a rebuild reads and applies per transaction."""
    read_wait_seconds: float = 2.0
    """How long a read with ?min_position=N waits for its read model."""
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
            database_url=env.get("TILLROLL_DATABASE_URL") or None,
            redis_url=env.get("TILLROLL_REDIS_URL") or None,
            data_dir=Path(env.get("TILLROLL_DATA_DIR") or ".tillroll"),
            demo=_flag(env.get("TILLROLL_DEMO"), None),
            jwt_secret=env.get("TILLROLL_JWT_SECRET") or None,
            jwt_ttl_seconds=_int(env, "TILLROLL_JWT_TTL", 3600),
            host=env.get("TILLROLL_HOST") or "127.0.0.1",
            port=_int(env, "TILLROLL_PORT", 8000),
            run_projections=bool(_flag(env.get("TILLROLL_PROJECTIONS"), True)),
            event_schema=env.get("TILLROLL_EVENT_SCHEMA") or "public",
            read_schema=env.get("TILLROLL_READ_SCHEMA") or "read_models",
            redis_prefix=env.get("TILLROLL_REDIS_PREFIX") or "tr:",
            pg_pool_size=_int(env, "TILLROLL_PG_POOL_SIZE", 10),
            log_level=(env.get("TILLROLL_LOG_LEVEL") or "INFO").upper(),
            log_json=bool(_flag(env.get("TILLROLL_LOG_JSON"), False)),
            projection_batch=_int(env, "TILLROLL_PROJECTION_BATCH", 500),
            projection_rebuild_batch=_int(env, "TILLROLL_PROJECTION_REBUILD_BATCH", 5000),
            stripe_api_key=env.get("TILLROLL_STRIPE_API_KEY") or None,
            stripe_webhook_secret=env.get("TILLROLL_STRIPE_WEBHOOK_SECRET") or None,
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
            "TILLROLL_LOG_LEVEL": self.log_level,
            "TILLROLL_PROJECTION_BATCH": str(self.projection_batch),
            "TILLROLL_PROJECTION_REBUILD_BATCH": str(self.projection_rebuild_batch),
            "TILLROLL_STRIPE_API_KEY": self.stripe_api_key or "",
            "TILLROLL_STRIPE_WEBHOOK_SECRET": self.stripe_webhook_secret or "",
            "TILLROLL_STRIPE_API_BASE": self.stripe_api_base or "",
            "TILLROLL_STRIPE_WEBHOOK_TOLERANCE": str(self.stripe_webhook_tolerance),
        }
        if self.demo is not None:
            env["TILLROLL_DEMO"] = "1" if self.demo else "0"
        return env

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
