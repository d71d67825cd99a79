"""Templates keep their lines: trim_blocks must never run two template lines together.

Chinese renderings also keep to Chinese typography: no space after full-width punctuation.

The environment's trim_blocks deletes the newline after a block tag that ends a line, so a
line ending in `{% endtrans %}` or `{% endif %}` ran into the next one ("…17:00 today.About 5
minutes left."). Here every template is rendered through a loader that puts a marker in front
of each newline trim_blocks would delete: the marker keeps the newline, so where it lands in
the output shows exactly where a newline was deleted, and text on both sides of it on the same
output line means two template lines were joined. `+%}` keeps a newline on purpose.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from jinja2 import BaseLoader, Environment
from markupsafe import Markup

from bot import rendering
from bot.i18n import Catalogs
from bot.services.bulletins.content import BulletinData, SourceLine, UnitLine
from bot.services.bulletins.document import Issue
from bot.services.bulletins.document import context as bulletin_context
from bot.services.reports.templates import get_template, templates
from tests.unit.supervision_template_cases import CASES as SUPERVISION_CASES

CATALOGS = Catalogs()
LOCALES = ("zh_CN", "en")
SHANGHAI = ZoneInfo("Asia/Shanghai")
MARK = "\ue000"  # a private-use character: no template or translation contains it
# A block (or comment) tag that ends a line, without "+" or "-": trim_blocks eats its newline.
EATEN = re.compile(r"(?<![+\-])([%#]})\n")
# Full-width punctuation followed by an ASCII space: Chinese typography has no such space.
SPACED = re.compile(r"[：，。；！？、）」』》】”] ")
TAG = re.compile(r"<[^>]*>")


class Unit:
    """A unit as the notice templates see it."""

    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en

    def display_name(self, locale: str) -> str:
        """The name in the reader's language."""
        return self.zh if locale.startswith("zh") else self.en


ERQI = Unit("二七区", "Erqi")
SURVEY = get_template("survey")
PERCENT_FIELD = next(f for t in templates().values() for f in t.fields if f.type == "percent")
ZHENGZHOU = Unit("郑州市", "Zhengzhou")
DEADLINE = datetime(2018, 10, 14, 17, 0, tzinfo=SHANGHAI)
PERIOD_END = date(2018, 10, 14)
STAFF = SimpleNamespace(staff_id="41010300012", name="王小明", phone="13800000000",
                        org="郑州市统计局", telegram_user_id=5001)
CARD = SimpleNamespace(staff_id="41010300012", masked_name="王*明", org="郑州市统计局")
REPORT = SimpleNamespace(id=7, claimed_id="41010399999", latitude=34.74, longitude=113.62,
                         text="He asked for a fee.")
OUTBOX = SimpleNamespace(pending=3, due=1, deferred=2, sending=0, failed_24h=2,
                         failed_by_reason=[(403, 2)], unreachable=[(5001, "Wang")])


def _bulletin(draft: bool) -> dict[str, Any]:
    """A small bulletin's context: every section has something in it."""
    data = BulletinData(
        series_id="survey-weekly", title_zh="关于全市入户调查情况的通报",
        title_en="the city-wide household survey", root_code="410100", root_name="郑州市",
        root_name_en="Zhengzhou", phase="survey", period_start=date(2018, 10, 8),
        period_end=PERIOD_END, as_of=datetime(2018, 10, 15, 9, 0, tzinfo=SHANGHAI),
        plan_rate=0.6,
        sources=(SourceLine("industrial_enterprises", "工业企业", "Industrial enterprises",
                            7570, 12616),),
        units=(UnitLine("410105", "金水区", "Jinshui", "submitted", 0.925, 0.883, DEADLINE),
               UnitLine("410103", "二七区", "Erqi", "late", 0.45, 0.44, DEADLINE,
                        late_count=2, offence_periods=2),
               UnitLine("410122", "中牟县", "Zhongmu", "missing", 0.30, 0.30, None,
                        missing_count=3, offence_periods=3)),
    )
    issue = Issue(None if draft else 3, date(2018, 10, 15), note="1. 补报。\n2. 约谈。",
                  corrects_number=None if draft else 2, correction_reason="数据有误")
    return {"_bulletin": (data, issue), "chart_uri": None}


