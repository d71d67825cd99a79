"""Splitting long Telegram HTML: limits, clean boundaries, balanced tags, nothing lost."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.util.split import TELEGRAM_TEXT_LIMIT, split_html, visible_length

TAG = re.compile(r"<(/?)([a-z-]+)[^>]*>")


def _balanced(part: str) -> bool:
    stack: list[str] = []
    for m in TAG.finditer(part):
        if m.group(1):
            if not stack or stack[-1] != m.group(2):
                return False
            stack.pop()
        else:
            stack.append(m.group(2))
    return not stack


def _plain(text: str) -> str:
    return html.unescape(TAG.sub("", text))


def test_short_text_is_one_part() -> None:
    assert split_html("<b>hi</b> there") == ["<b>hi</b> there"]


def test_splits_at_paragraphs_and_counts_visible_text() -> None:
    para = "<b>县</b>" + "进度" * 900  # 1,801 visible characters, markup not counted
    text = "\n\n".join([para] * 5)
    parts = split_html(text)
    assert len(parts) == 3
    assert all(visible_length(p) <= TELEGRAM_TEXT_LIMIT for p in parts)
    assert parts[0] == "\n\n".join([para] * 2)  # cut exactly at a paragraph break
    assert "\n\n".join(parts) == text  # only the separators at the cuts were dropped


def test_split_inside_bold_reopens_the_tag() -> None:
    lines = "\n".join(f"line {i} " + "x" * 60 for i in range(200))
    text = f'<b>{lines}</b> <a href="https://e.example/?a=1&amp;b=2">link</a>'
    parts = split_html(text)
    assert len(parts) >= 3
    assert parts[0].startswith("<b>") and parts[0].endswith("</b>")
    assert parts[1].startswith("<b>line")  # re-opened, and the cut fell at a line break
    assert all(_balanced(p) for p in parts)
    assert "&amp;" in parts[-1]


def test_never_cuts_an_entity() -> None:
    text = "&lt;" * 5000
    parts = split_html(text, limit=100)
    assert all(p.count("&") == p.count("&lt;") for p in parts)  # whole entities only
    assert sum(visible_length(p) for p in parts) == 5000
    assert all(len(p) == 100 for p in parts)  # raw length counted too: markup never overflows


def test_utf16_counts_emoji_twice() -> None:
    text = "😀" * 3000  # 6,000 UTF-16 units
    parts = split_html(text)
    assert [visible_length(p) for p in parts] == [4096, 1904]


words = st.text(alphabet="ab 中\n&<", min_size=0, max_size=40).map(html.escape)


@st.composite
def html_docs(draw: st.DrawFn) -> str:
    out = []
    for _ in range(draw(st.integers(1, 30))):
        tag = draw(st.sampled_from(["", "b", "i", "code", "u"]))
        body = draw(words)
        if tag and draw(st.booleans()):
            inner = draw(st.sampled_from(["", "i", "s"]))
            body = f"<{inner}>{body}</{inner}>" if inner else body
        out.append(f"<{tag}>{body}</{tag}>" if tag else body)
    return "".join(out)


@settings(max_examples=200, deadline=None)
@given(html_docs(), st.integers(64, 160))
def test_property_parts_fit_balanced_and_lose_no_text(doc: str, limit: int) -> None:
    parts = split_html(doc, limit=limit)
    assert all(visible_length(p) <= limit and len(p) <= limit for p in parts)
    assert all(_balanced(p) for p in parts)
    original = re.sub(r"\s", "", _plain(doc))
    assert re.sub(r"\s", "", _plain("".join(parts))) == original
