"""Identity verification through the emulator: lookups, badges, binding, reports, office tools."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.audit import AuditEntry
from bot.db.models.outbox import OutboxMessage
from bot.db.models.staff import Staff
from bot.db.models.users import RoleGrant
from bot.db.models.verification import ImpostorReport, StaffLookup
from bot.services.access import users as users_service
from bot.services.roster import binding
from bot.services.roster import org as org_service
from bot.telegram.app import BotApp
from emulator import Emulator
from tests.conftest import ZHENGZHOU, at
from tests.e2e.harness import Clock, start_bot, wait_delivered

NOW = at("2018-10-08 09:00")
HEAD_ZY = 9001  # office head of 中原区 (410102)
HEAD_CITY = 9002  # office head of 郑州市 (410100)
PUBLIC = 5001


@pytest.fixture
async def db(sqlite_url: str, clock: Clock) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The test database, seeded with Zhengzhou, a few staff and two office heads."""
    clock.set(NOW)
    engine = create_engine(sqlite_url)
    maker = create_sessionmaker(engine)
    async with maker() as s:
        await org_service.load_tree(s, org_service.read_tree(ZHENGZHOU), now=NOW)
        await s.commit()  # the test is the unit-of-work owner
    async with maker() as s:
        s.add_all([
            Staff(staff_id="ZZ-410102-0001", name="张小华", role="enumerator",
                  unit_code="410102", phone="+8613800000001", org="河南某测绘有限公司",
                  valid_to=date(2019, 6, 30), status="active", created_at=NOW, updated_at=NOW),
            Staff(staff_id="ZZ-410102-0002", name="李四", role="supervisor", unit_code="410102",
                  phone="+8613800000002", valid_to=None, status="active", created_at=NOW,
                  updated_at=NOW),
            Staff(staff_id="ZZ-410102-0003", name="王五", role="enumerator", unit_code="410102",
                  phone="+8613800000003", status="revoked", created_at=NOW, updated_at=NOW),
            Staff(staff_id="ZZ-410103-0004", name="赵六", role="enumerator", unit_code="410103",
                  phone="+8613800000004", status="suspended", created_at=NOW, updated_at=NOW),
            Staff(staff_id="ZZ-410102-0005", name="John Smith", role="enumerator",
                  unit_code="410102", phone="+8613800000005", valid_to=date(2018, 10, 7),
                  status="active", created_at=NOW, updated_at=NOW),
        ])
        await s.commit()
    async with maker() as s:
        await users_service.grant_role(s, now=NOW, user_id=HEAD_ZY, role="office_head",
                                       unit_code="410102")
        await s.commit()  # the test is the unit-of-work owner
    async with maker() as s:
        await users_service.grant_role(s, now=NOW, user_id=HEAD_CITY, role="office_head",
                                       unit_code="410100")
        await s.commit()  # the test is the unit-of-work owner
    yield maker
    await engine.dispose()


async def ask(emu: Emulator, user: dict[str, Any], text: str) -> dict[str, Any]:
    """Send a text and return the bot's next reply."""
    await emu.send_text(user, text)
    return await emu.wait_for_bot_message(user["id"])


# ---------------------------------------------------------------- public lookups


async def test_genuine_id_shows_masked_card_and_warning(
    emu: Emulator, db: Any, app: BotApp
) -> None:
    citizen = emu.user(id=PUBLIC, first_name="市民", language_code="zh-hans")
    reply = await ask(emu, citizen, "/verify ZZ-410102-0001")
    text = reply["text"]
    assert "正式普查人员" in text
    assert "张*华" in text and "张小华" not in text
    assert "普查员" in text and "郑州市 中原区" in text and "河南某测绘有限公司" in text
    assert "2019-06-30" in text
    assert "13800000001" not in text and "收取任何费用" in text
    assert "reply_markup" not in reply or not reply.get("reply_markup")
    # A message that is just the ID works too, and full-width dashes are fine.
    bare = await ask(emu, citizen, "zz－410102－0002")
    assert "正式普查人员" in bare["text"] and "李*" in bare["text"] and "普查指导员" in bare["text"]


async def test_english_reader_and_latin_name_masking(emu: Emulator, db: Any, app: BotApp) -> None:
    reader = emu.user(id=PUBLIC + 1, first_name="Ann", language_code="en")
    reply = await ask(emu, reader, "/verify ZZ-410102-0005")
    assert "expired on 2018-10-07" in reply["text"]
    assert "J* S*" in reply["text"] and "John" not in reply["text"]
    assert "Zhengzhou Zhongyuan" in reply["text"]