SUMMARY_ROWS = [{"label": "工业企业", "value": "120", "unit": "家", "change": "+20",
                 "target": "200", "rate": 60.0},
                {"label": "入户率", "value": "80", "unit": "%", "change": None, "target": None,
                 "rate": None}]
STATUS_ROWS = [{"rank": 1, "icon": "✅", "name": "金水区", "rate": 92.5, "change": "+4.2",
                "at": "09:00"},
               {"rank": 2, "icon": "❌", "name": "中牟县", "rate": None, "change": None,
                "at": None}]

# (template, variant, context): between them the variants take every branch that prints.
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("bulletins/document.html.j2", "published", _bulletin(draft=False)),
    ("bulletins/document.html.j2", "draft", _bulletin(draft=True)),
    ("bulletins/message.html.j2", "published", _bulletin(draft=False)),
    ("bulletins/message.html.j2", "draft", _bulletin(draft=True)),
    ("bulletins/generated.html.j2", "published",
     {"state": "published", "created": False, "start": "2018-10-08", "end": "2018-10-14",
      "number": 3, "approvers": 2}),
    ("bulletins/generated.html.j2", "created",
     {"state": "draft", "created": True, "start": "2018-10-08", "end": "2018-10-14",
      "number": None, "approvers": 2}),
    ("bulletins/generated.html.j2", "waiting",
     {"state": "draft", "created": False, "start": "2018-10-08", "end": "2018-10-14",
      "number": None, "approvers": 2}),
    ("bulletins/list.html.j2", "",
     {"series": [{"title": "入户调查", "published": [
         {"number": 3, "start": "2018-10-08", "end": "2018-10-14", "date": "2018-10-15"},
         {"number": 2, "start": "2018-10-01", "end": "2018-10-07", "date": "2018-10-08"}],
         "drafts": [{"start": "2018-10-15", "end": "2018-10-21", "corrects": 3},
                    {"start": "2018-10-22", "end": "2018-10-28", "corrects": None}]},
         {"title": "清查", "published": [], "drafts": []}]}),
    ("bulletins/published.html.j2", "fresh", {"fresh": True, "number": 3, "chats": 2}),
    ("bulletins/published.html.j2", "again", {"fresh": False, "number": 3, "chats": 2}),
    ("bulletins/usage.html.j2", "", {}),
    ("common/error.html.j2", "", {"ref": 42}),
    ("common/help.html.j2", "",
     {"commands": [("start", "", "Start"), ("report", "[unit]", "Report progress")]}),
    ("common/lang_choose.html.j2", "", {}),
    ("common/lang_set.html.j2", "", {}),
    ("common/start.html.j2", "", {"name": "王", "roles": []}),
    ("faq/answer.html.j2", "feedback",
     {"question": "Q?", "answer": Markup("A."), "see_also": ["Q2?", "Q3?"],
      "ask_feedback": True}),
    ("faq/answer.html.j2", "plain",
     {"question": "Q?", "answer": Markup("A."), "see_also": [], "ask_feedback": False}),
    ("faq/ask_usage.html.j2", "", {"example": "普查是什么？"}),
    ("faq/desk_answer.html.j2", "", {"unit": "二七区", "question": "Q?", "answer": "A."}),
    ("faq/desk_cancelled.html.j2", "", {}),
    ("faq/desk_prompt.html.j2", "", {"id": 5, "text": "Q?"}),
    ("faq/desk_question.html.j2", "staff",
     {"id": 5, "text": "Q?", "asker": "Wang", "unit": "二七区", "staff": True, "reminder": 0}),
    ("faq/desk_question.html.j2", "public",
     {"id": 5, "text": "Q?", "asker": "Wang", "unit": "二七区", "staff": False, "reminder": 0}),
    ("faq/desk_question.html.j2", "reminder",
     {"id": 5, "text": "Q?", "asker": "", "unit": "二七区", "staff": False, "reminder": 1,
      "hours": 24}),
    ("faq/desk_sent.html.j2", "", {"id": 5}),
    ("faq/escalated.html.j2", "new", {"new": True, "unit": "二七区", "id": 5}),
    ("faq/escalated.html.j2", "again", {"new": False, "unit": "二七区", "id": 5}),
    ("faq/not_helpful.html.j2", "", {}),
    ("faq/unknown.html.j2", "", {}),
    ("faq/unsure.html.j2", "", {"questions": ["Q1?", "Q2?"]}),
    ("faq/did_you_mean.html.j2", "", {"question": "普查的标准时点是什么时候？"}),
    ("notices/behind_plan.html.j2", "",
     {"unit": ERQI, "rate": 45.0, "plan": 60.0, "gap": 15.0, "period_end": PERIOD_END}),
    ("notices/outbox_denied.html.j2", "", {}),
    ("notices/outbox_status.html.j2", "full",
     {"s": OUTBOX, "rates": {1: 0.5, 5: 0.2}, "oldest": "10-14 16:00"}),
    ("notices/outbox_status.html.j2", "empty",
     {"s": SimpleNamespace(pending=0, due=0, deferred=0, sending=0, failed_24h=0,
                           failed_by_reason=[], unreachable=[]),
      "rates": {1: 0.0}, "oldest": None}),
    ("notices/overdue_head.html.j2", "",
     {"unit": ERQI, "period_end": PERIOD_END, "deadline": DEADLINE}),
    ("notices/overdue_liaison.html.j2", "",
     {"unit": ERQI, "period_end": PERIOD_END, "deadline": DEADLINE}),
    ("notices/overdue_parent.html.j2", "",
     {"parent": ZHENGZHOU, "late_units": [ERQI, Unit("中牟县", "Zhongmu")],
      "period_end": PERIOD_END, "deadline": DEADLINE}),
    ("notices/report_corrected.html.j2", "late, with reason",
     {"unit": ERQI, "table": SURVEY, "start": "2018-10-08", "end": "2018-10-14",
      "version": 2, "late": True, "reason": "漏统计",
      "changes": [{"field": SURVEY.fields[0], "old": "100", "new": "120"},
                  {"field": PERCENT_FIELD, "old": "50", "new": "60"}]}),
    ("notices/report_corrected.html.j2", "nothing changed",
     {"unit": ERQI, "table": SURVEY, "start": "2018-10-08", "end": "2018-10-14",
      "version": 3, "late": False, "reason": None, "changes": []}),
    ("notices/first_submission.html.j2", "late, new found",
     {"unit": ERQI, "table": SURVEY, "start": "2018-10-08", "end": "2018-10-08",
      "late": True, "new_found": 12}),
    ("notices/first_submission.html.j2", "plain",
     {"unit": ERQI, "table": SURVEY, "start": "2018-10-08", "end": "2018-10-14",
      "late": False, "new_found": 0}),
    ("notices/binding_moved.html.j2", "", {"staff_id": "ZZ-410102-0001"}),
    ("notices/staff_status.html.j2", "suspended",
     {"staff_id": "ZZ-410102-0001", "status": "suspended"}),
    ("notices/staff_status.html.j2", "active", {"staff_id": "ZZ-410102-0001", "status": "active"}),
    ("notices/staff_status.html.j2", "revoked",
     {"staff_id": "ZZ-410102-0001", "status": "revoked"}),
    ("notices/reminder.html.j2", "",
     {"unit": ERQI, "period_end": PERIOD_END, "deadline": DEADLINE, "minutes_left": 5,
      "phase": "survey"}),
    ("notices/reminder.html.j2", "one of several reports",
     {"unit": ERQI, "period_end": PERIOD_END, "deadline": DEADLINE, "minutes_left": 5,
      "phase": "survey_weekly", "report": get_template("survey_weekly")}),
    ("notices/overdue_head.html.j2", "one of several reports",
     {"unit": ERQI, "period_end": PERIOD_END, "deadline": DEADLINE,
      "report": get_template("survey_weekly")}),
    ("notices/overdue_liaison.html.j2", "one of several reports",
     {"unit": ERQI, "period_end": PERIOD_END, "deadline": DEADLINE,
      "report": get_template("survey_weekly")}),
    ("notices/summons.html.j2", "",
     {"unit": ERQI, "count": 3, "days": 30,
      "dates": [date(2018, 10, 7), date(2018, 10, 14)]}),
    ("notices/unreachable.html.j2", "roles",
     {"name": "Wang", "user_id": 5001, "username": None, "roles": ["County liaison"]}),
    ("notices/unreachable.html.j2", "no roles",
     {"name": "Wang", "user_id": 5001, "username": None, "roles": []}),
    ("reports/ask_field.html.j2", "error",
     {"n": 2, "total": 5, "label": "工业企业", "unit": "家", "type": "number",
      "required": False, "target": "200", "previous": "100", "error": "Not a number."}),
    ("reports/ask_field.html.j2", "first",
     {"n": 1, "total": 5, "label": "备注", "unit": None, "type": "text", "required": True,
      "target": None, "previous": None, "error": None}),
    ("reports/choose_unit.html.j2", "", {}),
    ("reports/help.html.j2", "",
     {"tables": [{"name": "入户调查", "fields": [
         {"label": "工业企业", "aliases": "工业, industrial", "required": True},
         {"label": "锅炉", "aliases": "boilers", "required": False}]}]}),
    ("reports/problems.html.j2", "", {"problems": ["One.", "Two."], "saved": False}),
    ("reports/refused.html.j2", "", {}),
    ("reports/resume.html.j2", "",
     {"unit": "二七区", "table": "入户调查", "done": 2, "total": 5}),
    ("reports/saved.html.j2", "correction",
     {"unit": "二七区", "period": "2018-10-08 至 2018-10-14", "version": 2,
      "late": True, "rate": 60.0, "new_found": 12}),
    ("reports/saved.html.j2", "correction on time",
     {"unit": "二七区", "period": "2018-10-08 至 2018-10-14", "version": 2,
      "late": False, "rate": 60.0, "new_found": 0}),
    ("reports/saved.html.j2", "first",
     {"unit": "二七区", "period": "2018-10-08", "version": 1,
      "late": False, "rate": None, "new_found": 0}),
    ("reports/start.html.j2", "correction",
     {"unit": "二七区", "table": "入户调查", "period": "2018-10-08 至 2018-10-14",
      "correction": True, "version": 2}),
    ("reports/start.html.j2", "first",
     {"unit": "二七区", "table": "入户调查", "period": "2018-10-08",
      "correction": False, "version": 1}),
    ("reports/status.html.j2", "full",
     {"root": "郑州市", "table": "入户调查", "period": "2018-10-08 至 2018-10-14",
      "deadline": "17:00", "counts": {"submitted": 1, "late": 1, "missing": 1, "not_due": 0},
      "total": 3, "rows": STATUS_ROWS, "missing": ["中牟县"], "late": ["二七区"],
      "lines": [{"label": "工业企业", "value": "120", "target": "200", "rate": 60.0,
                 "new_found": "12"}],
      "rate": 60.0, "subtotals": [{"name": "市辖区", "rate": 70.0, "done": 2, "units": 3}]}),
    ("reports/status.html.j2", "bare",
     {"root": "郑州市", "table": "入户调查", "period": "2018-10-08",
      "deadline": "17:00", "counts": {"submitted": 0, "late": 0, "missing": 0, "not_due": 1},
      "total": 1, "rows": STATUS_ROWS[1:], "missing": [], "late": [], "lines": [],
      "rate": 60.0, "subtotals": []}),
    ("reports/summary.html.j2", "confirm",
     {"unit": "二七区", "table": "入户调查", "period": "2018-10-08 至 2018-10-14",
      "deadline": "2018-10-14 17:00", "late": True, "rows": SUMMARY_ROWS, "version": 2,
      "rate": 60.0, "hard": [], "decreases": ["Fewer than before."], "reason": "Merged.",
      "above": ["Above."], "new_found": [{"label": "工业企业", "count": "12"}],
      "asking": None, "least": None, "error": None, "stage": "confirm"}),
    ("reports/summary.html.j2", "problems",
     {"unit": "二七区", "table": "入户调查", "period": "2018-10-08",
      "deadline": "2018-10-14 17:00", "late": False, "rows": SUMMARY_ROWS, "version": 1,
      "rate": None, "hard": ["Too many."], "decreases": ["Fewer than before."],
      "above": [], "new_found": [], "asking": None, "least": None, "error": "Not a number.",
      "reason": None, "stage": "fix"}),
    ("reports/summary.html.j2", "new found",
     {"unit": "二七区", "table": "入户调查", "period": "2018-10-08",
      "deadline": "2018-10-14 17:00", "late": False, "rows": SUMMARY_ROWS, "version": 1,
      "rate": 101.5, "hard": [], "decreases": ["Fewer than before."], "above": ["Above."],
      "new_found": [], "asking": "工业企业", "least": "17", "error": None,
      "reason": None, "stage": "newfound"}),
    ("reports/summary.html.j2", "reason",
     {"unit": "二七区", "table": "入户调查", "period": "2018-10-08",
      "deadline": "2018-10-14 17:00", "late": False, "rows": SUMMARY_ROWS, "version": 2,
      "rate": 50.0, "hard": [], "decreases": ["Fewer than before."], "above": [],
      "new_found": [], "asking": None, "least": None, "error": None,
      "reason": None, "stage": "reason"}),
    ("reports/targets.html.j2", "",
     {"unit": "二七区", "tables": [{"name": "入户调查", "targets": [
         {"label": "工业企业", "value": "800"}], "changes": [
         {"label": "工业企业", "old": "883", "new": "800", "by": 5102,
          "at": "2018-10-08 10:00"}]}]}),
    ("reports/targets_usage.html.j2", "", {}),
    ("common/unknown_command.html.j2", "unknown",
     {"command": "/foo", "cancel": False,
      "commands": [("start", "", "Start"), ("report", "[unit]", "Report progress")]}),
    ("common/unknown_command.html.j2", "cancel",
     {"command": "/cancel", "cancel": True, "commands": [("help", "", "Help")]}),
    ("reports/template_caption.html.j2", "", {}),
    ("verify/bound.html.j2", "now",
     {"staff": STAFF, "already": False, "role": "普查员", "unit": "郑州市 二七区"}),
    ("verify/bound.html.j2", "already",
     {"staff": STAFF, "already": True, "role": "普查员", "unit": "郑州市 二七区"}),
    ("verify/genuine.html.j2", "",
     {"card": CARD, "role": "普查员", "unit": "郑州市 二七区", "valid_to": "2019-06-30"}),
    ("verify/inactive.html.j2", "expired",
     {"result": "expired", "card": CARD, "role": "普查员", "unit": "郑州市 二七区",
      "valid_to": "2018-06-30"}),
    ("verify/lookups.html.j2", "",
     {"units": "郑州市", "counts": [("Genuine", 3), ("Unknown", 1)],
      "reports": [{"id": 7, "at": "10-14 16:00", "claimed_id": "41010399999",
                   "text": "Fee."}]}),
    ("verify/lookups.html.j2", "none", {"units": "郑州市", "counts": [], "reports": []}),
    ("verify/refused.html.j2", "day", {"limit": "day"}),
    ("verify/refused.html.j2", "burst", {"limit": "minute"}),
    ("verify/report_notice.html.j2", "",
     {"report": REPORT, "result": "Unknown", "unit": "二七区",
      "reported_at": "2018-10-14 16:00"}),
    ("verify/staff_details.html.j2", "",
     {"staff": STAFF, "role": "普查员", "unit": "郑州市 二七区", "valid_to": "2019-06-30",
      "status": "Active"}),
    ("verify/unknown.html.j2", "not registered", {"forged": False, "query": "41010399999"}),
]
CASES += SUPERVISION_CASES
TEMPLATES = rendering.TEMPLATES_DIR


