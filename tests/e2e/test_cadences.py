"""Several reporting cadences for one unit and phase (a daily table plus a weekly narrative),
through the emulator: a reminder for each, both submitted, each late-checked on its own."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from openpyxl import load_workbook
from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.org import Unit
from bot.services.reports.progress import reporting_status
from bot.telegram.app import BotApp
from emulator import Emulator
from scheduling.jobs import JobContext, JobResult, all_jobs
from tests.conftest import at
from tests.e2e.harness import Clock, wait_delivered
from tests.e2e.test_report import (
    FULL,
    HEAD,
    LIAISON,
    TWO_UNITS,
    _buttons,
    _confirm,
    _plain,
    _quick,
    _reports,
    ready,  # noqa: F401  (the fixture)
)

CADENCES = {"survey": [
    {"every": "daily", "deadline": "18:00"},
    {"every": "weekly", "day": "mon", "deadline": "17:00", "report": "survey_weekly"}]}


async def _job(app: BotApp, clock: Clock, name: str, now: datetime) -> JobResult:
    clock.set(now)  # the outbox sends what is due by the bot's clock
    return await all_jobs()[name].run(JobContext(app.dp["sessionmaker"], app.settings), now)


async def _two_cadences(url: str) -> None:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as s:
        unit = (await s.scalars(select(Unit).where(Unit.code == "410102"))).one()
        unit.extra = {**(unit.extra or {}), "cadences": CADENCES}
        await s.commit()
    await engine.dispose()


async def _status(url: str, phase: str, now: datetime) -> str:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as s:
        found = await reporting_status(s, unit_code="410102", phase=phase, now=now)
    await engine.dispose()
    return found.status


async def _say(emu: Emulator, user: dict[str, Any], text: str) -> str:
    return _plain(await _quick(emu, user, text))


def _texts(emu: Emulator, chat: int) -> list[str]:
    return [_plain(m) for m in emu.bot_messages(chat)]


async def _pick(emu: Emulator, user: dict[str, Any], text: str, phase: str) -> dict[str, Any]:
    """Send a quick form; the unit has two reports, so choose which one it is for."""
    picker = await _quick(emu, user, text)
    assert f"rpq:410102:{phase}" in _buttons(picker), _buttons(picker)
    await emu.click(user, picker, f"rpq:410102:{phase}")
    return await emu.wait_for_bot_message(user["id"], lambda m: "rp:confirm" in _buttons(m))


async def test_daily_table_and_weekly_narrative(emu: Emulator, ready: BotApp,  # noqa: F811
                                                sqlite_url: str, clock: Clock) -> None:
    await _two_cadences(sqlite_url)
    liaison = emu.user(id=LIAISON, first_name="联络员", language_code="zh-hans")
    emu.user(id=HEAD, first_name="主任", language_code="zh-hans")
    emu.user(id=TWO_UNITS, first_name="另一联络员", language_code="zh-hans")

    # 2018-10-08 is a Monday: the weekly narrative is due at 17:00, the daily table at 18:00;
    # each is reminded 120 minutes before its own deadline
    await _job(ready, clock, "reminders", at("2018-10-08 15:00"))
    await wait_delivered(ready)
    [weekly] = _texts(emu, LIAISON)
    assert "入户调查工作周报" in weekly and "17:00" in weekly
    reminder = emu.bot_messages(LIAISON)[-1]
    assert _buttons(reminder) == ["rpn:410102:survey_weekly"]  # report now: the narrative
    await _job(ready, clock, "reminders", at("2018-10-08 16:00"))
    await wait_delivered(ready)
    daily = emu.bot_messages(LIAISON)[-1]
    assert "入户调查进度调度表" in _plain(daily) and "18:00" in _plain(daily)
    assert _buttons(daily) == ["rpn:410102:survey"]
    await _job(ready, clock, "reminders", at("2018-10-08 16:00"))  # a replay sends nothing new
    assert await wait_delivered(ready) == []

    # at 17:00 the narrative is overdue; the daily table is not due yet
    before = len(emu.bot_messages(LIAISON))
    await _job(ready, clock, "escalations", at("2018-10-08 17:00"))
    await wait_delivered(ready)
    overdue = [_plain(m) for m in emu.bot_messages(LIAISON)[before:]]
    assert len(overdue) == 1 and "入户调查工作周报" in overdue[0], overdue
    assert await _status(sqlite_url, "survey_weekly", at("2018-10-08 17:01")) == "missing"
    assert await _status(sqlite_url, "survey", at("2018-10-08 17:01")) == "not_due"

    # the narrative is submitted late, the table on time; each judged by its own deadline
    clock.set(at("2018-10-08 17:30"))
    summary = await _pick(emu, liaison, "/report 进展：本周完成入户三百户平板不足",
                          "survey_weekly")
    assert "入户调查工作周报" in _plain(summary) and "本周完成入户三百户" in _plain(summary)
    assert "已提交" in await _confirm(emu, liaison, summary)
    clock.set(at("2018-10-08 17:45"))
    summary = await _pick(emu, liaison, "/report " + FULL, "survey")
    assert "入户调查进度调度表" in _plain(summary)
    assert "已提交" in await _confirm(emu, liaison, summary)
    rows = await _reports(sqlite_url)
    assert sorted((r.phase, r.period_start.isoformat(), r.period_end.isoformat())
                  for r in rows) == [("survey", "2018-10-08", "2018-10-08"),
                                     ("survey_weekly", "2018-10-02", "2018-10-08")]
    weekly_row = next(r for r in rows if r.phase == "survey_weekly")
    assert weekly_row.values == {"week_progress": "本周完成入户三百户平板不足"}
    now = at("2018-10-08 18:30")
    assert await _status(sqlite_url, "survey_weekly", now) == "late"
    assert await _status(sqlite_url, "survey", now) == "submitted"
    clock.set(now)
    head = emu.user(id=HEAD, first_name="主任", language_code="zh-hans")
    weekly_status = await _say(emu, head, "/status 410102 survey_weekly")
    assert "入户调查工作周报 — 中原区" in weekly_status
    assert "2018-10-02 至 2018-10-08" in weekly_status
    assert "⏰ 迟报 1" in weekly_status, weekly_status
    daily_status = await _say(emu, head, "/status 410102")
    assert "入户调查进度调度表 — 中原区" in daily_status and "✅ 按时 1" in daily_status
    # /export has a sheet per report: the daily table and the weekly narrative with its text
    await emu.send_text(head, "/export")
    doc = await emu.wait_for_bot_message(HEAD, lambda m: "document" in m)
    wb = load_workbook(io.BytesIO(emu.file_bytes(doc["document"]["file_id"])))
    assert [ws.title for ws in wb.worksheets][:2] == ["入户调查进度调度表", "入户调查工作周报"]
    cells = [str(c) for row in wb.worksheets[1].iter_rows(values_only=True) for c in row if c]
    assert "本周完成入户三百户平板不足" in cells and "2018-10-08 17:30 +08:00" in cells, cells

    # at 18:00 nothing is overdue any more: no notice for the table submitted on time
    before = len(emu.bot_messages(LIAISON))
    await _job(ready, clock, "escalations", at("2018-10-08 18:00"))
    await wait_delivered(ready)
    assert _texts(emu, LIAISON)[before:] == []

    # the next day only the daily table is due again
    await _job(ready, clock, "reminders", at("2018-10-09 16:00"))
    await wait_delivered(ready)
    nxt = emu.bot_messages(LIAISON)[-1]
    assert "入户调查进度调度表" in _plain(nxt) and "2018-10-09" in _plain(nxt)
    assert await _status(sqlite_url, "survey_weekly", at("2018-10-09 16:00")) == "not_due"