async def test_revoked_suspended_and_unknown_answers(emu: Emulator, db: Any, app: BotApp) -> None:
    citizen = emu.user(id=PUBLIC, first_name="市民", language_code="zh-hans")
    revoked = await ask(emu, citizen, "/verify ZZ-410102-0003")
    assert "已被注销" in revoked["text"] and "不要让其进门" in revoked["text"]
    assert revoked["reply_markup"]["inline_keyboard"][0][0]["callback_data"].startswith("vrep:")
    suspended = await ask(emu, citizen, "ZZ-410103-0004")
    assert "已被暂停" in suspended["text"]
    unknown = await ask(emu, citizen, "/verify ZZ-410102-9999")
    malformed = await ask(emu, citizen, "/verify <b>drop table</b>")
    assert "未登记" in unknown["text"] and "普查办" in unknown["text"]
    assert unknown["reply_markup"]["inline_keyboard"][0][0]["callback_data"].startswith("vrep:")
    # Unknown and malformed get the same wording (only the echoed ID differs).
    strip = lambda t: t.replace("ZZ-410102-9999", "X").replace("&lt;B&gt;DROPTABLE&lt;/B&gt;", "X")  # noqa: E731
    assert strip(unknown["text"]) == strip(malformed["text"])


async def test_ordinary_questions_are_not_taken_for_ids(emu: Emulator, db: Any, app: BotApp,
                                                        sqlite_url: str) -> None:
    citizen = emu.user(id=PUBLIC, first_name="市民", language_code="zh-hans")
    await emu.send_text(citizen, "普查员上门要收费吗？")
    await emu.send_text(citizen, "/verify ZZ-410102-0001")
    await emu.wait_for_bot_message(PUBLIC, lambda m: "正式普查人员" in m.get("text", ""))
    async with db() as s:
        queries = (await s.scalars(select(StaffLookup.query))).all()
    assert queries == ["ZZ-410102-0001"]


async def test_every_lookup_is_audited(emu: Emulator, db: Any, app: BotApp) -> None:
    citizen = emu.user(id=PUBLIC, first_name="市民", language_code="zh-hans")
    await ask(emu, citizen, "/verify ZZ-410102-0001")
    await ask(emu, citizen, "/verify NOPE")
    async with db() as s:
        rows = (await s.execute(select(StaffLookup.user_id, StaffLookup.query,
                                       StaffLookup.result, StaffLookup.at)
                                .order_by(StaffLookup.id))).all()
        audits = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "lookup")
                                  .order_by(AuditEntry.id))).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (PUBLIC, "ZZ-410102-0001", "genuine"), (PUBLIC, "NOPE", "unknown")]
    assert all(r[3] == NOW for r in rows)
    assert [(a.actor_user_id, a.object_id, a.details["result"]) for a in audits] == [
        (PUBLIC, "ZZ-410102-0001", "genuine"), (PUBLIC, "NOPE", "unknown")]


async def test_rate_limit_holds_across_a_restart_and_scanning_is_flagged(
    emu: Emulator, db: Any, sqlite_url: str, clock: Clock
) -> None:
    app = await start_bot(emu, sqlite_url, clock=clock, CENSUSBOT_LOOKUPS_PER_MINUTE=3,
                          CENSUSBOT_LOOKUPS_PER_DAY=5)
    scraper = emu.user(id=PUBLIC + 7, first_name="S", language_code="en")
    try:
        for n in range(1, 4):
            clock.set(NOW + timedelta(seconds=n))
            reply = await ask(emu, scraper, f"/verify ZZ-410102-{n:04d}")
            assert "wait a minute" not in reply["text"]
        clock.set(NOW + timedelta(seconds=10))
        refused = await ask(emu, scraper, "/verify ZZ-410102-0004")
        assert "checked many IDs in a short time" in refused["text"]
    finally:
        await app.stop()
    # A restart does not reset the count: the limit lives in the database.
    app = await start_bot(emu, sqlite_url, clock=clock, CENSUSBOT_LOOKUPS_PER_MINUTE=3,
                          CENSUSBOT_LOOKUPS_PER_DAY=5)
    try:
        clock.set(NOW + timedelta(seconds=20))
        refused = await ask(emu, scraper, "/verify ZZ-410102-0004")
        assert "checked many IDs in a short time" in refused["text"]
        clock.set(NOW + timedelta(minutes=2))
        assert "wait a minute" not in (await ask(emu, scraper, "ZZ-410102-0005"))["text"]
        assert "wait a minute" not in (await ask(emu, scraper, "ZZ-410102-0006"))["text"]
        clock.set(NOW + timedelta(minutes=4))
        day = await ask(emu, scraper, "ZZ-410102-0007")
        assert "today's limit" in day["text"]
        other = emu.user(id=PUBLIC + 8, first_name="T", language_code="en")
        assert "Genuine" in (await ask(emu, other, "ZZ-410102-0001"))["text"]
    finally:
        await app.stop()
    async with db() as s:
        flags = (await s.scalars(select(AuditEntry).where(
            AuditEntry.action == "lookup.scan_suspected"))).all()
        refused_rows = await s.scalar(select(func.count()).select_from(StaffLookup).where(
            StaffLookup.result == "refused"))
    assert len(flags) == 1 and flags[0].actor_user_id == PUBLIC + 7
    assert flags[0].object_id == "ZZ-410102-"
    assert refused_rows == 3