class _Marking(BaseLoader):
    """The templates, with MARK in front of every newline trim_blocks would delete."""

    def get_source(self, environment: Environment, template: str
                   ) -> tuple[str, str, Callable[[], bool]]:
        """Source of `template` with the deleted newlines made visible."""
        path = TEMPLATES / template
        source = EATEN.sub(rf"\1{MARK}\n", path.read_text(encoding="utf-8"))
        return source, str(path), lambda: False


def _render(template: str, locale: str, context: dict[str, Any]) -> str:
    """The template rendered as the bot renders it, with the project environment."""
    if "_bulletin" in context:
        data, issue = context["_bulletin"]
        context = {**bulletin_context(data, issue, CATALOGS.get(locale)),
                   "chart_uri": context["chart_uri"]}
    return rendering.render(template, CATALOGS.get(locale), **context)


def _joins(marked: str) -> Iterator[str]:
    """Output lines in which text from two template lines meets at a deleted newline."""
    for line in marked.replace(MARK + "\n", MARK).split("\n"):
        if sum(1 for part in line.split(MARK) if part.strip()) > 1:
            yield line.replace(MARK, "⏎")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("template", "variant", "context"), CASES,
                         ids=[f"{t}:{v}" for t, v, _ in CASES])
def test_no_two_template_lines_run_together(monkeypatch: pytest.MonkeyPatch, template: str,
                                            variant: str, context: dict[str, Any],
                                            locale: str) -> None:
    plain = _render(template, locale, context)
    marking = rendering.environment().overlay(loader=_Marking())
    monkeypatch.setattr(rendering, "environment", lambda: marking)
    marked = _render(template, locale, context)
    assert marked.replace(MARK + "\n", "").replace(MARK, "").strip() == plain  # only marks added
    assert list(_joins(marked)) == [], f"{template} ({variant}, {locale}): lines run together"


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(("template", "variant", "context"), CASES,
                         ids=[f"{t}:{v}" for t, v, _ in CASES])
