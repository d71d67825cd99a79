"""What office heads read in two notices: role names in their language, proper plurals."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from bot.services.shared.outbox import render_notice
from bot.services.verification.lookups import ROLE_LABELS

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class _Unit:
    zh: str
    en: str

    def display_name(self, locale: str) -> str:
        return self.en if locale.startswith("en") else self.zh


def _unreachable(locale: str, roles: list[str]) -> str:
    return render_notice("notices/unreachable.html.j2", locale, name="Wang", user_id=5001,
                         username=None, roles=[ROLE_LABELS[r] for r in roles])


def test_unreachable_names_roles_in_the_readers_language() -> None:
    assert "Roles: County liaison, Q&amp;A desk" in _unreachable("en", ["liaison", "qa_desk"])
    zh = _unreachable("zh_CN", ["liaison"])
    assert "角色：联络员" in zh and "liaison" not in zh  # no space after the colon


def _overdue(locale: str, n: int, told: bool = True) -> str:
    units = [_Unit("二七区", "Erqi"), _Unit("中牟县", "Zhongmu")][:n]
    return render_notice("notices/overdue_parent.html.j2", locale,
                         parent=_Unit("郑州市", "Zhengzhou"),
                         late_units=units, period_end=date(2018, 10, 14),
                         deadline=datetime(2018, 10, 14, 17, 0, tzinfo=SHANGHAI), told=told)


def test_overdue_parent_counts_units_with_a_proper_plural() -> None:
    assert "1 unit under Zhengzhou has still not submitted" in _overdue("en", 1)
    assert "Its liaison and office head were told" in _overdue("en", 1)
    assert "2 units under Zhengzhou have still not submitted" in _overdue("en", 2)
    assert "unit(s)" not in _overdue("en", 2)
    assert "郑州市 下属 2 个单位仍未报送" in _overdue("zh_CN", 2)


def test_notices_say_others_were_told_only_when_they_were() -> None:
    assert "were told" not in _overdue("en", 2, told=False)
    assert "已通知" not in _overdue("zh_CN", 2, told=False)
    assert "Their liaisons and office heads were told" in _overdue("en", 2, told=True)
    ctx = {"unit": _Unit("二七区", "Erqi"), "period_end": date(2018, 10, 14),
           "deadline": datetime(2018, 10, 14, 17, 0, tzinfo=SHANGHAI)}
    nobody = render_notice("notices/overdue_head.html.j2", "en", liaisons_told=False, **ctx)
    assert "has been reminded" not in nobody and "nobody else was told" in nobody
    alone = render_notice("notices/overdue_liaison.html.j2", "en", heads_told=False, **ctx)
    assert "office head has been informed" not in alone and "/report" in alone


def test_reminder_says_minute_or_minutes() -> None:
    def last_line(n: int) -> str:
        return render_notice("notices/reminder.html.j2", "en", unit=_Unit("二七区", "Erqi"),
                             period_end=date(2018, 10, 8),
                             deadline=datetime(2018, 10, 8, 17, 0, tzinfo=SHANGHAI),
                             minutes_left=n, phase="survey").splitlines()[-1]

    assert last_line(1).startswith("About 1 minute left.")
    assert last_line(30).startswith("About 30 minutes left.")