# ---------------------------------------------------------------- binding and badges


async def test_contact_binding_badge_qr_round_trip_and_revocation(
    emu: Emulator, db: Any, app: BotApp
) -> None:
    worker = emu.user(id=7001, first_name="小华", language_code="zh-hans")
    prompt = await ask(emu, worker, "/bind")
    keyboard = emu.reply_keyboard(7001)
    assert keyboard is not None and keyboard["keyboard"][0][0].get("request_contact") is True
    assert "分享您本人的手机号" in prompt["text"]
    await emu.send_contact(worker, "+86 138-0000-0001")
    bound = await emu.wait_for_bot_message(7001)
    assert "ZZ-410102-0001" in bound["text"] and "普查员" in bound["text"]
    async with db() as s:
        grant = await s.scalar(select(RoleGrant).where(RoleGrant.user_id == 7001))
        assert grant is not None and (grant.role, grant.unit_code, grant.source) == (
            "enumerator", "410102", "binding")

    await emu.send_text(worker, "/badge")
    badge = await emu.wait_for_bot_message(7001, lambda m: "photo" in m)
    png = emu.file_bytes(badge["photo"][-1]["file_id"])
    codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(codes) == 1
    match = re.fullmatch(r"https://t\.me/census_test_bot\?start=([A-Za-z0-9_-]{1,64})",
                         codes[0].text)
    assert match, codes[0].text
    token = match.group(1)

    citizen = emu.user(id=PUBLIC, first_name="市民", language_code="zh-hans")
    genuine = await ask(emu, citizen, f"/start {token}")
    assert "正式普查人员" in genuine["text"] and "张*华" in genuine["text"]

    # Forged and altered tokens.
    altered = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    assert "不是真实有效的普查工作证" in (await ask(emu, citizen, f"/start {altered}"))["text"]
    forged = "vrZZ-410102-0002" + token[-16:]
    forged_reply = await ask(emu, citizen, f"/start {forged}")
    assert "不是真实有效的普查工作证" in forged_reply["text"]
    assert forged_reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"].startswith(
        "vrep:")

    # The office head revokes: the same badge stops verifying at once.
    head = emu.user(id=HEAD_ZY, first_name="主任", language_code="zh-hans")
    confirm = await ask(emu, head, "/revoke ZZ-410102-0001")
    assert "张小华" in confirm["text"]
    await emu.click(head, confirm, confirm["reply_markup"]["inline_keyboard"][0][0][
        "callback_data"])
    done = await emu.wait_for_bot_message(HEAD_ZY, lambda m: "已注销" in m.get("text", ""))
    assert "立即生效" in done["text"]
    revoked = await ask(emu, citizen, f"/start {token}")
    assert "已被注销" in revoked["text"]
    async with db() as s:
        staff = await s.get(Staff, "ZZ-410102-0001")
        grants = (await s.scalars(select(RoleGrant).where(RoleGrant.user_id == 7001))).all()
        actions = set((await s.scalars(select(AuditEntry.action))).all())
    assert staff is not None and staff.status == "revoked" and staff.telegram_user_id is None
    assert grants == []
    assert {"binding.bind", "staff.revoke", "role.revoke"} <= actions


