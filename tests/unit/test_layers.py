"""The layers the README draws hold in the code: imports run downhill, no package cycle,
domain services free of aiogram and runtime glue, benches free of tests, modules small."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ("bot", "handlers", "scheduling", "faq", "emulator", "demo", "migrations")
# Packages as the README's diagram names them (longest prefix wins).
PACKAGES = (
    "bot.services", "bot.delivery", "bot.telegram", "bot.cli", "bot.db", "bot.i18n", "bot.util",
    "bot.rendering", "bot.fsm_storage", "bot.config", "bot.callbacks", "handlers", "scheduling",
    "faq", "emulator", "demo", "migrations", "bench", "tests",
)


def _files(*tops: str) -> Iterator[Path]:
    for top in tops:
        yield from (ROOT / top).rglob("*.py")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _package(module: str) -> str | None:
    found = [p for p in PACKAGES if module == p or module.startswith(p + ".")]
    return max(found, key=len) if found else None


def _edges() -> dict[tuple[str, str], set[str]]:
    edges: dict[tuple[str, str], set[str]] = {}
    for path in _files(*APP, "bench"):
        source = _package(_module(path))
        for name in _imports(path):
            target = _package(name)
            if source and target and target != source:
                edges.setdefault((source, target), set()).add(str(path.relative_to(ROOT)))
    return edges


@pytest.mark.parametrize("forbidden", [
    "aiogram", "handlers", "scheduling", "bot.telegram", "bot.delivery", "bot.cli", "emulator",
    "demo",
])
def test_domain_services_import_no_runtime_glue(forbidden: str) -> None:
    offenders = sorted(
        str(path.relative_to(ROOT)) for path in _files("bot/services")
        if any(n == forbidden or n.startswith(forbidden + ".") for n in _imports(path))
    )
    assert offenders == [], f"bot/services imports {forbidden}: {offenders}"


def test_benches_import_nothing_from_tests() -> None:
    assert ("bench", "tests") not in _edges()


def test_no_import_cycle_between_packages() -> None:
    edges = _edges()
    graph: dict[str, set[str]] = {}
    for source, target in edges:
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return False

    cycles = sorted(f"{a} -> {b} ({sorted(files)[0]}) and back" for (a, b), files in edges.items()
                    if reaches(b, a))
    assert cycles == []


def test_no_commit_in_handlers() -> None:
    offenders = sorted(str(p.relative_to(ROOT)) for p in _files("handlers")
                       if ".commit(" in p.read_text(encoding="utf-8"))
    assert offenders == []


def test_modules_stay_small() -> None:
    big = sorted(f"{p.relative_to(ROOT)}: {n}" for p in _files(*APP)
                 if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500)
    assert big == []
    report = ROOT / "handlers" / "report.py"
    assert len(report.read_text(encoding="utf-8").splitlines()) <= 300
