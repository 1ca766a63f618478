"""The house rules, checked against the code: which package may import which, no cycles
between packages, and every subpackage installed under `tillroll` (pyproject.toml)."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("aggregates", "commands", "queries", "projections", "api", "infra")

ALLOWED: dict[str, set[str]] = {
    # the domain imports nothing of ours
    "aggregates": set(),
    # adapters to the outside world know the domain's values, nothing above them
    "infra": {"aggregates"},
    "commands": {"aggregates"},
    "projections": {"aggregates"},
    # the read side reads the read models' catalogue (and the audit queries the log's port)
    "queries": {"aggregates", "projections"},
    # the HTTP edge calls commands and queries through their ports, never an adapter
    "api": {"aggregates", "commands", "queries"},
    # the composition root and the entry points wire everything
    "tillroll": {"aggregates", "commands", "queries", "projections", "api", "infra"},
}


def _modules() -> Iterator[tuple[str, Path]]:
    for package in (*PACKAGES, "tillroll"):
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path


def _imported_packages(path: Path) -> set[str]:
    """The top-level tillroll packages a module imports (`tillroll.<package>...`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] in PACKAGES:
                found.add(f"bare:{parts[0]}")  # not under tillroll: breaks once installed
            elif parts[0] == "tillroll":
                found.add(parts[1] if len(parts) > 1 and parts[1] in PACKAGES else "tillroll")
    return found


def test_every_import_goes_through_the_tillroll_package() -> None:
    bare = [
        f"{path.relative_to(ROOT)} imports {name[5:]}"
        for _, path in _modules()
        for name in _imported_packages(path)
        if name.startswith("bare:")
    ]
    assert bare == []


def test_packages_import_only_what_the_layout_allows() -> None:
    wrong = []
    for package, path in _modules():
        for imported in _imported_packages(path) - {package} - {"bare:" + p for p in PACKAGES}:
            if imported not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports tillroll.{imported}")
    assert wrong == []


def test_no_cycles_between_packages() -> None:
    edges: dict[str, set[str]] = {p: set() for p in ALLOWED}
    for package, path in _modules():
        edges[package] |= {p for p in _imported_packages(path) if p in edges} - {package}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in edges[start]
        )

    assert [p for p in edges if reaches(p, p, set())] == []


def test_every_subpackage_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = {folder: name for name, folder in config["package-dir"].items()}
    on_disk = {
        ".".join([mapped[init.parent.relative_to(ROOT).parts[0]]])
        + "".join(f".{part}" for part in init.parent.relative_to(ROOT).parts[1:])
        for folder in mapped
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert on_disk == set(config["packages"])
