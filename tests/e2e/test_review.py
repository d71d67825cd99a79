"""Report review (审核) and "problems and needs" through the emulator: a submitted report waits
in /review; a return with comments on named fields reaches the liaison in their language; the
correction is a new version reviewed again and accepted; the parent office answers the problems
entry and the answer reaches the county."""

from __future__ import annotations

from sqlalchemy import select

from bot.db.engine import create_engine, create_sessionmaker
from bot.db.models.supervision import ProblemItem, ReportReview
from bot.services.reports import submission as reports_service
from bot.services.reports.templates import data_dir
from bot.telegram.app import BotApp
from emulator import Emulator
from tests.conftest import at
from tests.e2e.harness import Clock, wait_delivered
from tests.e2e.test_orders import buttons, find, has, plain, setup_org

CITY_HEAD, LIAISON, COUNTY_HEAD = 8201, 8202, 8203
FULL = ("工业 120 工业录入 100 农业 30 农业录入 20 锅炉 10 锅炉录入 8 集中式 5 集中式录入 5 "
        "移动源 12 移动源录入 10")


async def _targets(url: str, clock: Clock) -> None:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as s:
        rows = reports_service.read_targets_file(data_dir() / "targets" /
                                                 "zhengzhou.synthetic.yaml")
        await reports_service.import_targets(s, rows, source="synthetic", now=clock())
        await s.commit()  # the test is the unit-of-work owner
    await engine.dispose()


async def _reviews(url: str) -> list[tuple[str, list[str]]]:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as s:
        rows = (await s.scalars(select(ReportReview).order_by(ReportReview.id))).all()
        out = [(r.state, [f["key"] for f in r.fields or []]) for r in rows]
    await engine.dispose()
    return out


