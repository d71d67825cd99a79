"""Tests for the FAQ search engine and the reloading store."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faq.content import DEFAULT_CONTENT_DIR, FaqEntry, load_content
from faq.engine import ANSWER, DID_YOU_MEAN, HANDOFF, EngineConfig, FaqIndex
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


def test_ranking_only_ranks_the_same_entry_first_without_features(index: FaqIndex) -> None:
    """Ranking only (inline mode) skips the embedding, so the scores differ from the full
    ranking, which adds semantic closeness; a clear question still ranks the same entry first."""
    full, feats = index.rank("普查员上门要收费吗")
    ranked, none = index.rank("普查员上门要收费吗", features=False)
    assert ranked[0][0] == full[0][0] and feats and none == {}


def _tiny(config: EngineConfig) -> FaqIndex:
    """Two entries, lexical features only: the decision rule without the real calibration."""
    entries = [
        FaqEntry(id="fee", category="t", question={"zh": "普查收费吗", "en": "is it free"},
                 answer={"zh": "不收费", "en": "free"}, phrasings={"zh": ["普查要钱吗"]}),
        FaqEntry(id="time", category="t", question={"zh": "标准时点是哪天", "en": "which date"},
                 answer={"zh": "12月31日", "en": "31 Dec"}),
    ]
    return FaqIndex.build(entries, config=config, semantic=False)


@pytest.mark.parametrize(
    ("threshold", "plausible", "outcome"),
    [(0.0, 0.0, ANSWER), (1.01, 0.0, DID_YOU_MEAN), (1.01, 1.01, HANDOFF)],
)
def test_three_way_decision(threshold: float, plausible: float, outcome: str) -> None:
    # the tiny index is lexical only: its questions are decided by the lexical thresholds
    index = _tiny(EngineConfig(threshold=threshold, plausible=plausible,
                               lexical_threshold=threshold, lexical_plausible=plausible))
    r = index.search("普查收费吗")
    assert r.outcome == outcome
    assert r.confident == (outcome == ANSWER) and (r.topic is not None) == (outcome == ANSWER)
    assert r.shown == (None if outcome == HANDOFF else "fee")
    if outcome == DID_YOU_MEAN:
        assert r.suggestion == "fee" and r.alternatives[0] == "fee"


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("第二次全国污染源普查的标准时点是什么", "time_point"),  # not "what is the census"
        ("污染源普查是个什么东西，之前从来没见过", "census_what"),  # the name is the topic
        ("标准时点是什么", "time_point"),
        ("我家是餐馆要填什么表", None),  # whatever is shown, it is not the livestock entry
        ("how do I switch the bot to English", "bot_language"),  # the bot's own settings
        ("機器人可以用英文嗎", "bot_language"),
    ],
)
def test_issue_examples(index: FaqIndex, text: str, topic: str | None) -> None:
    r = index.search(text)
    if topic is None:
        assert r.shown != "livestock_threshold"
    else:
        assert r.shown == topic, r


def test_a_vague_word_alone_is_not_answered_outright(index: FaqIndex) -> None:
    r = index.search("普查员")  # in many entries: "did you mean", never a confident answer
    assert r.outcome != ANSWER and r.topic is None
    assert index.search("行业代码").outcome == ANSWER  # one specific term is answered


def test_a_long_message_is_answered_by_its_question(index: FaqIndex) -> None:
    text = ("我是镇上一家小印刷厂的会计，老板出差了，厂里也没别人管这个事，"
            "昨天有人打电话说要来登记，我想问一下填表的时候产量要填哪一年的数据？")
    assert index.search(text).shown == "time_point"


@pytest.mark.parametrize(
    ("entry", "command"),
    [("bot_badge_qr", "/badge"), ("bot_bind_account", "/bind"), ("bot_daily_report", "/report"),
     ("verify_enumerator", "/verify"), ("report_impostor", "/verify"), ("bot_language", "/lang")],
)
def test_answers_name_the_command_that_does_it(index: FaqIndex, entry: str, command: str) -> None:
    e = index.by_id[entry]
    assert command in e.answer["zh"] and command in e.answer["en"]
