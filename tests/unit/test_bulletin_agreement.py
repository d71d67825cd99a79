"""The message, the document and the chart of a bulletin say the same thing.

Hypothesis generates random report histories (per unit: the status of each day's report in
the period, the completion rate, the rate at the previous bulletin, the plan line); each is
turned into the bulletin's facts the way the collector counts them, then rendered three ways.
Read back from what a reader sees, the three must agree on every unit's rank, rate, late and
missing counts and status, and on who is lagging (red bars, highlighted rows).
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.i18n import Catalogs
from bot.services.bulletins.chart import (
    BEHIND_COLOR,
    bar_colors,
    bar_heights,
    bar_labels,
    build_chart,
)
from bot.services.bulletins.content import (
    LATE,
    MISSING,
    NOT_DUE,
    SUBMITTED,
    BulletinData,
    SourceLine,
    UnitLine,
)
from bot.services.bulletins.document import Issue, render_document, render_messages

T = Catalogs().get("en")
SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY_STATUSES = (SUBMITTED, LATE, MISSING)
DOC_ROW = re.compile(r'<tr( class="behind")?><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>'
                     r'<td>([^<]*)</td><td>(\d+)</td><td>(\d+)</td><td class="status">([^<]*)'
                     r"</td></tr>")
MSG_ROW = re.compile(r"^(\S+)\. (U\d+) (\S+) \(([^)]*)\)(?: — (.+))?$")
NAMED = re.compile(r"^(⏰|❌) (U\d+) — (\d+) reports? (?:handed in late|missing)$")


@st.composite
def histories(draw: st.DrawFn) -> BulletinData:
    """A random period: per unit, each day's report status, rates and the plan."""
    n = draw(st.integers(1, 9))
    days = draw(st.integers(1, 7))
    units = []
    for i in range(n):
        statuses = draw(st.lists(st.sampled_from(DAY_STATUSES), min_size=days, max_size=days))
        last = statuses[-1] if draw(st.booleans()) else NOT_DUE if statuses[-1] == MISSING \
            else statuses[-1]
        reported = any(s != MISSING for s in statuses)
        rate = draw(st.one_of(st.none(), st.floats(0, 1.3).map(lambda x: round(x, 4)))) \
            if reported else None
        previous = draw(st.one_of(st.none(), st.floats(0, 1.2).map(lambda x: round(x, 4))))
        units.append(UnitLine(
            code=f"41{i:04d}", name=f"U{i}", name_en=f"U{i}", status=last,
            completion_rate=rate, previous_rate=previous,
            late_count=statuses.count(LATE), missing_count=statuses.count(MISSING),
            offence_periods=draw(st.integers(0, 3))))
    plan = draw(st.one_of(st.none(), st.floats(0.05, 1.0).map(lambda x: round(x, 3))))
    return BulletinData(
        series_id="s", title_zh="通报", title_en="the survey", root_code="410100",
        root_name="郑州市", root_name_en="Zhengzhou", phase="survey",
        period_start=date(2018, 10, 8), period_end=date(2018, 10, 7 + days),
        as_of=datetime(2018, 10, 15, 9, 0, tzinfo=SHANGHAI), plan_rate=plan,
        sources=(SourceLine("industrial", "工业", "Industrial", 10.0, 20.0),),
        units=tuple(units), lag_margin=draw(st.sampled_from([0.0, 0.1])))


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


@settings(max_examples=60, deadline=None)
@given(histories())
def test_message_document_and_chart_agree(data: BulletinData) -> None:
    issue = Issue(3, date(2018, 10, 15))
    document = render_document(data, issue, T)
    message = _plain("\n".join(render_messages(data, issue, T)))
    chart = build_chart(data, T)

    table = document.split("2. Progress by unit", 1)[1]
    doc = [m.groups() for m in DOC_ROW.finditer(table)]
    assert len(doc) == len(data.units)
    section = message.split("2. Progress by unit", 1)[1].split("3. Praised", 1)[0]
    msg = [MSG_ROW.match(line).groups() for line in section.strip().splitlines()  # type: ignore[union-attr]
           if MSG_ROW.match(line)]
    assert len(msg) == len(data.units)

    # ranking, names and rates: the same order and figures everywhere
    assert [r[1:4] for r in doc] == [m[:3] for m in msg]
    assert [r[2] for r in doc] == bar_labels(chart)
    for r, height in zip(doc, bar_heights(chart), strict=True):
        shown = r[3]
        assert (shown == "—" and height == 0.0) or shown == f"{height:.1f}%"
    assert [m[3] for m in msg] == [r[4] for r in doc]  # change since last time

    # late / missing: counts in the table, the named lists and the status word agree
    named = {(m.group(1), m.group(2)): int(m.group(3))
             for m in map(NAMED.match, message.splitlines()) if m}
    for r, m in zip(doc, msg, strict=True):
        name, late, missing, status = r[2], int(r[5]), int(r[6]), r[7]
        assert named.get(("⏰", name), 0) == late
        assert named.get(("❌", name), 0) == missing
        expected = ("late and missing" if late and missing else "late" if late
                    else "missing" if missing else None)
        if expected:
            assert status == expected and m[4] == expected
        else:
            assert status in ("on time", "not due") and m[4] is None

    # lagging: the highlighted rows are the red bars
    behind = [r[0] is not None for r in doc]
    assert [c == BEHIND_COLOR for c in bar_colors(chart)] == behind
    lagging = {m.group(1) for m in re.finditer(r"📉 (U\d+) —", message)}
    assert lagging == {r[2] for r in doc if r[0] is not None}
