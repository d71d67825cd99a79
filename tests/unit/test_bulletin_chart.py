"""The bulletin chart: bars match the data, the plan line is drawn, the PNG is valid, CJK."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.i18n import Catalogs
from bot.services.bulletins.chart import bar_heights, build_chart, chart_png
from bot.services.bulletins.content import ranked
from bot.services.shared.fonts import cjk_font_family, cjk_font_path, has_glyphs
from tests.unit.test_bulletin_render import fixed_data

CATALOGS = Catalogs()


def test_cjk_font_is_found_and_registered() -> None:
    assert cjk_font_path().is_file()
    assert "CJK" in cjk_font_family()
    assert has_glyphs("郑州市金水区中牟县完成率计划进度关于全市入户调查情况的通报")


@pytest.mark.parametrize("locale", ["zh_CN", "en"])
def test_bars_match_the_data(locale: str) -> None:
    data = fixed_data()
    fig = build_chart(data, CATALOGS.get(locale))
    expected = [(r.unit.completion_rate or 0) * 100 for r in ranked(data)]
    assert bar_heights(fig) == pytest.approx(expected)
    assert bar_heights(fig) == pytest.approx([92.5, 71.0, 71.0, 45.0, 30.0])
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    names = [r.unit.display_name(locale) for r in ranked(data)]
    assert labels == names
    plan = [line for line in ax.get_lines() if line.get_gid() == "plan"]
    assert len(plan) == 1 and plan[0].get_ydata()[0] == pytest.approx(60.0)
    if locale == "zh_CN":
        assert all("CJK" in t.get_fontfamily()[0] for t in ax.get_xticklabels())
        assert "完成率" in ax.get_ylabel()


def test_png_is_valid_and_sized() -> None:
    png = chart_png(fixed_data(), CATALOGS.get("zh_CN"))  # a missing glyph would warn: error
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(png)) as img:
        img.verify()
    with Image.open(io.BytesIO(png)) as img:
        assert img.format == "PNG" and img.size == (600, 480)
        # not blank: the bars' blue is present
        colours = img.convert("RGB").getcolors(maxcolors=1_000_000) or []
        assert any(rgb == (0x2F, 0x6D, 0xB5) for _n, rgb in colours)


def test_long_chart_grows_and_keeps_every_bar() -> None:
    data = fixed_data(units=120)
    fig = build_chart(data, CATALOGS.get("zh_CN"))
    assert len(bar_heights(fig)) == 120
    assert fig.get_size_inches()[0] > 20
    png = chart_png(data, CATALOGS.get("en"))
    with Image.open(io.BytesIO(png)) as img:
        assert img.width > 2000
