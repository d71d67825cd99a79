"""Reports in the database (SQLite and PostgreSQL): versions, drafts, targets, progress API."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.services.access.principal import Grant, Principal
from bot.services.reports import submission as svc
from bot.services.reports.progress import due_units, progress_snapshot, reporting_status, rollup
from bot.services.reports.templates import data_dir
from bot.services.roster import org as org_service
from bot.services.shared.errors import DomainError
from tests.conftest import GUANGDONG, ZHENGZHOU, at

LIAISON = Principal(1, "zh_CN", (Grant("liaison", "410102", "/410100/410102/"),))
HEAD = Principal(2, "en", (Grant("office_head", "410100", "/410100/"),))
OTHER = Principal(3, "zh_CN", (Grant("liaison", "410103", "/410100/410103/"),))
ENUMERATOR = Principal(4, "zh_CN", (Grant("enumerator", "410102", "/410100/410102/"),))
FULL = {"industrial_filled": 120, "industrial_entered": 100, "livestock_filled": 30,
        "livestock_entered": 20, "domestic_filled": 10, "domestic_entered": 8,
        "centralized_filled": 5, "centralized_entered": 5, "mobile_filled": 12,
        "mobile_entered": 10}


@pytest.fixture
async def zz(sessionmaker: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Zhengzhou with the synthetic targets."""
    async with sessionmaker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=at("2018-10-01 08:00"))
        await s.commit()  # the test is the unit-of-work owner
    async with sessionmaker() as s:
        rows = svc.read_targets_file(data_dir() / "targets" / "zhengzhou.synthetic.yaml")
        count, errors = await svc.import_targets(s, rows, source="t", now=at("2018-10-01 08:00"))
        await s.commit()  # the test is the unit-of-work owner
    assert errors == [] and count == 16 * 11
    return sessionmaker


async def _submit(sm: async_sessionmaker[AsyncSession], principal: Principal, unit: str,
                  when: str, values: Mapping[str, float | str], reason: str | None = None) -> int:
    async with sm() as s:
        report = await svc.submit(s, principal=principal, unit_code=unit, phase="survey",
                                  values=values, source="quick", now=at(when), locale="en",
                                  reason=reason)
        await s.commit()  # the test is the unit-of-work owner
        return report.version


async def test_synthetic_targets_add_up_to_the_published_city_totals(zz: async_sessionmaker[
        AsyncSession]) -> None:
    async with zz() as s:
        snap = await progress_snapshot(s, root_code="410100", phase="survey",
                                       now=at("2018-10-08 09:00"))
        await s.commit()  # the test is the unit-of-work owner
    assert len(snap) == 16
    assert sum(p.targets["industrial"] for p in snap) == 12616
    assert sum(p.targets["livestock"] for p in snap) == 1617
    assert sum(p.targets["mobile"] for p in snap) == 654
    assert {p.status for p in snap} == {"not_due"}


async def test_statuses_late_missing_and_rollup(zz: async_sessionmaker[AsyncSession]) -> None:
    assert await _submit(zz, LIAISON, "410102", "2018-10-08 17:59", FULL) == 1
    assert await _submit(zz, OTHER, "410103", "2018-10-08 18:01",
                         {**FULL, "industrial_filled": 300}) == 1
    async with zz() as s:
        snap = await progress_snapshot(s, root_code="410100", phase="survey",
                                       now=at("2018-10-08 18:30"))
        by = {p.unit_code: p for p in snap}
        assert by["410102"].status == "submitted" and by["410103"].status == "late"
        assert by["410104"].status == "missing" and by["410104"].values == {}
        assert by["410102"].values["industrial_filled"] == 120
        # completion = (120+30+10+5+12) / (883+113+57+15+46) = 177/1114
        assert by["410102"].completion_rate == pytest.approx(100 * 177 / 1114, abs=0.01)
        totals = await rollup(s, "410100", snap)
        assert [r.unit_code for r in totals] == ["410100"]
        city = totals[0]
        assert city.values["industrial_filled"] == 420 and city.targets["industrial"] == 12616
        assert city.by_status == {"submitted": 1, "late": 1, "missing": 14, "not_due": 0}
        one = await reporting_status(s, unit_code="410102", phase="survey",
                                     now=at("2018-10-08 18:30"))
        assert one.submitted_at == at("2018-10-08 17:59")
        with pytest.raises(DomainError):
            await reporting_status(s, unit_code="410100", phase="survey",
                                   now=at("2018-10-08 18:30"))


