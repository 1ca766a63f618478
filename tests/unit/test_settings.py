"""Settings refuse what would make the engine unsafe, with a one-line reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from tillroll.infra.settings import Settings, SettingsError


@pytest.mark.parametrize("secret", ["x", "change-me", "a" * 31])
def test_a_short_jwt_secret_is_refused(secret: str) -> None:
    with pytest.raises(SettingsError, match="at least 32 bytes") as raised:
        Settings.from_env({"TILLROLL_JWT_SECRET": secret})
    assert "\n" not in str(raised.value)


def test_a_long_enough_secret_or_none_is_accepted() -> None:
    assert Settings.from_env({"TILLROLL_JWT_SECRET": "s" * 32}).jwt_secret == "s" * 32
    assert Settings.from_env({}).jwt_secret is None


def test_secrets_and_urls_can_come_from_files(tmp_path: Path) -> None:
    """Docker secrets: TILLROLL_X_FILE names a file holding the value (final newline off)."""
    secret = tmp_path / "jwt"
    secret.write_text("s" * 40 + "\n")
    url = tmp_path / "db"
    url.write_text("postgresql://tillroll:pw@db/tillroll\n")
    settings = Settings.from_env(
        {"TILLROLL_JWT_SECRET_FILE": str(secret), "TILLROLL_DATABASE_URL_FILE": str(url)}
    )
    assert settings.jwt_secret == "s" * 40
    assert settings.database_url == "postgresql://tillroll:pw@db/tillroll"


def test_a_secret_file_short_missing_or_doubled_is_refused(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_text("x\n")
    with pytest.raises(SettingsError, match="at least 32 bytes"):
        Settings.from_env({"TILLROLL_JWT_SECRET_FILE": str(short)})
    with pytest.raises(SettingsError, match="cannot read"):
        Settings.from_env({"TILLROLL_REDIS_URL_FILE": str(tmp_path / "absent")})
    with pytest.raises(SettingsError, match="not both"):
        Settings.from_env({"TILLROLL_JWT_SECRET": "s" * 32, "TILLROLL_JWT_SECRET_FILE": str(short)})


def test_each_process_kind_sizes_its_own_pools() -> None:
    settings = Settings.from_env(
        {
            "TILLROLL_PG_POOL_SIZE": "8",
            "TILLROLL_PROJECTOR_PG_POOL_SIZE": "4",
            "TILLROLL_WORKER_PG_POOL_SIZE": "1",
        }
    )
    sizes = {
        kind: settings.for_process(kind).pg_pool_size
        for kind in ("api", "projector", "worker", "migrate")
    }
    assert sizes == {"api": 8, "projector": 4, "worker": 1, "migrate": 1}
    assert Settings.from_env(settings.as_env()).for_process("projector").pg_pool_size == 4
    with pytest.raises(SettingsError, match="1 or more"):
        Settings.from_env({"TILLROLL_WORKER_PG_POOL_SIZE": "0"})


def test_the_ready_lag_threshold_is_in_seconds() -> None:
    assert Settings.from_env({}).ready_max_lag_seconds == 30.0
    assert Settings.from_env({"TILLROLL_READY_MAX_LAG": "2.5"}).ready_max_lag_seconds == 2.5