def test_no_two_blank_lines_in_a_row(template: str, variant: str, context: dict[str, Any],
                                     locale: str) -> None:
    text = _render(template, locale, context)
    assert "\n\n\n" not in text, f"{template} ({variant}, {locale}): two blank lines in a row"


def test_every_template_is_rendered() -> None:
    names = {p.relative_to(TEMPLATES).as_posix() for p in Path(TEMPLATES).rglob("*.j2")}
    covered = {t for t, _, _ in CASES} | {"verify/_card.html.j2",  # included by genuine
                                          "common/_commands.html.j2"}  # by help, unknown
    assert names - covered == set()


@pytest.mark.parametrize(("template", "variant", "context"), CASES,
                         ids=[f"{t}:{v}" for t, v, _ in CASES])
def test_no_space_after_full_width_punctuation(template: str, variant: str,
                                               context: dict[str, Any]) -> None:
    """A label and a value go through one message, so the Chinese text has no space between."""
    text = html.unescape(TAG.sub("", _render(template, "zh_CN", context)))  # what a reader sees
    spaced = [line for line in text.split("\n") if SPACED.search(line)]
    assert spaced == [], f"{template} ({variant}): space after full-width punctuation"


# ------------------------------------------------------------ no English in the Chinese UI
#
# Every zh_CN rendering (each template above, and every message of every zh_CN catalogue) may
# contain ASCII words only when they are commands (/report), placeholders the reader fills in,
# or on this list. To allow a word, add it here under the reason that justifies it (a new
# feature's catalogue: add its proper nouns and codes in a commented group of its own).
ALLOWED_ASCII: dict[str, str] = {
    **dict.fromkeys(("Telegram", "Excel", "CSV", "XLSX", "UTF", "GB", "ZIP", "Zip", "PNG",
                     "JPEG", "GIF", "PDF", "RAR", "RTF", "gzip", "HTML"),
                    "product and file-format names"),
    "MB": "unit of measure",
    "xlsx": "the argument people type literally after a command: /orders xlsx",
    "ID": "Telegram's own term for the numeric user id, shown next to the word Telegram",
    "English": "the language switch names the other language in its own script",
    **dict.fromkeys(("Q", "ZZ"), "codes people see and type: question #Q12, staff ids ZZ-…"),
    **dict.fromkeys(("code", "name", "level", "key", "cadence", "every", "censusbot", "org",
                     "load"),
                    "data-file keys and the command line, in operator-facing errors"),
}
# An ASCII word not preceded by a command slash, a placeholder or a word character.
ASCII_WORD = re.compile(r"(?<![/\w%@.#\-])[A-Za-z][A-Za-z_]*")
# An ASCII colon right after Chinese text (or after a placeholder that holds Chinese text).
CHINESE_THEN_COLON = re.compile(r"(?:[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]|%\(\w+\)s) ?:")
# Chinese punctuation that has no place in the English UI.
FULL_WIDTH = re.compile(r"[，。：；！？、（）「」《》【】]")


