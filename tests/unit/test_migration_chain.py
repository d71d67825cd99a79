"""The migration chain is linear and its files list in the order they run (migrations/README.md)."""

from __future__ import annotations

import re
from pathlib import Path

from alembic.script import ScriptDirectory

from migrations import runner

VERSIONS = Path(runner.MIGRATIONS_DIR) / "versions"
NAME = re.compile(r"(\d{2})_(\w+?)_\w*\.py")


def _chain() -> list[str]:
    script = ScriptDirectory.from_config(runner.alembic_config())
    assert len(script.get_heads()) == 1, f"more than one head: {script.get_heads()}"
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_one_head_and_files_follow_the_chain() -> None:
    files = sorted(p.name for p in VERSIONS.glob("*.py"))
    parsed = [NAME.fullmatch(name) for name in files]
    assert all(parsed), f"file names not NN_<revision>_<slug>.py: {files}"
    steps = [int(m.group(1)) for m in parsed if m]
    assert steps == list(range(1, len(files) + 1)), f"step numbers with gaps: {files}"
    assert [m.group(2) for m in parsed if m] == _chain()


def test_readme_lists_every_step() -> None:
    readme = (VERSIONS.parent / "README.md").read_text(encoding="utf-8")
    for step, revision in enumerate(_chain(), start=1):
        assert re.search(rf"\|\s*{step:02d}\s*\|\s*{revision}\s*\|", readme), revision
