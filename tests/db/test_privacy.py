"""Personal data minimised: no phone numbers in logs, none kept after the retention period."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.run import _check
from bot.config import Settings
from bot.db.models.staff import Staff
from bot.db.models.verification import StaffLookup
from bot.services.roster import org as org_service
from bot.services.roster import privacy
from bot.services.verification import lookups as verification
from bot.util import log_privacy
from tests.conftest import ZHENGZHOU, at

NOW = at("2018-10-08 09:00")


@pytest.mark.parametrize("text", [
    "contact from 13800000001", "+86 138-0000-0001 shared", "8613800000001",
    json.dumps({"message": {"contact": {"phone_number": "8613800000001", "user_id": 5}}}),
    "{'phone_number': '+8613800000001'}", "Contact(phone_number='13800000001')",
    "+44 20 7946 0958",
])
def test_phone_numbers_never_reach_the_log(text: str, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("censusbot.test")
    handler = logging.StreamHandler()
    root = logging.getLogger("censusbot")
    root.addHandler(handler)
    try:
        log_privacy.install(root)
        with caplog.at_level(logging.INFO):
            caplog.handler.addFilter(log_privacy.RedactPhones())
            logger.info("update %s", text)
            try:
                raise ValueError(text)
            except ValueError:
                logger.exception("failed")
    finally:
        root.removeHandler(handler)
    out = caplog.text
    for digits in ("13800000001", "138-0000-0001", "7946 0958"):
        assert digits not in out
    assert "[phone]" in out and "update" in out


def test_update_id_and_user_id_survive() -> None:
    assert log_privacy.redact("update 912345678 from user 5123456789") == \
        "update 912345678 from user 5123456789"


def test_payload_loggers_stay_quiet_with_verbose() -> None:
    logging.getLogger("aiogram.scene").setLevel(logging.DEBUG)
    log_privacy.install(logging.getLogger("censusbot.none"))
    assert logging.getLogger("aiogram.scene").level >= logging.WARNING
    assert logging.getLogger("sqlalchemy.engine").level >= logging.WARNING


def test_a_weak_secret_stops_the_bot_at_start_up() -> None:
    weak = Settings(BOT_TOKEN="1:x", CENSUSBOT_SECRET="changeme")
    assert "CENSUSBOT_SECRET is too weak: 8 bytes, at least 32" in str(_check(weak, False))
    strong = Settings(BOT_TOKEN="1:x", CENSUSBOT_SECRET="s" * 32)
    assert _check(strong, False) is None


async def test_departed_staff_phones_are_blanked_after_retention(session: AsyncSession) -> None:
    await org_service.load_tree(session, org_service.read_tree(ZHENGZHOU), now=NOW)
    # active; revoked on day 0; revoked on day 40 (5 days before the run on day 45)
    for n, (status, day) in enumerate((("active", 0), ("revoked", 0), ("revoked", 40)),
                                      start=1):
        session.add(Staff(staff_id=f"ZZ-P-{n}", name="某", role="enumerator", unit_code="410102",
                          phone=f"+86138000000{n:02d}", status=status, created_at=NOW,
                          updated_at=NOW + timedelta(days=day)))
    await session.commit()
    count = await privacy.redact_departed_phones(session, now=NOW + timedelta(days=45), days=30)
    assert count == 1
    phones = dict((await session.execute(select(Staff.staff_id, Staff.phone))).all())
    assert phones == {"ZZ-P-1": "+8613800000001", "ZZ-P-2": "", "ZZ-P-3": "+8613800000003"}


async def test_a_phone_typed_as_an_id_is_masked_in_the_audit(session: AsyncSession) -> None:
    await org_service.load_tree(session, org_service.read_tree(ZHENGZHOU), now=NOW)
    await verification.lookup(session, now=NOW, user_id=1, chat_id=1, text="13800000001",
                              policy=verification.LookupPolicy())
    assert (await session.scalars(select(StaffLookup.query))).all() == ["138****0001"]