async def test_rotating_the_secret_invalidates_badges(emu: Emulator, db: Any, sqlite_url: str,
                                                       clock: Clock) -> None:
    from bot.services.roster import badges

    old = badges.sign("ZZ-410102-0002", b"old-secret")
    new = "new-secret-0123456789abcdef-0123456789"  # 32 bytes at least
    app = await start_bot(emu, sqlite_url, clock=clock, CENSUSBOT_SECRET=new)
    try:
        citizen = emu.user(id=PUBLIC, first_name="Ann", language_code="en")
        assert "not a genuine census badge" in (await ask(emu, citizen, f"/start {old}"))["text"]
        fresh = badges.sign("ZZ-410102-0002", new.encode())
        assert "Genuine census staff" in (await ask(emu, citizen, f"/start {fresh}"))["text"]
    finally:
        await app.stop()


async def test_someone_elses_contact_is_refused(emu: Emulator, db: Any, app: BotApp) -> None:
    worker = emu.user(id=7002, first_name="X", language_code="zh-hans")
    await ask(emu, worker, "/bind")
    await emu.send_contact(worker, "+8613800000002", user_id=7999)
    reply = await emu.wait_for_bot_message(7002)
    assert "不要分享他人的联系人" in reply["text"]
    await emu.send_contact(worker, "+8613900000000")
    assert "不在普查人员花名册中" in (await emu.wait_for_bot_message(7002))["text"]
    async with db() as s:
        staff = await s.get(Staff, "ZZ-410102-0002")
        refusals = (await s.scalars(select(AuditEntry.details).where(
            AuditEntry.action == "binding.refused"))).all()
    assert staff is not None and staff.telegram_user_id is None
    assert [d["reason"] for d in refusals] == ["foreign_contact", "no_match"]


async def test_binding_code_is_single_use_and_moves_a_binding(
    emu: Emulator, db: Any, app: BotApp
) -> None:
    old_phone = emu.user(id=7101, first_name="李四", language_code="zh-hans")
    await ask(emu, old_phone, "/bind")
    await emu.send_contact(old_phone, "13800000002")
    assert "ZZ-410102-0002" in (await emu.wait_for_bot_message(7101))["text"]

    head = emu.user(id=HEAD_ZY, first_name="主任", language_code="zh-hans")
    issued = await ask(emu, head, "/code ZZ-410102-0002")
    code = re.search(r"[A-Z2-9]{5}-[A-Z2-9]{5}", issued["text"])
    assert code, issued["text"]
    new_phone = emu.user(id=7102, first_name="李四", language_code="zh-hans")
    # The contact route cannot take over a record bound elsewhere...
    await ask(emu, new_phone, "/bind")
    await emu.send_contact(new_phone, "+8613800000002")
    assert "已绑定到另一个" in (await emu.wait_for_bot_message(7102))["text"]
    # ...but the office's code can.
    moved = await ask(emu, new_phone, code.group(0).lower())
    assert "已成功绑定人员编号 ZZ-410102-0002" in moved["text"]
    again = await ask(emu, emu.user(id=7103, first_name="Y"), f"/bind {code.group(0)}")
    assert "已被使用" in again["text"]
    async with db() as s:
        staff = await s.get(Staff, "ZZ-410102-0002")
        holders = (await s.scalars(select(RoleGrant.user_id).where(
            RoleGrant.role == "supervisor"))).all()
        rebinds = (await s.scalars(select(AuditEntry).where(
            AuditEntry.action == "binding.rebind"))).all()
    assert staff is not None and staff.telegram_user_id == 7102
    assert list(holders) == [7102]
    assert len(rebinds) == 1 and rebinds[0].details["previous_user_id"] == 7101
    # /unbind ends it and removes the role.
    assert "解除绑定" in (await ask(emu, new_phone, "/unbind"))["text"]
    async with db() as s:
        unbound = await s.get(Staff, "ZZ-410102-0002")
        assert unbound is not None and unbound.telegram_user_id is None
        assert (await s.scalars(select(RoleGrant.user_id).where(
            RoleGrant.role == "supervisor"))).all() == []


