"""Settings refuse what would make the engine unsafe, with a one-line reason."""

from __future__ import annotations

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