async def test_next_period_carries_cumulative_values_and_previous_rate(
        zz: async_sessionmaker[AsyncSession]) -> None:
    await _submit(zz, LIAISON, "410102", "2018-10-08 10:00",
                  {**FULL, "training_sessions": 3, "problems": "x"})
    async with zz() as s:
        p = await reporting_status(s, unit_code="410102", phase="survey",
                                   now=at("2018-10-09 19:00"))
        await s.commit()  # the test is the unit-of-work owner
    assert p.status == "missing" and p.period_start == date(2018, 10, 9)
    assert p.values["industrial_filled"] == 120 and "training_sessions" not in p.values
    assert p.previous_rate == pytest.approx(100 * 177 / 1114, abs=0.01)
    async with zz() as s:  # a bulletin about the earlier period
        snap = await progress_snapshot(s, root_code="410102", phase="survey",
                                       now=at("2018-10-09 19:00"), period_end=date(2018, 10, 8))
        await s.commit()  # the test is the unit-of-work owner
    assert snap[0].status == "submitted" and snap[0].text == {"problems": "x"}


async def test_corrections_are_versions_and_decreases_need_a_reason(
        zz: async_sessionmaker[AsyncSession]) -> None:
    await _submit(zz, LIAISON, "410102", "2018-10-08 10:00", FULL)
    with pytest.raises(DomainError, match="give the reason"):
        await _submit(zz, LIAISON, "410102", "2018-10-08 11:00",
                      {**FULL, "industrial_filled": 110})
    assert await _submit(zz, HEAD, "410102", "2018-10-08 11:00",
                         {**FULL, "industrial_filled": 110}, reason="duplicates") == 2
    # above the target: refused until the newly found objects (新增) are given
    with pytest.raises(DomainError, match="above its target"):
        await _submit(zz, LIAISON, "410102", "2018-10-08 12:00",
                      {**FULL, "industrial_filled": 5000})
    async with zz() as s:
        versions = await svc.versions(s, "410102", "survey", date(2018, 10, 8))
        assert [(v.version, v.submitted_by, v.values["industrial_filled"]) for v in versions] \
            == [(1, 1, 120), (2, 2, 110)]
        p = await reporting_status(s, unit_code="410102", phase="survey",
                                   now=at("2018-10-08 20:00"))
        assert p.version == 2 and p.values["industrial_filled"] == 110
        assert p.submitted_at == at("2018-10-08 10:00")  # on time: the first version counts
        await s.commit()  # the test is the unit-of-work owner


@pytest.mark.parametrize("who", [OTHER, ENUMERATOR, None])
async def test_only_liaisons_and_heads_of_the_unit_submit(
        zz: async_sessionmaker[AsyncSession], who: Principal | None) -> None:
    with pytest.raises(DomainError, match="Only a liaison or office head"):
        await _submit(zz, who, "410102", "2018-10-08 10:00", FULL)  # type: ignore[arg-type]
    async with zz() as s:
        assert [a.unit.code for a in await svc.reportable(s, HEAD)][:2] == ["410102", "410103"]
        assert [a.unit.code for a in await svc.reportable(s, LIAISON)] == ["410102"]
        assert await svc.reportable(s, ENUMERATOR) == []
        await s.commit()  # the test is the unit-of-work owner


async def test_drafts_survive_sessions(zz: async_sessionmaker[AsyncSession]) -> None:
    async with zz() as s:
        await svc.save_draft(s, user_id=1, now=at("2018-10-08 10:00"), phase="survey",
                             unit_code="410102", values={"industrial_filled": 1.0}, cursor=1)
        await s.commit()  # the test is the unit-of-work owner
    async with zz() as s:
        draft = await svc.get_draft(s, 1)
        assert draft is not None and draft.cursor == 1
        assert draft.values == {"industrial_filled": 1}
        # replaced in one statement: the object this session holds shows the new draft, its
        # creation time kept
        again = await svc.save_draft(s, user_id=1, now=at("2018-10-08 10:02"), phase="survey",
                                     unit_code="410102", values={"industrial_filled": 2.0},
                                     cursor=2, stage="confirm", reason="x")
        assert again is draft and (draft.cursor, draft.stage, draft.reason) == (2, "confirm", "x")
        assert draft.values == {"industrial_filled": 2}
        await s.commit()  # the test is the unit-of-work owner
    async with zz() as s:
        draft = await svc.get_draft(s, 1)
        assert draft is not None and (draft.cursor, draft.values) == (2, {"industrial_filled": 2})
        assert (draft.created_at, draft.updated_at) == (at("2018-10-08 10:00"),
                                                        at("2018-10-08 10:02"))
        await s.commit()  # the test is the unit-of-work owner
    await _submit(zz, LIAISON, "410102", "2018-10-08 10:05", FULL)
    async with zz() as s:
        assert await svc.get_draft(s, 1) is None  # submitting clears it
        await s.commit()  # the test is the unit-of-work owner