async def test_wrong_codes_lock_the_user_out(emu: Emulator, db: Any, app: BotApp,
                                             clock: Clock) -> None:
    guesser = emu.user(id=7201, first_name="G", language_code="en")
    for n in range(5):
        reply = await ask(emu, guesser, f"/bind AAAAA-AAAA{n + 2}")
        assert f"(attempts left: {4 - n})" in reply["text"]
    async with db() as s:
        from bot.services.roster.binding import CodePolicy

        code = await binding.issue_codes_for_unit(s, now=clock(), unit_code="410102",
                                                  key=b"dev-only:x", policy=CodePolicy())
        await s.commit()  # the test is the unit-of-work owner
    assert code  # valid codes exist, but the user is locked now
    locked = await ask(emu, guesser, "/bind ABCDE-FGHJK")
    assert "Too many wrong codes" in locked["text"]


async def test_badge_needs_a_bound_enumerator(emu: Emulator, db: Any, app: BotApp) -> None:
    stranger = emu.user(id=7301, first_name="S", language_code="en")
    assert "not bound" in (await ask(emu, stranger, "/badge"))["text"]


# ---------------------------------------------------------------- impostor reports


async def test_impostor_report_reaches_the_county_office_head(
    emu: Emulator, db: Any, app: BotApp
) -> None:
    citizen = emu.user(id=PUBLIC, first_name="市民", language_code="zh-hans")
    answer = await ask(emu, citizen, "/verify ZZ-410102-0003")
    await emu.click(citizen, answer, answer["reply_markup"]["inline_keyboard"][0][0][
        "callback_data"])
    assert "请描述发生了什么" in (await emu.wait_for_bot_message(PUBLIC))["text"]
    await emu.send_text(citizen, "一名男子自称普查员，要求收取 200 元登记费。")
    photo_prompt = await emu.wait_for_bot_message(PUBLIC)
    assert "跳过" in str(photo_prompt["reply_markup"])
    await emu.send_photo(citizen, b"\xff\xd8\xff\xe0fake-jpeg")
    await emu.wait_for_bot_message(PUBLIC)
    await emu.send_location(citizen, 34.7466, 113.6254)
    thanks = await emu.wait_for_bot_message(PUBLIC)
    assert "已转交普查办" in thanks["text"]

    head = emu.user(id=HEAD_ZY, first_name="主任", language_code="zh-hans")
    emu.user(id=HEAD_CITY, first_name="市主任", language_code="zh-hans")
    rows = await wait_delivered(app)
    assert {r.chat_id for r in rows} == {HEAD_ZY}
    assert {r.method for r in rows} == {"sendMessage", "sendPhoto", "sendLocation"}
    notice = await emu.wait_for_bot_message(HEAD_ZY, lambda m: "冒充" in m.get("text", ""))
    assert "ZZ-410102-0003" in notice["text"] and "200 元" in notice["text"]
    assert "34.74660" in notice["text"]
    assert emu.bot_messages(HEAD_CITY) == []
    button = notice["reply_markup"]["inline_keyboard"][0][0]["callback_data"]

    # Only an office head covering the unit may mark it handled.
    other = emu.user(id=9100, first_name="Other", language_code="en")
    upd = await emu.click(other, notice, button)
    answer_cb = await emu.wait_for_callback_answer(upd["callback_query"]["id"])
    assert "Only an office head" in answer_cb.get("text", "")
    await emu.click(head, notice, button)
    await emu.wait_for_bot_message(HEAD_ZY, lambda m: "已标记为已处理" in m.get("text", ""))
    async with db() as s:
        report = await s.scalar(select(ImpostorReport))
    assert report is not None and report.status == "handled" and report.handled_by == HEAD_ZY
    assert report.unit_code == "410102" and report.photo_file_id


async def test_unknown_id_report_goes_to_the_city_and_can_skip_extras(
    emu: Emulator, db: Any, app: BotApp
) -> None:
    citizen = emu.user(id=PUBLIC, first_name="Ann", language_code="en")
    emu.user(id=HEAD_CITY, first_name="市主任", language_code="zh-hans")
    answer = await ask(emu, citizen, "ZZ-410199-0042")
    assert "is not registered" in answer["text"]
    await emu.click(citizen, answer, answer["reply_markup"]["inline_keyboard"][0][0][
        "callback_data"])
    await emu.wait_for_bot_message(PUBLIC)
    await emu.send_text(citizen, "He wanted my bank card number.")
    skip_prompt = await emu.wait_for_bot_message(PUBLIC)
    await emu.click(citizen, skip_prompt, "vflow:skip")
    done_prompt = await emu.wait_for_bot_message(PUBLIC)
    await emu.click(citizen, done_prompt, "vflow:done")
    assert "sent to the census office" in (await emu.wait_for_bot_message(PUBLIC))["text"]
    async with db() as s:
        rows = (await s.scalars(select(OutboxMessage))).all()
    assert [(r.chat_id, r.method) for r in rows] == [(HEAD_CITY, "sendMessage")]
    assert [r.chat_id for r in await wait_delivered(app)] == [HEAD_CITY]
    notice = await emu.wait_for_bot_message(HEAD_CITY)
    assert "ZZ-410199-0042" in notice["text"] and "bank card" in notice["text"]


