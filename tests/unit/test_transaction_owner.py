"""Handlers and services never commit: the update's middleware (or the job, the command, the
sender) owns the transaction. A scan of the source, so a new `.commit(` fails here at once."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("handlers", "bot/services")
# Services still committing while their owner moves them to the caller's transaction; remove an
# entry once its module no longer commits.
PENDING: set[str] = set()


def _commits(path: Path) -> list[int]:
    """Lines of `path` that call a `.commit(` method."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == "commit"]


def test_no_handler_or_service_commits() -> None:
    found = {}
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            lines = _commits(path)
            if lines and name not in PENDING:
                found[name] = lines
    assert found == {}, f"handlers and services must not commit (flush instead): {found}"


def test_the_scan_sees_a_commit(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("async def f(session):\n    await session.flush()\n"
                      "    await session.commit()\n", encoding="utf-8")
    assert _commits(sample) == [3]
