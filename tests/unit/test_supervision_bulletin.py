"""A bulletin names the supervision orders overdue when it was generated, in both languages
(message and document); an older bulletin without them renders as before."""

from __future__ import annotations

import dataclasses
from datetime import date

from bot.i18n import Catalogs
from bot.services.bulletins.document import Issue, render_document, render_messages
from tests.unit.test_bulletin_render import fixed_data

OVERDUE = {"overdue_orders": [{"unit_zh": "中牟县", "unit_en": "Zhongmu",
                               "ref_zh": "郑普办督〔2018〕3号",
                               "ref_en": "Zhengzhou Census Office Order [2018] No. 3",
                               "due": "2018-10-20 18:00"}]}
ISSUE = Issue(number=4, issued_on=date(2018, 10, 22))


def test_overdue_orders_are_named() -> None:
    data = dataclasses.replace(fixed_data(), extra=OVERDUE)
    zh, en = Catalogs().get("zh_CN"), Catalogs().get("en")
    message = "\n".join(render_messages(data, ISSUE, zh))
    assert "📌 中牟县 — 郑普办督〔2018〕3号逾期未答复（期限 2018-10-20 18:00）" in message
    english = "\n".join(render_messages(data, ISSUE, en))
    assert ("Zhongmu — supervision order Zhengzhou Census Office Order [2018] No. 3 not "
            "answered, due 2018-10-20 18:00") in english
    assert "郑普办督〔2018〕3号逾期未答复" in render_document(data, ISSUE, zh)
    assert "郑普办督" not in "\n".join(render_messages(fixed_data(), ISSUE, zh))
