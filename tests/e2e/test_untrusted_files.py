"""Hostile spreadsheets through the emulator: refused with a clear message, bot responsive."""

from __future__ import annotations

import asyncio
import html
import re
import time
from typing import Any

from bot.db.engine import create_engine, create_sessionmaker
from bot.services.access import users as users_service
from bot.services.roster import org as org_service
from bot.telegram.app import BotApp
from emulator import Emulator
from tests.conftest import ZHENGZHOU, at
from tests.e2e.harness import Clock
from tests.unit.test_sheet_guard import declared_bomb, zip_bomb

LIAISON = 5201
CITIZEN = 5202


def _plain(msg: dict[str, Any]) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", str(msg.get("text") or "")))


async def _setup(url: str, clock: Clock) -> None:
    engine = create_engine(url)
    sm = create_sessionmaker(engine)
    async with sm() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=clock())
        await s.commit()  # the test is the unit-of-work owner
    async with sm() as s:
        await users_service.grant_role(s, now=clock(), user_id=LIAISON, role="liaison",
                                       unit_code="410102")
        await s.commit()  # the test is the unit-of-work owner
    await engine.dispose()


async def test_bombs_are_refused_while_others_are_answered(
        emu: Emulator, app: BotApp, sqlite_url: str, clock: Clock) -> None:
    clock.set(at("2018-10-08 10:00"))
    await _setup(sqlite_url, clock)
    liaison = emu.user(id=LIAISON, first_name="L", language_code="zh-hans")
    citizen = emu.user(id=CITIZEN, first_name="C", language_code="zh-hans")
    for name, data, expected in (
            ("bomb.xlsx", zip_bomb(), "压缩比为"),
            ("huge.xlsx", declared_bomb(), "声明了 1048576 行、16384 列")):
        await emu.send_document(liaison, name, data)
        started = time.monotonic()
        await emu.send_text(citizen, "/start")
        welcome = await emu.wait_for_bot_message(CITIZEN, timeout=5.0)
        assert time.monotonic() - started < 1.0, "another user's /start waited on the file"
        assert welcome["text"]
        reply = await emu.wait_for_bot_message(LIAISON, timeout=15.0)
        assert expected in _plain(reply), _plain(reply)


async def test_parsing_runs_beside_the_event_loop(
        emu: Emulator, app: BotApp, sqlite_url: str, clock: Clock) -> None:
    """A real form is parsed in the worker while /start from someone else is answered."""
    from openpyxl import load_workbook

    clock.set(at("2018-10-08 10:00"))
    await _setup(sqlite_url, clock)
    liaison = emu.user(id=LIAISON, first_name="L", language_code="en")
    citizen = emu.user(id=CITIZEN, first_name="C", language_code="en")
    await emu.send_text(liaison, "/report template")
    doc = await emu.wait_for_bot_message(LIAISON, timeout=10.0)
    import io
    wb = load_workbook(io.BytesIO(emu.file_bytes(doc["document"]["file_id"])))
    ws = wb.active
    assert ws is not None
    for row in ws.iter_rows(min_row=7):
        if row[0].value == "industrial_filled":
            row[6].value = 120
    buf = io.BytesIO()
    wb.save(buf)
    await emu.send_document(liaison, "filled.xlsx", buf.getvalue())
    started = time.monotonic()
    await emu.send_text(citizen, "/start")
    await emu.wait_for_bot_message(CITIZEN, timeout=5.0)
    assert time.monotonic() - started < 1.0
    summary = await asyncio.wait_for(emu.wait_for_bot_message(LIAISON, timeout=20.0), 25)
    assert "120" in _plain(summary)
