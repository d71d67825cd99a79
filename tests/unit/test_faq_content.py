"""Tests for FAQ content loading and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from faq.content import (
    DEFAULT_CONTENT_DIR,
    MAX_ANSWER_CHARS,
    ContentError,
    check_content,
    load_content,
    load_entries,
)

TOPICS = Path(__file__).resolve().parents[2] / "faq" / "topics.yaml"  # copy of shared/faq


def _entry(eid: str, **over: object) -> dict[str, object]:
    """A valid raw entry with overrides."""
    base: dict[str, object] = {
        "id": eid,
        "category": "test",
        "question": {"zh": "问题" + eid, "en": "question " + eid},
        "answer": {"zh": "回答。", "en": "Answer."},
        "phrasings": {"zh": ["说法"], "en": ["saying"]},
        "keywords": ["关键"],
        "see_also": [],
    }
    base.update(over)
    return base


def _write(tmp: Path, entries: list[dict[str, object]], name: str = "a.yaml") -> Path:
    """Write entries into a content directory."""
    (tmp / name).write_text(yaml.safe_dump({"entries": entries}, allow_unicode=True), "utf-8")
    return tmp


def test_shipped_content_is_valid_and_covers_all_topics() -> None:
    assert check_content(DEFAULT_CONTENT_DIR, topics=TOPICS) == []
    entries = load_entries()
    assert all(len(a) < 1000 for e in entries for a in e.answer.values())
    assert all(e.phrasings.get("zh") and e.phrasings.get("en") for e in entries)


def test_verify_locally_topics_point_to_the_office() -> None:
    by_id = {e.id: e for e in load_entries()}
    for tid in ("closed_enterprise", "timeline_local"):
        assert "普查办" in by_id[tid].answer["zh"] and "人工咨询" in by_id[tid].answer["zh"]
        assert "Ask a person" in by_id[tid].answer["en"]


def test_duplicate_ids(tmp_path: Path) -> None:
    _write(tmp_path, [_entry("x")], "a.yaml")
    _write(tmp_path, [_entry("x")], "b.yaml")
    problems = check_content(tmp_path)
    assert any("duplicate id 'x'" in p for p in problems)
    with pytest.raises(ContentError, match="duplicate id"):
        load_entries(tmp_path)


def test_missing_language(tmp_path: Path) -> None:
    _write(tmp_path, [_entry("x", answer={"zh": "回答"})])
    assert any("'answer' is missing language 'en'" in p for p in check_content(tmp_path))


def test_empty_answer(tmp_path: Path) -> None:
    _write(tmp_path, [_entry("x", answer={"zh": "", "en": "A"})])
    assert any("'answer.zh' is empty" in p for p in check_content(tmp_path))


def test_over_long_answer(tmp_path: Path) -> None:
    _write(tmp_path, [_entry("x", answer={"zh": "长" * (MAX_ANSWER_CHARS + 1), "en": "A"})])
    assert any("answer.zh is too long" in p for p in check_content(tmp_path))


def test_broken_see_also(tmp_path: Path) -> None:
    _write(tmp_path, [_entry("x", see_also=["nope"])])
    assert any("unknown id 'nope'" in p for p in check_content(tmp_path))


def test_uncovered_topic(tmp_path: Path) -> None:
    _write(tmp_path, [_entry("census_what")])
    problems = check_content(tmp_path, topics=TOPICS)
    assert any("topic 'census_fee' has no FAQ entry" in p for p in problems)
    assert not any("census_what" in p for p in problems)


def test_bad_html_and_yaml(tmp_path: Path) -> None:
    _write(tmp_path, [_entry("x", answer={"zh": "<a href='x'>链接</a>", "en": "a & b <b>x"})])
    problems = check_content(tmp_path)
    assert any("unsupported HTML" in p for p in problems)
    assert any("unbalanced <b>" in p for p in problems)
    assert any("bare '&'" in p for p in problems)
    (tmp_path / "z.yaml").write_text("entries: [unclosed", "utf-8")
    assert any("z.yaml: cannot read" in p for p in check_content(tmp_path))


def test_not_covered_list_loads_beside_entries(tmp_path: Path) -> None:
    _write(tmp_path, [_entry("x")])
    (tmp_path / "not_covered.yaml").write_text(
        "not_covered:\n  - 普查员工资多少\n  - how much do enumerators earn\n", "utf-8")
    content = load_content(tmp_path)
    assert [e.id for e in content.entries] == ["x"]
    assert content.not_covered == ["普查员工资多少", "how much do enumerators earn"]
    assert load_content().not_covered, "the shipped content has a not-covered list"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("not_covered: 普查员工资多少\n", "'not_covered' must be a list"),
        ("not_covered:\n  - ''\n", "not_covered item 1 must be a non-empty question"),
        ("not_covered:\n  - 工资\n  - 工资\n", "not_covered item 2 repeats '工资'"),
        ("other: 1\n", "top level must be a mapping with an 'entries' list"),
    ],
)
def test_not_covered_problems_are_named(tmp_path: Path, body: str, problem: str) -> None:
    _write(tmp_path, [_entry("x")])
    (tmp_path / "not_covered.yaml").write_text(body, "utf-8")
    problems = check_content(tmp_path)
    assert any(problem in p and p.startswith("not_covered.yaml") for p in problems), problems
    with pytest.raises(ContentError):
        load_content(tmp_path)
