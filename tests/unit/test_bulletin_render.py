"""Bulletin rendering: golden files of the message and document, ranking rules, long bulletins.

Regenerate the golden files with
`CENSUSBOT_REGEN_GOLDEN=1 pytest tests/unit/test_bulletin_render.py`,
and review the diff before committing.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.i18n import Catalogs
from bot.services.bulletins.content import (
    BulletinData,
    SourceLine,
    UnitLine,
    lagging_units,
    praised,
    ranked,
    repeat_offenders,
)
from bot.services.bulletins.document import Issue, render_document, render_messages

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "bulletins"
REGEN = os.environ.get("CENSUSBOT_REGEN_GOLDEN") == "1"
CATALOGS = Catalogs()
TINY_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf000000030101005e0b1f0c0000000049454e44ae426082"
)


def fixed_data(units: int | None = None) -> BulletinData:
    """A fixed data set: four Zhengzhou counties (or `units` synthetic ones)."""
    if units is None:
        lines = (
            UnitLine("410105", "金水区", "Jinshui", "submitted", 0.925, 0.883,
                     datetime(2018, 10, 14, 9, 0, tzinfo=UTC)),
            UnitLine("410102", "中原区", "Zhongyuan", "submitted", 0.71, 0.64,
                     datetime(2018, 10, 14, 9, 30, tzinfo=UTC)),
            UnitLine("410103", "二七区", "Erqi", "late", 0.45, 0.44,
                     datetime(2018, 10, 14, 12, 0, tzinfo=UTC), late_count=2, offence_periods=2),
            UnitLine("410122", "中牟县", "Zhongmu", "missing", 0.30, 0.30, None,
                     late_count=1, missing_count=3, offence_periods=3),
            UnitLine("410181", "巩义市", "Gongyi", "submitted", 0.71, 0.69,
                     datetime(2018, 10, 14, 8, 0, tzinfo=UTC)),
        )
    else:
        lines = tuple(
            UnitLine(f"9{i:05d}", f"第{i}测试县<&>", f"Test county {i} <&>",
                     "missing" if i % 7 == 0 else "submitted", (i * 37 % 100) / 100,
                     (i * 31 % 100) / 100, None, missing_count=1 if i % 7 == 0 else 0,
                     late_count=1 if i % 5 == 0 else 0, offence_periods=2 if i % 10 == 0 else 0)
            for i in range(1, units + 1)
        )
    return BulletinData(
        series_id="survey-weekly",
        title_zh="关于全市入户调查情况的通报",
        title_en="the city-wide household survey",
        root_code="410100", root_name="郑州市", root_name_en="Zhengzhou",
        phase="survey",
        period_start=date(2018, 10, 8), period_end=date(2018, 10, 14),
        as_of=datetime(2018, 10, 15, 1, 0, tzinfo=UTC),
        plan_rate=0.6,
        sources=(
            SourceLine("industrial_enterprises", "工业企业", "Industrial enterprises", 7570, 12616),
            SourceLine("livestock_farms", "规模畜禽养殖场", "Livestock farms", 1100, 1617),
            SourceLine("domestic_boilers", "生活源锅炉", "Domestic boilers", 500.5, 811),
        ),
        units=lines,
    )


ISSUE = Issue(number=3, issued_on=date(2018, 10, 15),
              note="1. 各县区于10月20日前补报。\n2. 中牟县普查办主任约谈。")


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in {"img", "meta", "br", "hr"}:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()


def _balanced(html: str) -> bool:
    parser = _Balance()
    parser.feed(html)
    parser.close()
    return not parser.stack


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}: run with CENSUSBOT_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_message_matches_golden(locale: str) -> None:
    messages = render_messages(fixed_data(), ISSUE, CATALOGS.get(locale))
    assert len(messages) == 1 and len(messages[0]) <= 4096
    assert _balanced(messages[0])
    _golden(f"message.{locale}.html", messages[0] + "\n")


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_document_matches_golden(locale: str) -> None:
    doc = render_document(fixed_data(), ISSUE, CATALOGS.get(locale), chart=TINY_PNG)
    assert _balanced(doc.replace("<!DOCTYPE html>", ""))
    _golden(f"document.{locale}.html", doc)


def test_titles_and_facts_in_chinese() -> None:
    text = render_messages(fixed_data(), ISSUE, CATALOGS.get("zh_CN"))[0]
    assert "关于全市入户调查情况的通报（第3期）" in text
    assert "2018-10-08" in text and "2018-10-14" in text
    assert "金水区" in text and "92.5%" in text and "+4.2" in text
    assert "中牟县" in text and "约谈" in text


def test_titles_in_english() -> None:
    text = render_messages(fixed_data(), ISSUE, CATALOGS.get("en"))[0]
    assert "Bulletin No. 3 on the city-wide household survey" in text
    assert "Jinshui" in text and "金水区" not in text


def test_draft_has_no_number() -> None:
    text = render_messages(fixed_data(), Issue(None, date(2018, 10, 15)),
                           CATALOGS.get("zh_CN"))[0]
    assert "第" not in text.split("\n")[1] and "草稿" in text


def test_correction_says_what_it_corrects() -> None:
    issue = Issue(4, date(2018, 10, 16), corrects_number=3, correction_reason="二七区数据有误")
    text = render_messages(fixed_data(), issue, CATALOGS.get("zh_CN"))[0]
    assert "（第4期）" in text and "更正第3期" in text and "二七区数据有误" in text


def test_ranking_ties_share_a_rank_and_deltas() -> None:
    rows = ranked(fixed_data())
    assert [(r.unit.code, r.rank) for r in rows] == [
        ("410105", 1), ("410102", 2), ("410181", 2), ("410103", 4), ("410122", 5)]
    assert rows[0].delta == pytest.approx(0.042)


def test_praise_laggards_and_repeat_offenders() -> None:
    data = fixed_data()
    assert [r.unit.code for r in praised(data)] == ["410105", "410102", "410181"]
    assert [r.unit.code for r in lagging_units(data)] == ["410122", "410103"]
    assert [u.code for u in repeat_offenders(data)] == ["410122", "410103"]


def test_data_round_trips_through_json() -> None:
    data = fixed_data()
    assert BulletinData.from_json(data.to_json()) == data


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_long_bulletin_splits_cleanly(locale: str) -> None:
    data = fixed_data(units=120)
    messages = render_messages(data, ISSUE, CATALOGS.get(locale))
    assert len(messages) >= 2
    for m in messages:
        assert len(m) <= 4096
        assert _balanced(m)
    joined = "\n".join(messages)
    named = [u for u in data.units if u.late_count or u.missing_count]
    assert len(named) > 30
    for u in named:
        assert _escaped(u.display_name(locale)) + " — " in joined
    assert "<&>" not in joined  # names are escaped
    for m in messages[1:]:
        assert m.startswith("<b>")  # each continuation names the bulletin


def test_long_bulletin_document_has_every_unit() -> None:
    data = fixed_data(units=120)
    doc = render_document(data, ISSUE, CATALOGS.get("zh_CN"))
    assert doc.count("<tr") == 120 + 1 + 3 + 1


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
