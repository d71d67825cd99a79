"""Badge tokens: round trip, tamper detection, length limits, key rotation; the card's QR."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.services.roster import badges

KEY = b"unit-test-key"
TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
START_PARAM = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

staff_ids = st.one_of(
    st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=badges.MAX_RAW_ID),
    st.text(min_size=1, max_size=11).filter(lambda s: len(s.encode()) <= 34),
    st.from_regex(r"[A-Z]{2}-[0-9]{6}-[0-9]{4}", fullmatch=True),
)


@given(staff_ids)
def test_sign_then_verify_round_trips(staff_id: str) -> None:
    token = badges.sign(staff_id, KEY)
    assert START_PARAM.match(token)
    assert badges.verify(token, KEY) == staff_id
    assert badges.looks_like_token(token)


@settings(max_examples=60)
@given(staff_ids, st.data())
def test_any_single_character_change_is_rejected(staff_id: str, data: st.DataObject) -> None:
    token = badges.sign(staff_id, KEY)
    pos = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(TOKEN_CHARS).filter(lambda c: c != token[pos]))
    altered = token[:pos] + replacement + token[pos + 1:]
    assert badges.verify(altered, KEY) is None


def test_every_single_character_change_of_one_token_is_rejected() -> None:
    token = badges.sign("ZZ-410102-0001", KEY)
    for pos in range(len(token)):
        for c in TOKEN_CHARS:
            if c != token[pos]:
                assert badges.verify(token[:pos] + c + token[pos + 1:], KEY) is None


def test_truncated_extended_and_garbage_tokens_are_rejected() -> None:
    token = badges.sign("ZZ-410102-0001", KEY)
    assert badges.verify(token[:-1], KEY) is None
    assert badges.verify(token + "A", KEY) is None
    assert badges.verify("", KEY) is None
    assert badges.verify("vr" + "A" * 62, KEY) is None
    assert badges.verify("not a token!", KEY) is None


def test_rotating_the_key_invalidates_old_tokens() -> None:
    token = badges.sign("ZZ-410102-0001", KEY)
    assert badges.verify(token, b"new-key") is None


def test_longest_ids_fit_and_longer_ones_are_refused() -> None:
    longest = "A" * badges.MAX_RAW_ID
    assert len(badges.sign(longest, KEY)) <= 64
    with pytest.raises(badges.TokenTooLong):
        badges.sign("A" * (badges.MAX_RAW_ID + 1), KEY)
    chinese = "张" * 11  # 33 bytes: fits the base64 form
    assert badges.verify(badges.sign(chinese, KEY), KEY) == chinese
    with pytest.raises(badges.TokenTooLong):
        badges.sign("张" * 12, KEY)


def test_card_qr_decodes_to_the_deep_link() -> None:
    token = badges.sign("ZZ-410102-0001", KEY)
    url = badges.badge_url("census_test_bot", token)
    card = badges.BadgeCard("ZZ-410102-0001", "张*华", "普查员", "郑州市 中原区", "某测绘公司",
                            date(2019, 6, 30), url)
    png = badges.render_card(card, lambda s: s)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    found = zxingcpp.read_barcodes(image)
    assert [r.text for r in found] == [url]


def test_card_renders_without_a_cjk_font() -> None:
    card = badges.BadgeCard("ZZ-1", "J* S*", "Enumerator", "Zhengzhou Zhongyuan", None, None,
                            "https://t.me/x?start=abc")
    png = badges.render_card(card, lambda s: s, font_path="/nonexistent/font.ttc")
    assert png.startswith(b"\x89PNG")