def _data_words(value: Any) -> set[str]:
    """ASCII words in the test data itself (names, user text): those are not the UI's."""
    if isinstance(value, str):
        return set(ASCII_WORD.findall(value))
    if isinstance(value, dict):
        return set().union(*(_data_words(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple | set):
        return set().union(*(_data_words(v) for v in value)) if value else set()
    if isinstance(value, SimpleNamespace):
        return _data_words(vars(value))
    return set()


def _english_words(text: str, allowed: set[str]) -> list[str]:
    plain = re.sub(r"/[a-z_]+", "", html.unescape(TAG.sub("", text)))
    return [w for w in ASCII_WORD.findall(plain) if w not in ALLOWED_ASCII and w not in allowed]


@pytest.mark.parametrize(("template", "variant", "context"), CASES,
                         ids=[f"{t}:{v}" for t, v, _ in CASES])
def test_chinese_rendering_has_no_english_and_no_ascii_colon(
        template: str, variant: str, context: dict[str, Any]) -> None:
    text = _render(template, "zh_CN", context)
    if template == "bulletins/document.html.j2":  # the page's CSS and markup are not read
        text = text.split("<body>", 1)[1]
    data = _data_words(context) | {"Erqi", "Zhengzhou"}
    assert _english_words(text, data) == [], f"{template} ({variant}): English in Chinese UI"
    plain = html.unescape(TAG.sub("", text))
    colons = [line for line in plain.split("\n") if CHINESE_THEN_COLON.search(line)]
    assert colons == [], f"{template} ({variant}): ASCII colon after Chinese text"


@pytest.mark.parametrize(("template", "variant", "context"), CASES,
                         ids=[f"{t}:{v}" for t, v, _ in CASES])
def test_english_rendering_has_no_chinese_punctuation(
        template: str, variant: str, context: dict[str, Any]) -> None:
    text = html.unescape(TAG.sub("", _render(template, "en", context)))
    data = "".join(str(v) for v in context.values())
    found = [ch for ch in FULL_WIDTH.findall(text) if ch not in data]
    assert found == [], f"{template} ({variant}): Chinese punctuation in the English UI"


def _catalogue_messages() -> Iterator[tuple[str, str, str]]:
    from babel.messages.pofile import read_po

    from bot.i18n.catalogs import LOCALES_DIR

    for path in sorted(LOCALES_DIR.glob("zh_CN/LC_MESSAGES/*.po")):
        with path.open("rb") as fh:
            for msg in read_po(fh, locale="zh_CN"):
                if not msg.id:
                    continue
                strings = msg.string if isinstance(msg.string, tuple) else (msg.string,)
                for text in strings:
                    yield path.name, str(msg.id if isinstance(msg.id, str) else msg.id[0]), text


def test_every_chinese_message_has_no_english_and_no_ascii_colon() -> None:
    english, colons = [], []
    for name, _msgid, text in _catalogue_messages():
        bare = re.sub(r"%\(\w+\)[sd]|`[^`]*`", "", text)
        if _english_words(bare, set()):
            english.append(f"{name}: {text!r} {_english_words(bare, set())}")
        if CHINESE_THEN_COLON.search(text):
            colons.append(f"{name}: {text!r}")
    assert english == [], "English words in Chinese messages:\n" + "\n".join(english)
    assert colons == [], "ASCII colon after Chinese text:\n" + "\n".join(colons)


def test_english_messages_have_no_chinese_punctuation() -> None:
    """The English UI is the msgids themselves: none may carry full-width punctuation."""
    from bot.i18n.extract import extract

    found = [str(m.id) for m in extract()
             if m.id and FULL_WIDTH.search(m.id if isinstance(m.id, str) else m.id[0])]
    assert found == [], "Chinese punctuation in English messages:\n" + "\n".join(found)
