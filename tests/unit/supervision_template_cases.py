"""Contexts for the supervision templates (orders, interviews, review, problems), one per
branch that prints; test_template_lines renders each in both languages."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

from bot.services.reports.templates import get_template


class _Unit:
    def __init__(self, zh: str, en: str) -> None:
        self.zh, self.en = zh, en

    def display_name(self, locale: str) -> str:
        return self.zh if locale.startswith("zh") else self.en


ZHONGMU = _Unit("中牟县", "Zhongmu")
CITY = _Unit("郑州市", "Zhengzhou")
SURVEY = get_template("survey")
ORDER = SimpleNamespace(id=12, number=3, text="请于10月20日前补报。", state="acknowledged",
                        answer_text="已补报。")
ACTION = SimpleNamespace(id=13, number=None, text="补齐缺报数据", state="issued",
                         answer_text=None)
BASE: dict[str, Any] = {"order": ORDER, "unit": ZHONGMU, "office": CITY,
                        "ref_zh": "郑普办督〔2018〕3号",
                        "ref_en": "Zhengzhou Census Office Order [2018] No. 3",
                        "due": "2018-10-20 18:00", "issued": "2018-10-17 09:00"}
REPORT = SimpleNamespace(version=2, period_start=date(2018, 10, 15),
                         period_end=date(2018, 10, 15))
ITEM = SimpleNamespace(text="缺少平板电脑。", answer="下周调配10台。")
S = "supervision/"

CASES: list[tuple[str, str, dict[str, Any]]] = [
    (S + "order.html.j2", "new", BASE),
    (S + "order.html.j2", "repeat action", {**BASE, "order": ACTION, "repeat": 2}),
    (S + "issued.html.j2", "created", {**BASE, "created": True, "recipients": 2}),
    (S + "issued.html.j2", "nobody", {**BASE, "created": True, "recipients": 0}),
    (S + "issued.html.j2", "again", {**BASE, "created": False, "recipients": 0}),
    (S + "acknowledged.html.j2", "", BASE),
    (S + "already_acked.html.j2", "acked", {**BASE, "when": "2018-10-17 10:00"}),
    (S + "already_acked.html.j2", "answered",
     {**BASE, "order": SimpleNamespace(**{**vars(ORDER), "state": "answered"}), "when": ""}),
    (S + "answered.html.j2", "files", {**BASE, "files": 2}),
    (S + "answered.html.j2", "text only", {**BASE, "files": 0}),
    (S + "answer_sent.html.j2", "", BASE),
    (S + "closed.html.j2", "", BASE),
    (S + "closed_ok.html.j2", "", BASE),
    (S + "returned.html.j2", "", {**BASE, "reason": "未附佐证材料。"}),
    (S + "returned_ok.html.j2", "", BASE),
    (S + "escalated.html.j2", "unacknowledged", {**BASE, "reason": "unacknowledged"}),
    (S + "escalated.html.j2", "overdue", {**BASE, "reason": "overdue"}),
    (S + "overdue.html.j2", "", BASE),
    (S + "usage.html.j2", "", {}),
    (S + "list.html.j2", "rows",
     {"rows": [{"ctx": BASE, "age": {"days": 1, "hours": 3}, "overdue": True},
               {"ctx": {**BASE, "order": ACTION}, "age": {"days": 0, "hours": 2},
                "overdue": False}], "more": 3}),
    (S + "list.html.j2", "empty", {"rows": [], "more": 0}),
    (S + "detail.html.j2", "", {**BASE, "events": [
        {"kind": "issued", "at": "2018-10-17 09:00", "detail": {}},
        {"kind": "returned", "at": "2018-10-18 09:00", "detail": {"reason": "不完整"}}]}),
    (S + "detail.html.j2", "no answer", {**BASE, "order": ACTION, "events": []}),
    (S + "order_offer.html.j2", "late", {"unit": ZHONGMU, "reason": "late",
                                         "day": "2018-10-15"}),
    (S + "order_offer.html.j2", "lag", {"unit": ZHONGMU, "reason": "lag",
                                        "day": "2018-10-15"}),
    (S + "interview_offer.html.j2", "", {"unit": ZHONGMU, "marks": 3}),
    (S + "interview_prompt.html.j2", "earlier", {"unit": ZHONGMU, "count": 1}),
    (S + "interview_prompt.html.j2", "first", {"unit": ZHONGMU, "count": 0}),
    (S + "interview_saved.html.j2", "", {"unit": ZHONGMU, "who": "张某某",
                                         "when": "2018-10-20 09:00",
                                         "actions": [{"id": 13, "text": "补报",
                                                      "due": "2018-10-22 18:00"}]}),
    (S + "interview_notice.html.j2", "", {"unit": ZHONGMU, "who": "张某某",
                                          "when": "2018-10-20 09:00",
                                          "actions": [{"text": "补报",
                                                       "due": "2018-10-22 18:00"}]}),
    (S + "review_list.html.j2", "more", {"total": 12, "shown": 10}),
    (S + "review_list.html.j2", "all", {"total": 2, "shown": 2}),
    (S + "review_list.html.j2", "none", {"total": 0, "shown": 0}),
    (S + "review_item.html.j2", "", {"unit": ZHONGMU, "table": "入户调查进度表",
                                     "report": REPORT, "received": "2018-10-15 17:00",
                                     "values": [{"label": "工业源", "value": "120"}]}),
    (S + "review_prompt.html.j2", "", {"unit": ZHONGMU, "fields": "工业源、农业源"}),
    (S + "review_done.html.j2", "accepted", {"accepted": True, "unit": ZHONGMU,
                                             "report": REPORT}),
    (S + "review_done.html.j2", "returned", {"accepted": False, "unit": ZHONGMU,
                                             "report": REPORT}),
    (S + "review_accepted.html.j2", "", {"unit": ZHONGMU, "table": SURVEY, "report": REPORT}),
    (S + "review_returned.html.j2", "", {
        "unit": ZHONGMU, "table": SURVEY, "report": REPORT, "general": "请核实。",
        "comments": [{"field": SURVEY.fields[0], "value": "120", "comment": "与清查数不符"}]}),
    (S + "review_returned.html.j2", "fields only", {
        "unit": ZHONGMU, "table": SURVEY, "report": REPORT, "general": "",
        "comments": [{"field": SURVEY.fields[0], "value": "120", "comment": "与清查数不符"}]}),
    (S + "problem.html.j2", "new", {"unit": ZHONGMU, "item": ITEM, "due": "2018-10-18 18:00",
                                    "period": "2018-10-15"}),
    (S + "problem.html.j2", "overdue", {"unit": ZHONGMU, "item": ITEM, "overdue": True,
                                        "due": "2018-10-18 18:00", "period": ""}),
    (S + "problem_answer.html.j2", "", {"unit": ZHONGMU, "office": CITY, "item": ITEM}),
]
