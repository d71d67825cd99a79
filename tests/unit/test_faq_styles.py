"""FAQ search on chat styles: casual English, other censuses named, English word forms."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from faq.content import load_content
from faq.engine import DID_YOU_MEAN, HANDOFF, FaqIndex
from faq.loader import build_index
from faq.synonyms import load_synonyms
from faq.text import normalize, stem


@pytest.fixture(scope="module")
def index() -> FaqIndex:
    return build_index(load_content())


@pytest.mark.parametrize(
    ("a", "b"),
    [("fined", "fine"), ("fining", "fines"), ("charged", "charge"), ("stopped", "stop"),
     ("refusing", "refuse"), ("licenses", "license")],
)
def test_english_word_forms_meet(a: str, b: str) -> None:
    assert stem(a) == stem(b)


@pytest.mark.parametrize(
    ("text", "elsewhere"),
    [
        ("第七次人口普查的表要交钱吗", True),
        ("經濟普查的標準時點", True),  # traditional characters fold first
        ("is the agricultural census free", True),
        ("第三次污染源普查啥时候开始", True),  # another round of ours is another census
        ("人口普查和污染源普查有什么区别", False),  # ours is named too
        ("普查要交钱吗", False),
        ("is the pollution census free", False),
    ],
)
def test_another_census_is_recognised(text: str, elsewhere: bool) -> None:
    syn = load_synonyms()
    assert syn.names_elsewhere(syn.apply_replacements(normalize(text))) is elsewhere


@pytest.mark.parametrize(
    "text",
    ["第七次人口普查的普查员上门收钱吗", "do i have to pay for the economic census",
     "农业普查的数据会拿来罚款吗"],
)
def test_a_question_about_another_census_is_handed_off(index: FaqIndex, text: str) -> None:
    r = index.search(text)
    assert r.outcome == HANDOFF and r.shown is None


def test_the_same_question_about_our_census_is_not_handed_off(index: FaqIndex) -> None:
    assert index.search("污染源普查的普查员上门收钱吗").shown == "census_fee"


@pytest.mark.parametrize("text", ["enumerators", "普查员", "census"])
def test_a_lone_subject_word_is_offered_not_answered_nor_handed_off(index: FaqIndex,
                                                                    text: str) -> None:
    r = index.search(text)
    assert r.outcome == DID_YOU_MEAN and r.topic is None and r.suggestion


@pytest.mark.parametrize("text", ["asdfjkl", "哈哈哈哈哈", "在吗"])
def test_a_lone_unknown_word_is_still_handed_off(index: FaqIndex, text: str) -> None:
    assert index.search(text).outcome == HANDOFF


@pytest.mark.parametrize(
    ("text", "topic"),
    [("what does /badge do", "bot_badge_qr"), ("/bind 是干什么的", "bot_bind_account"),
     ("/report 怎么用", "bot_daily_report"), ("/verify 后面要加什么", "verify_enumerator"),
     ("/lang 是什么", "bot_language")],
)
def test_a_question_about_a_bot_command_shows_its_entry(index: FaqIndex, text: str,
                                                        topic: str) -> None:
    assert index.search(text).shown == topic


def test_content_phrasings_are_not_copied_from_our_measuring_sets() -> None:
    """The validation and held-out questions measure: no entry phrasing or not-covered
    question may be one of them (after folding)."""
    bench = Path(__file__).resolve().parents[2] / "bench"
    asked = set()
    for name in ("faq_validation.yaml", "faq_holdout.yaml"):
        data = yaml.safe_load((bench / name).read_text(encoding="utf-8"))
        asked |= {normalize(q["text"]) for q in data["in_scope"]}
        asked |= {normalize(q) for q in data["out_of_scope"]}
    content = load_content()
    written = {normalize(p) for e in content.entries for items in e.phrasings.values()
               for p in items} | {normalize(q) for q in content.not_covered}
    assert not written & asked


@pytest.mark.parametrize(
    "text", ["普查员上门收费吗，他说是第二次全国污染源普查的", "二维码扫一扫核实普查员证",
             "error rate 差错率", "", "厂子黄了还要管吗"],
)
def test_synonym_groups_are_found_as_substrings(text: str) -> None:
    syn = load_synonyms()
    norm = normalize(text)
    assert syn.canonical_for(norm, []) == {c for t, c in syn.cjk_terms if t in norm}