async def test_report_can_be_cancelled(emu: Emulator, db: Any, app: BotApp) -> None:
    citizen = emu.user(id=PUBLIC, first_name="Ann", language_code="en")
    answer = await ask(emu, citizen, "/verify NOBODY")
    await emu.click(citizen, answer, answer["reply_markup"]["inline_keyboard"][0][0][
        "callback_data"])
    prompt = await emu.wait_for_bot_message(PUBLIC)
    await emu.click(citizen, prompt, "vflow:cancel")
    assert "cancelled" in (await emu.wait_for_bot_message(PUBLIC))["text"]
    async with db() as s:
        assert await s.scalar(select(func.count()).select_from(ImpostorReport)) == 0


# ---------------------------------------------------------------- office tools


async def test_office_head_sees_full_details_only_in_own_units(
    emu: Emulator, db: Any, app: BotApp
) -> None:
    head = emu.user(id=HEAD_ZY, first_name="主任", language_code="zh-hans")
    details = await ask(emu, head, "/staff ZZ-410102-0001")
    assert "张小华" in details["text"] and "+8613800000001" in details["text"]
    foreign = await ask(emu, head, "/staff ZZ-410103-0004")
    assert "没有人员编号" in foreign["text"] and "赵六" not in foreign["text"]
    citizen = emu.user(id=PUBLIC, first_name="市民", language_code="zh-hans")
    assert "仅供普查办主任" in (await ask(emu, citizen, "/staff ZZ-410102-0001"))["text"]
    async with db() as s:
        views = (await s.scalars(select(AuditEntry).where(AuditEntry.action == "staff.view"))).all()
    assert [(v.actor_user_id, v.object_id) for v in views] == [(HEAD_ZY, "ZZ-410102-0001")]


async def test_suspend_and_reinstate_take_effect_at_once(emu: Emulator, db: Any,
                                                         app: BotApp) -> None:
    head = emu.user(id=HEAD_ZY, first_name="主任", language_code="zh-hans")
    citizen = emu.user(id=PUBLIC, first_name="市民", language_code="zh-hans")
    confirm = await ask(emu, head, "/suspend ZZ-410102-0002")
    await emu.click(head, confirm, confirm["reply_markup"]["inline_keyboard"][0][0][
        "callback_data"])
    await emu.wait_for_bot_message(HEAD_ZY, lambda m: "已暂停" in m.get("text", ""))
    assert "已被暂停" in (await ask(emu, citizen, "ZZ-410102-0002"))["text"]
    confirm = await ask(emu, head, "/reinstate ZZ-410102-0002")
    await emu.click(head, confirm, confirm["reply_markup"]["inline_keyboard"][0][0][
        "callback_data"])
    await emu.wait_for_bot_message(HEAD_ZY, lambda m: "恢复有效" in m.get("text", ""))
    assert "正式普查人员" in (await ask(emu, citizen, "ZZ-410102-0002"))["text"]
    # Cancelling changes nothing.
    confirm = await ask(emu, head, "/revoke ZZ-410102-0002")
    await emu.click(head, confirm, confirm["reply_markup"]["inline_keyboard"][0][1][
        "callback_data"])
    assert "正式普查人员" in (await ask(emu, citizen, "ZZ-410102-0002"))["text"]


async def test_lookups_summary_for_office_head(emu: Emulator, db: Any, app: BotApp) -> None:
    citizen = emu.user(id=PUBLIC, first_name="市民", language_code="zh-hans")
    await ask(emu, citizen, "ZZ-410102-0001")
    await ask(emu, citizen, "ZZ-410102-0003")
    await ask(emu, citizen, "ZZ-410103-0004")  # another county: not counted for 中原区
    head = emu.user(id=HEAD_ZY, first_name="主任", language_code="zh-hans")
    summary = await ask(emu, head, "/lookups")
    assert "有效：1" in summary["text"] and "已注销：1" in summary["text"]  # full-width colon
    assert "已暂停" not in summary["text"]
