"""Through the emulator: an office head's record cannot be bound by contact; an office code
binds it; after a roster demotion and /revoke, the account has no office power left."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.staff import Staff
from bot.services.access import users as users_service
from bot.services.roster import org as org_service
from bot.services.roster.importer import import_roster
from bot.telegram.app import BotApp
from emulator import Emulator
from tests.conftest import ZHENGZHOU, at
from tests.e2e.harness import Clock

CITY_HEAD = 9102
NEW_HEAD = 9103
NOW = at("2018-10-08 09:00")


def _plain(msg: dict[str, Any]) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", str(msg.get("text") or "")))


async def _ask(emu: Emulator, user: dict[str, Any], text: str) -> str:
    await emu.send_text(user, text)
    return _plain(await emu.wait_for_bot_message(user["id"]))


async def test_office_power_needs_a_code_and_follows_the_roster(
        emu: Emulator, app: BotApp, sqlite_url: str, clock: Clock) -> None:
    clock.set(NOW)
    engine = create_engine(sqlite_url)
    maker = create_sessionmaker(engine)
    async with maker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=NOW)
        await s.commit()  # the test is the unit-of-work owner
    async with maker() as s:
        s.add_all([
            Staff(staff_id="ZZ-410102-0001", name="张小华", role="enumerator",
                  unit_code="410102", phone="+8613800000001", valid_to=date(2019, 6, 30),
                  status="active", created_at=NOW, updated_at=NOW),
            Staff(staff_id="ZZ-410102-0900", name="王主任", role="office_head",
                  unit_code="410102", phone="+8613800000900", status="active",
                  created_at=NOW, updated_at=NOW)])
        await s.commit()
    async with maker() as s:
        await users_service.grant_role(s, now=NOW, user_id=CITY_HEAD, role="office_head",
                                       unit_code="410100")
        await s.commit()  # the test is the unit-of-work owner
    try:
        head = emu.user(id=NEW_HEAD, first_name="王", language_code="zh-hans")
        city = emu.user(id=CITY_HEAD, first_name="市", language_code="zh-hans")
        await _ask(emu, head, "/bind")
        await emu.send_contact(head, "+8613800000900")
        refused = _plain(await emu.wait_for_bot_message(NEW_HEAD))
        assert "需要一次性绑定码" in refused
        denied = "此命令仅供普查办主任使用"
        assert denied in await _ask(emu, head, "/staff ZZ-410102-0001")
        issued = await _ask(emu, city, "/code ZZ-410102-0900")
        code = re.search(r"[A-Z0-9]{5}-[A-Z0-9]{5}", issued)
        assert code is not None, issued
        bound = await _ask(emu, head, f"/bind {code.group(0)}")
        assert "ZZ-410102-0900" in bound
        assert "+8613800000001" in await _ask(emu, head, "/staff ZZ-410102-0001")
        # Demoted by a roster re-import, then revoked with /revoke by the city office.
        async with maker() as s:
            await import_roster(
                s, "staff_id,name,role,unit_code,phone\nZZ-410102-0900,王主任,enumerator,"
                   "410102,13800000900\n".encode(), now=NOW)
            await s.commit()  # the test is the unit-of-work owner
        assert denied in await _ask(emu, head, "/staff ZZ-410102-0001")
        await emu.send_text(city, "/revoke ZZ-410102-0900")
        prompt = await emu.wait_for_bot_message(CITY_HEAD)
        await emu.click(city, prompt, prompt["reply_markup"]["inline_keyboard"][0][0][
            "callback_data"])
        await emu.wait_for_bot_message(CITY_HEAD)
        notice = await emu.wait_for_bot_message(  # the outbox tells the revoked account
            NEW_HEAD, lambda m: "已注销" in str(m.get("text")), timeout=10.0)
        assert "ZZ-410102-0900" in _plain(notice)
        assert denied in await _ask(emu, head, "/suspend ZZ-410102-0001")
        assert denied in await _ask(emu, head, "/staff ZZ-410102-0001")
    finally:
        await engine.dispose()