async def test_due_units_and_unknown_targets(zz: async_sessionmaker[AsyncSession]) -> None:
    async with zz() as s:
        due = await due_units(s, now=at("2018-10-08 09:00"))
        assert len(due) == 16 and due[0][2].deadline == at("2018-10-08 18:00")
        count, errors = await svc.import_targets(
            s, [svc.TargetRow("999", "survey", "industrial", 1),
                svc.TargetRow("410102", "survey", "bogus", 1),
                svc.TargetRow("410102", "nophase", "industrial", 1)],
            source="t", now=at("2018-10-08 09:00"))
        assert count == 0 and len(errors) == 3
        await s.commit()  # the test is the unit-of-work owner


async def test_report_depth_for_a_province(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    tree = org_service.read_tree(GUANGDONG)
    tree["report_depth"] = 2
    for city in tree["children"]:  # SYNTHETIC counties: two under each city
        city["children"] = [{"code": f"{city['code']}S{i}", "name": f"合成县{i}",
                             "level": "county"} for i in (1, 2)]
    async with sessionmaker() as s:
        await org_service.load_tree(s, tree, now=at("2018-10-01 08:00"))
        await s.commit()  # the test is the unit-of-work owner
    cities = len(tree["children"])
    async with sessionmaker() as s:
        snap = await progress_snapshot(s, root_code=str(tree["code"]), phase="survey",
                                       now=at("2018-10-08 19:00"))
        assert len(snap) == 2 * cities and all(p.unit_code[-2] == "S" for p in snap)
        totals = await rollup(s, str(tree["code"]), snap)
        await s.commit()  # the test is the unit-of-work owner
    assert len(totals) == 1 + cities
    assert totals[0].units == 2 * cities and totals[0].by_status["missing"] == 2 * cities
    assert all(r.units == 2 for r in totals[1:])


def test_cli_imports_targets_from_yaml_and_xlsx(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from openpyxl import Workbook

    from bot.cli.main import main

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/cli.sqlite3")
    assert main(["org", "load", str(ZHENGZHOU)]) == 0
    synthetic = data_dir() / "targets" / "zhengzhou.synthetic.yaml"
    assert main(["report", "targets", str(synthetic)]) == 0
    assert "176 imported, 0 rejected" in capsys.readouterr().out
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["单位代码", "阶段", "指标", "目标"])
    ws.append(["410102", "survey", "industrial", "1,000"])
    ws.append(["999999", "survey", "industrial", 5])
    wb.save(tmp_path / "targets.xlsx")
    assert main(["report", "targets", str(tmp_path / "targets.xlsx")]) == 1
    out = capsys.readouterr().out
    assert "rejected: 999999: unknown unit" in out and "1 imported, 1 rejected" in out
    (tmp_path / "bad.xlsx").write_bytes(b"nope")
    assert main(["report", "targets", str(tmp_path / "bad.xlsx")]) == 2


async def _outbox(sm: async_sessionmaker[AsyncSession]) -> list[tuple[int, str, str]]:
    from sqlalchemy import select

    from bot.db.models.outbox import OutboxMessage

    async with sm() as s:
        rows = (await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        return [(r.chat_id, r.kind, r.payload.get("text", "")) for r in rows]


async def test_a_correction_tells_the_office_heads_what_changed(
        zz: async_sessionmaker[AsyncSession]) -> None:
    from bot.services.access.users import grant_role, set_language

    async with zz() as s:
        await grant_role(s, now=at("2018-10-01 08:00"), user_id=2, role="office_head",
                         unit_code="410100")
        await grant_role(s, now=at("2018-10-01 08:00"), user_id=5, role="office_head",
                         unit_code="410100")
        await s.commit()
    async with zz() as s:
        await set_language(s, user_id=2, locale="en", now=at("2018-10-01 08:00"))
        await s.commit()  # the test is the unit-of-work owner
    await _submit(zz, LIAISON, "410102", "2018-10-08 10:00", FULL)
    assert await _outbox(zz) == [], "a first submission is not news"
    await _submit(zz, LIAISON, "410102", "2018-10-08 19:00",
                  {**FULL, "industrial_filled": 130}, reason="")
    notices = await _outbox(zz)
    assert sorted(chat for chat, _k, _t in notices) == [2, 5]
    assert {kind for _c, kind, _t in notices} == {"report_corrected"}
    en = next(text for chat, _k, text in notices if chat == 2)
    zh = next(text for chat, _k, text in notices if chat == 5)
    assert "Zhongyuan" in en and "this is version 2" in en
    assert "after the deadline" in en  # the survey table is due at 17:00
    assert "120 → <b>130</b>" in en and en.count("→") == 1  # only the changed figure
    assert "中原区" in zh and "第 2 版" in zh and "120 → <b>130</b>" in zh
    # the head who corrects it himself is not told about his own correction
    await _submit(zz, HEAD, "410102", "2018-10-08 20:00",
                  {**FULL, "industrial_filled": 125}, reason="double count")
    third = (await _outbox(zz))[2:]
    assert [(chat, "version 3" in t or "第 3 版" in t, "double count" in t)
            for chat, _k, t in third] == [(5, True, True)]


async def test_office_heads_in_one_query_agree_with_the_walk_up_the_tree(
        zz: async_sessionmaker[AsyncSession]) -> None:
    from bot.db.models.org import Unit
    from bot.services.access.users import grant_role
    from bot.services.reports.notices import office_heads_of
    from bot.services.shared.outbox import office_heads_for

    async with zz() as s:
        county = await s.get(Unit, "410102")
        city = await s.get(Unit, "410100")
        assert county is not None and city is not None
        assert await office_heads_of(s, county) == await office_heads_for(s, "410102") == []
        for uid, code in ((7, "410100"), (8, "410100"), (9, "410103")):
            await grant_role(s, now=at("2018-10-01 08:00"), user_id=uid, role="office_head",
                             unit_code=code)
        await grant_role(s, now=at("2018-10-01 08:00"), user_id=6, role="liaison",
                         unit_code="410102")
        await s.flush()
        # none on the county itself: the nearest unit above that has any (not the sibling's)
        assert await office_heads_of(s, county) == await office_heads_for(s, "410102") == [7, 8]
        await grant_role(s, now=at("2018-10-01 08:00"), user_id=10, role="office_head",
                         unit_code="410102")
        await s.flush()
        assert await office_heads_of(s, county) == await office_heads_for(s, "410102") == [10]
        assert await office_heads_of(s, city) == await office_heads_for(s, "410100") == [7, 8]


@pytest.mark.parametrize("who", [OTHER, ENUMERATOR, None])
async def test_a_context_read_by_someone_else_does_not_authorize_a_submission(
        zz: async_sessionmaker[AsyncSession], who: Principal | None) -> None:
    async with zz() as s:
        ctx = await svc.context(s, LIAISON, "410102", "survey", at("2018-10-08 10:00"))
        found = (await svc.reportable(s, LIAISON))[0]
        with pytest.raises(DomainError, match="Only a liaison or office head"):
            await svc.context(s, who, "410102", "survey", at("2018-10-08 10:00"), found)
        with pytest.raises(DomainError, match="Only a liaison or office head"):
            await svc.submit(s, principal=who, unit_code="410102", phase="survey", values=FULL,
                             source="quick", now=at("2018-10-08 10:00"), locale="en", ctx=ctx)
        # the owner's context serves the owner's submission, read once
        report = await svc.submit(s, principal=LIAISON, unit_code="410102", phase="survey",
                                  values=FULL, source="quick", now=at("2018-10-08 10:00"),
                                  locale="en", ctx=ctx)
        assert report.version == 1
        await s.commit()  # the test is the unit-of-work owner