async def test_review_return_correct_accept_and_problem_answered(
        emu: Emulator, app: BotApp, sqlite_url: str, clock: Clock) -> None:
    clock.set(at("2018-10-08 10:00"))
    await setup_org(sqlite_url, clock, ((CITY_HEAD, "office_head", "410100"),
                                        (LIAISON, "liaison", "410102"),
                                        (COUNTY_HEAD, "office_head", "410102")))
    await _targets(sqlite_url, clock)
    head = emu.user(id=CITY_HEAD, first_name="市普查办", language_code="zh-hans")
    liaison = emu.user(id=LIAISON, first_name="Liaison", language_code="en")
    county = emu.user(id=COUNTY_HEAD, first_name="中原主任", language_code="zh-hans")

    await emu.send_text(head, "/review")
    assert "没有待审核的报表" in plain(await emu.wait_for_bot_message(CITY_HEAD))
    await emu.send_text(county, "/review")  # nothing below a county office
    assert "没有待审核的报表" in plain(await emu.wait_for_bot_message(COUNTY_HEAD))

    # the liaison (English) submits with a problems entry
    await emu.send_text(liaison, "/report " + FULL + " 问题：缺平板电脑10台")
    summary = await emu.wait_for_bot_message(LIAISON, lambda m: "rp:confirm" in buttons(m))
    await emu.click(liaison, summary, "rp:confirm")
    await emu.wait_for_bot_message(LIAISON, has("✅"))
    assert await _reviews(sqlite_url) == [("received", [])]

    # the problems entry reaches the parent office with an answer button
    await wait_delivered(app)
    problem = find(emu, CITY_HEAD, "缺平板电脑10台")
    assert "存在问题及需求" in plain(problem) and "中原区" in plain(problem)
    assert "答复期限：2018-10-11 18:00" in plain(problem)
    [answer_button] = buttons(problem)
    await emu.click(head, problem, answer_button)
    await emu.wait_for_bot_message(CITY_HEAD, has("给该单位的答复"))
    await emu.send_text(head, "市普查办本周内调配10台平板电脑。")
    await emu.wait_for_bot_message(CITY_HEAD, has("答复已发送给该单位"))
    await wait_delivered(app)
    got = find(emu, LIAISON, "调配10台")
    assert "Answer to your problems and needs" in plain(got) and "From: Zhengzhou" in plain(got)
    update = await emu.click(head, problem["message_id"], answer_button, strict=False)
    alert = await emu.wait_for_callback_answer(update["callback_query"]["id"])
    assert "该事项已于 2018-10-08 10:00 答复" in alert["text"]

    # /review lists it; a return must name a field
    await emu.send_text(head, "/review")
    assert "待审核报表：1 份" in plain(await emu.wait_for_bot_message(CITY_HEAD))
    item = await emu.wait_for_bot_message(CITY_HEAD, lambda m: bool(buttons(m)))
    assert "中原区" in plain(item) and "工业源 已填报：120" in plain(item)
    accept, ret = buttons(item)
    await emu.click(head, item, ret)
    prompt = plain(await emu.wait_for_bot_message(CITY_HEAD, has("指标：意见")))
    assert "工业源 已填报" in prompt
    await emu.send_text(head, "数据看起来不对")
    assert "请逐行写明指标及意见" in plain(await emu.wait_for_bot_message(CITY_HEAD))
    await emu.send_text(head, "工业：与清查数不符，请核实\n请今天内更正。")
    done = await emu.wait_for_bot_message(CITY_HEAD, has("已退回"))
    assert [b.split(":")[2] for b in buttons(done)] == ["rev"]  # one-tap order offered
    await wait_delivered(app)
    returned = plain(find(emu, LIAISON, "returned"))
    assert "Industrial sources - forms filled (120): 与清查数不符，请核实" in returned
    assert "请今天内更正。" in returned and "/report" in returned
    assert await _reviews(sqlite_url) == [("returned", ["industrial_filled"])]
    update = await emu.click(head, item["message_id"], accept, strict=False)
    alert = await emu.wait_for_callback_answer(update["callback_query"]["id"])
    assert "该报表已于 2018-10-08 10:00 退回" in alert["text"]

    # one tap on the return confirmation issues a numbered order with the text pre-filled
    [tap] = buttons(done)
    await emu.click(head, done, tap)
    issued = plain(await emu.wait_for_bot_message(CITY_HEAD, has("已向中原区下达督办")))
    assert "郑普办督〔2018〕1号" in issued
    await wait_delivered(app)
    order = find(emu, LIAISON, "Supervision order")
    assert "was returned. Correct it as commented" not in plain(order)  # issuer's language
    assert "中原区 2018-10-08 的报表已退回，请按审核意见更正后重新报送。" in plain(order)
    assert buttons(find(emu, CITY_HEAD, "已退回")) == []  # the tapped button is gone
    again = await emu.click(head, done["message_id"], tap, strict=False)
    await emu.wait_for_callback_answer(again["callback_query"]["id"])
    assert "已向中原区下达过这件督办" in plain(await emu.wait_for_bot_message(CITY_HEAD))

    # the correction is version 2, reviewed again, accepted
    clock.set(at("2018-10-08 11:00"))
    await emu.send_text(liaison, "/report " + FULL.replace("工业 120", "工业 130")
                        + " 问题：缺平板电脑10台")
    summary = await emu.wait_for_bot_message(LIAISON, lambda m: "rp:confirm" in buttons(m))
    await emu.click(liaison, summary, "rp:confirm")
    await emu.wait_for_bot_message(LIAISON, has("✅"))
    await emu.send_text(head, "/review")
    await emu.wait_for_bot_message(CITY_HEAD, has("待审核报表：1 份"))
    item2 = await emu.wait_for_bot_message(CITY_HEAD, lambda m: bool(buttons(m)))
    assert "第2版" in plain(item2) and "工业源 已填报：130" in plain(item2)
    await emu.click(head, item2, buttons(item2)[0])
    await emu.wait_for_bot_message(CITY_HEAD, has("已审核通过"))
    await wait_delivered(app)
    assert "was reviewed and accepted" in plain(find(emu, LIAISON, "accepted"))
    assert await _reviews(sqlite_url) == [("returned", ["industrial_filled"]), ("accepted", [])]
    engine = create_engine(sqlite_url)
    async with create_sessionmaker(engine)() as s:  # the same entry again is not a new item
        assert len((await s.scalars(select(ProblemItem))).all()) == 1
    await engine.dispose()
