"""Masked names and phone numbers never show the whole value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.services.shared.masking import mask_name, mask_phone


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张小华", "张*华"),
        ("张三", "张*"),
        ("欧阳娜娜", "欧**娜"),
        ("司马相如君", "司***君"),
        ("王", "*"),
        ("John Smith", "J* S*"),
        ("mary jane watson", "M* W*"),
        ("Madonna", "M*"),
        ("阿依古丽·买买提", "阿*****提"),
        ("", "*"),
        ("  ", "*"),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


@given(st.text(min_size=2, max_size=12))
def test_masked_name_never_equals_a_real_name(name: str) -> None:
    masked = mask_name(name)
    assert "*" in masked
    if len(name.strip()) >= 2:
        assert masked != name.strip()


@given(st.text(alphabet="张王李赵刘陈杨黄周吴小华明芳", min_size=3, max_size=6))
def test_chinese_masks_keep_length_and_hide_the_middle(name: str) -> None:
    masked = mask_name(name)
    assert len(masked) == len(name)
    assert masked[0] == name[0] and masked[-1] == name[-1]
    assert set(masked[1:-1]) == {"*"}


def test_mask_phone() -> None:
    assert mask_phone("+8613800001234") == "*********1234"
    assert "138" not in mask_phone("+8613800001234")
    assert mask_phone("123") == "***"


@pytest.mark.parametrize("name", ["0*", "A*", "A", "**"])
def test_names_made_of_the_mask_character_still_hide_the_name(name: str) -> None:
    """Found by hypothesis: '0*' used to mask to itself."""
    assert mask_name(name) == "*"
