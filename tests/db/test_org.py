"""Loading organisation trees: idempotent, any depth, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models.audit import AuditEntry
from bot.db.models.org import Unit
from bot.db.repo import units as units_repo
from bot.services.roster import org as org_service
from bot.services.shared.errors import DomainError
from tests.conftest import GUANGDONG, ZHENGZHOU, at

NOW = at("2018-10-08 09:00")


async def test_zhengzhou_loads_with_paths(session: AsyncSession) -> None:
    result = await org_service.load_tree(session, org_service.read_tree(ZHENGZHOU), now=NOW)
    assert (result.created, result.updated) == (17, 0)
    jinshui = await session.get(Unit, "410105")
    assert jinshui is not None and jinshui.path == "/410100/410105/" and jinshui.depth == 1
    assert jinshui.name == "金水区" and jinshui.display_name("en") == "Jinshui"
    root = await session.get(Unit, "410100")
    assert root is not None and root.extra["published"]["census_zones"] == 3042
    assert root.extra["published"]["survey_start"] == "2018-10-01"
    assert len(await units_repo.subtree(session, root)) == 17


async def test_loading_twice_changes_nothing(session: AsyncSession) -> None:
    tree = org_service.read_tree(GUANGDONG)
    await org_service.load_tree(session, tree, now=NOW)
    audits = await session.scalar(select(func.count()).select_from(AuditEntry))
    again = await org_service.load_tree(session, tree, now=at("2018-10-09 09:00"))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 22)
    assert await session.scalar(select(func.count()).select_from(AuditEntry)) == audits


async def test_deeper_tree_and_rename(session: AsyncSession) -> None:
    tree = {"code": "P", "name": "省", "level": "province", "children": [
        {"code": "C", "name": "市", "level": "city", "children": [
            {"code": "X", "name": "县", "level": "county", "children": [
                {"code": "T", "name": "镇", "level": "town"}]}]}]}
    await org_service.load_tree(session, tree, now=NOW)
    town = await session.get(Unit, "T")
    assert town is not None and town.path == "/P/C/X/T/" and town.depth == 3
    tree["children"][0]["name"] = "新市"
    result = await org_service.load_tree(session, tree, now=NOW)
    assert (result.created, result.updated, result.unchanged) == (0, 1, 3)
    county = await session.get(Unit, "X")
    assert county is not None
    assert [u.code for u in await units_repo.ancestors(session, county)] == ["P", "C"]
    # the unit with the units above it, in one statement; a sibling's prefix is no ancestor
    await org_service.load_tree(session, {**tree, "children": [*tree["children"], {
        "code": "C2", "name": "另一市", "level": "city"}]}, now=NOW)
    assert [u.code for u in await units_repo.chain(session, "T")] == ["P", "C", "X", "T"]
    assert [u.code for u in await units_repo.chain(session, "C2")] == ["P", "C2"]
    assert [u.code for u in await units_repo.chain(session, "P")] == ["P"]
    assert await units_repo.chain(session, "nowhere") == []


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("code: A\nname: x\n", "code, name and level are required"),
        ("- just a list\n", "must hold one unit"),
        ("code: A\nname: a\nlevel: city\nchildren:\n  - {code: A, name: b, level: county}\n",
         "repeated or malformed"),
        ("code: [\n", "Cannot read"),
    ],
)
def test_bad_files_are_refused(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "org.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DomainError, match=reason):
        org_service.flatten(org_service.read_tree(path))
