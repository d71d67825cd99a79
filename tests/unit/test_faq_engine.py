"""Tests for the FAQ search engine and the reloading store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faq.content import DEFAULT_CONTENT_DIR, load_content
from faq.engine import FaqIndex
from faq.loader import FaqStore, build_index
from faq.text import normalize


@pytest.fixture(scope="module")
def index() -> FaqIndex:
    return build_index(load_content())


def test_normalize_folds_width_case_and_traditional() -> None:
    assert normalize("普查員來了ＡＢＣ　１２３") == "普查员来了abc 123"


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("普查收費嗎", "census_fee"),  # traditional characters
        ("怎麼核實普查員的證件", "verify_enumerator"),
        ("普察员上门要钱正常吗", "census_fee"),  # typo 普察
        ("污染圆普查是干什么的", "census_what"),  # typo 污染圆
        ("养猪场出栏多少头算规模化", "livestock_threshold"),
    ],
)
def test_chinese_variants(index: FaqIndex, text: str, topic: str) -> None:
    result = index.search(text)
    assert result.topic == topic, result


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("How can I verify that a census worker is genuine?", "verify_enumerator"),
        ("What documents should we prepare?", "documents_needed"),
        ("How do I link my account with a binding code?", "bot_bind_account"),
    ],
)
def test_english(index: FaqIndex, text: str, topic: str) -> None:
    assert index.search(text).topic == topic


@pytest.mark.parametrize(
    "text", ["今天天气怎么样", "帮我订一张去北京的火车票", "tell me a joke", ""]
)
def test_out_of_scope_abstains(index: FaqIndex, text: str) -> None:
    result = index.search(text)
    assert result.topic is None and not result.confident


def test_result_shape(index: FaqIndex) -> None:
    r = index.search("普查数据会不会被用来罚款", limit=3)
    assert r.confident and r.topic == "data_confidentiality"
    assert r.topic not in r.alternatives and len(r.alternatives) <= 2
    assert r.candidates[0][0] == r.topic
    assert all(0.0 <= s <= 1.0 for _, s in r.candidates)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=200))
def test_search_never_crashes(index: FaqIndex, text: str) -> None:
    r = index.search(text)
    assert 0.0 <= r.score <= 1.0
    assert r.confident == (r.topic is not None)
    assert all(0.0 <= s <= 1.0 for _, s in r.candidates)


def test_store_reloads_changed_content(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(DEFAULT_CONTENT_DIR, content)
    store = FaqStore(content, check_interval=0)
    first = store.index()
    assert store.search("食堂菜单有什么").topic is None
    target = content / "bot.yaml"
    text = target.read_text("utf-8").replace(
        "        - 出示身份码\n", "        - 出示身份码\n        - 食堂菜单有什么菜\n"
    )
    target.write_text(text, "utf-8")
    st_ = target.stat()
    os.utime(target, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))
    assert store.index() is not first
    assert store.search("食堂菜单有什么菜").topic == "bot_badge_qr"
    # broken content keeps the previous index
    target.write_text("entries: [", "utf-8")
    os.utime(target, ns=(st_.st_atime_ns, st_.st_mtime_ns + 2_000_000_000))
    assert store.search("食堂菜单有什么菜").topic == "bot_badge_qr"


def test_a_question_like_a_not_covered_one_abstains() -> None:
    """The not-covered list turns a lexically close but unanswered question into "ask a
    person": "enumerator pay" shares 普查员 with the staff entries."""
    content = load_content()
    question = "当普查员一个月能挣多少钱"
    without = FaqIndex.build(content.entries, not_covered=[])
    listed = FaqIndex.build(content.entries, not_covered=["普查员一个月工资多少"])
    assert listed.search(question).topic is None
    assert listed.search(question).score < without.search(question).score
    # an answerable question is not pushed away by the list
    assert listed.search("普查员上门要收费吗").topic == "census_fee"


def test_store_picks_up_a_new_not_covered_question(tmp_path: Path) -> None:
    content = tmp_path / "content"
    shutil.copytree(DEFAULT_CONTENT_DIR, content)
    store = FaqStore(content, check_interval=0)
    question = "普查员证件丢了去哪补办"
    before = store.search(question).score
    target = content / "not_covered.yaml"
    target.write_text(target.read_text("utf-8") + "  - 普查员证件丢了怎么补办\n", "utf-8")
    st_ = target.stat()
    os.utime(target, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))
    after = store.search(question)
    assert after.topic is None and after.score < before


def test_ranking_only_gives_the_same_order_without_features(index: FaqIndex) -> None:
    full, feats = index.rank("普查员上门要收费吗")
    ranked, none = index.rank("普查员上门要收费吗", features=False)
    assert ranked == full and feats and none == {}
