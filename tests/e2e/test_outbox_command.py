"""/outbox through the emulator: an office head sees the delivery queue, others are refused.

The notices go out through the bot's own outbox sender (some delivered, some refused by
Telegram, some deferred); /outbox then shows what the queue looks like.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.db.engine import create_engine, create_sessionmaker
from bot.services.access import users as users_service
from bot.services.roster.org import load_tree, read_tree
from bot.services.shared.outbox import enqueue
from emulator import Emulator
from tests.conftest import ZHENGZHOU, at
from tests.e2e.harness import Clock, start_bot, wait_delivered

NOW = at("2018-10-08 10:00")
HEAD = 9001  # office head of 中原区 (410102)
LIAISON = 9011  # liaison of 中原区; blocks the bot
OTHER_COUNTY = 9021  # enumerator of 管城区 (410104), outside HEAD's office; blocks the bot
LEADER = 9031  # a city leader: a role, but not an office head
READERS = (9101, 9102, 9103)
UNKNOWN_CHAT = 9999  # a chat Telegram does not know (400 chat not found)


async def _setup(db_url: str) -> None:
    engine = create_engine(db_url)
    sm = create_sessionmaker(engine)
    try:
        async with sm() as s:
            await load_tree(s, read_tree(ZHENGZHOU), now=NOW)
            await s.commit()  # the test is the unit-of-work owner
        for uid, role, unit in ((HEAD, "office_head", "410102"), (LIAISON, "liaison", "410102"),
                                (OTHER_COUNTY, "enumerator", "410104"),
                                (LEADER, "leader", "410100")):
            async with sm() as s:
                await users_service.grant_role(s, now=NOW, user_id=uid, role=role,
                                               unit_code=unit)
                await s.commit()  # the test is the unit-of-work owner
    finally:
        await engine.dispose()


async def _enqueue(db_url: str, items: list[tuple[int, str]], *, now: datetime = NOW,
                   not_before: datetime | None = None) -> None:
    engine = create_engine(db_url)
    try:
        async with create_sessionmaker(engine)() as s:
            for chat_id, text in items:
                await enqueue(s, now=now, chat_id=chat_id, kind="notice", text=text,
                              not_before=not_before)
            await s.commit()
    finally:
        await engine.dispose()


async def test_office_head_sees_the_queue_and_others_are_refused(emu: Emulator, db_url: str,
                                                                 clock: Clock) -> None:
    clock.set(NOW)
    await _setup(db_url)
    head = emu.user(id=HEAD, first_name="Wang", language_code="en")
    liaison = emu.user(id=LIAISON, first_name="Li", language_code="en")
    other = emu.user(id=OTHER_COUNTY, first_name="Zhao", language_code="en")
    leader = emu.user(id=LEADER, first_name="Vice Mayor", language_code="en")
    public = emu.user(id=9201, first_name="市民", language_code="zh-hans")
    for uid in READERS:
        emu.user(id=uid, first_name=f"Reader {uid}")
    app = await start_bot(emu, db_url, clock=clock)
    try:
        for user in (liaison, other):  # they used the bot once, then blocked it
            await emu.send_text(user, "/start")
            await emu.wait_for_bot_message(user["id"])
            emu.block(user["id"])

        await _enqueue(db_url, [(uid, f"notice to {uid}") for uid in READERS]
                       + [(LIAISON, "first"), (LIAISON, "second"), (OTHER_COUNTY, "third"),
                          (UNKNOWN_CHAT, "to nobody")])
        await _enqueue(db_url, [(READERS[0], "tonight"), (READERS[1], "tomorrow")],
                       now=NOW - timedelta(minutes=30), not_before=NOW + timedelta(hours=3))
        sent = await wait_delivered(app, allow_failed=True)
        # The readers got their notices; the office head was told the liaison is unreachable.
        assert sorted(r.chat_id for r in sent) == sorted([*READERS, HEAD])
        told = await emu.wait_for_bot_message(HEAD)
        assert "Li" in told["text"] and str(LIAISON) in told["text"]
        assert [m["text"] for m in emu.bot_messages(READERS[0])] == [f"notice to {READERS[0]}"]

        await emu.send_text(head, "/outbox")
        text = (await emu.wait_for_bot_message(HEAD))["text"]
        lines = text.split("\n")  # one figure a line
        assert lines[0] == "📮 <b>Delivery queue</b>"
        assert "Queued: 2 (0 due now, 2 waiting for quiet hours or a retry)" in lines
        assert "Oldest queued since 10-08 09:30" in lines  # Shanghai time
        assert "Being sent: 0" in lines
        assert ("Sent per second over the last minutes: 1 min: 0.07/s 5 min: 0.01/s "
                "15 min: 0.0/s") in lines  # 4 sent within the last minute
        failed = lines.index("Failed in the last 24 hours: 4")
        assert lines[failed + 1:failed + 3] == ["• error 403: 3", "• error 400: 1"]
        assert lines[-1] == f"• Li ({LIAISON})"
        assert str(OTHER_COUNTY) not in text  # another county's people are not listed

        for user, refusal in ((leader, "Only office heads can see the delivery queue."),
                              (public, "只有普查办主任可以查看发送队列。")):
            await emu.send_text(user, "/outbox")
            reply = (await emu.wait_for_bot_message(user["id"]))["text"]
            assert reply == refusal
    finally:
        await app.stop()
