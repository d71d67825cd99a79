"""Load and validate the curated FAQ content (YAML files under faq/content/)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from faq.text import tidy_cjk_spacing

DEFAULT_CONTENT_DIR = Path(__file__).with_name("content")
LANGUAGES: tuple[str, ...] = ("zh", "en")
MAX_ANSWER_CHARS = 3500
_ALLOWED_TAG = re.compile(r"</?(?:b|i)>")
_ANY_TAG = re.compile(r"<[^>]*>?")
_BARE_AMP = re.compile(r"&(?!(?:amp|lt|gt|quot|#\d+);)")


class ContentError(ValueError):
    """Raised when FAQ content cannot be loaded because it has problems."""

    def __init__(self, problems: list[str]) -> None:
        """Keep the list of problems; the message shows them all."""
        super().__init__("FAQ content has problems:\n" + "\n".join(f"- {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class FaqEntry:
    """One curated FAQ entry in Chinese and English."""

    id: str
    category: str
    question: dict[str, str]
    answer: dict[str, str]
    phrasings: dict[str, list[str]] = field(default_factory=dict)
    keywords: list[str] = field(default_factory=list)
    see_also: list[str] = field(default_factory=list)
    source: str = ""

    def answer_in(self, lang: str) -> str:
        """Answer text in `lang` ("zh"/"en"), falling back to Chinese."""
        return self.answer.get(lang) or self.answer.get("zh") or next(iter(self.answer.values()))

    def question_in(self, lang: str) -> str:
        """Question text in `lang`, falling back to Chinese."""
        return self.question.get(lang) or self.question.get("zh") or next(
            iter(self.question.values())
        )


def content_files(path: Path) -> list[Path]:
    """The YAML files making up the content at `path` (a directory or one file), sorted."""
    if path.is_dir():
        return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    return [path]


def _text(value: Any) -> str:
    """A scalar as stripped text with YAML folding spaces between CJK removed."""
    return tidy_cjk_spacing(str(value)).strip() if value is not None else ""


def _lang_map(raw: Any, where: str, name: str, problems: list[str]) -> dict[str, str]:
    """Parse a {zh, en} mapping, recording missing or empty languages."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: '{name}' must be a mapping with keys {', '.join(LANGUAGES)}")
        return {}
    out = {str(k): _text(v) for k, v in raw.items()}
    for lang in LANGUAGES:
        if lang not in out:
            problems.append(f"{where}: '{name}' is missing language '{lang}'")
        elif not out[lang]:
            problems.append(f"{where}: '{name}.{lang}' is empty")
    return out


def _html_problems(text: str, where: str) -> list[str]:
    """Telegram-HTML problems: unsupported tags, unbalanced tags, bare '&'."""
    problems = []
    for tag in _ANY_TAG.findall(text):
        if not _ALLOWED_TAG.fullmatch(tag):
            problems.append(f"{where}: unsupported HTML {tag!r} (use <b>, <i>, escape < as &lt;)")
    for name in ("b", "i"):
        if text.count(f"<{name}>") != text.count(f"</{name}>"):
            problems.append(f"{where}: unbalanced <{name}> tags")
    if _BARE_AMP.search(text):
        problems.append(f"{where}: bare '&' (write &amp;)")
    return problems


def _parse_entry(raw: Any, where: str, problems: list[str]) -> FaqEntry | None:
    """Build one entry from its YAML mapping, appending problems found."""
    if not isinstance(raw, dict):
        problems.append(f"{where}: entry must be a mapping")
        return None
    entry_id = raw.get("id")
    if not isinstance(entry_id, str) or not entry_id.strip():
        problems.append(f"{where}: entry has no 'id'")
        return None
    where = f"{where} [{entry_id}]"
    question = _lang_map(raw.get("question"), where, "question", problems)
    answer = _lang_map(raw.get("answer"), where, "answer", problems)
    for lang, text in answer.items():
        if len(text) > MAX_ANSWER_CHARS:
            problems.append(
                f"{where}: answer.{lang} is too long ({len(text)} > {MAX_ANSWER_CHARS} chars)"
            )
        problems.extend(_html_problems(text, f"{where} answer.{lang}"))
    phrasings_raw = raw.get("phrasings") or {}
    phrasings: dict[str, list[str]] = {}
    if not isinstance(phrasings_raw, dict):
        problems.append(f"{where}: 'phrasings' must be a mapping of language to a list")
    else:
        for lang, items in phrasings_raw.items():
            if not isinstance(items, list):
                problems.append(f"{where}: 'phrasings.{lang}' must be a list")
                continue
            phrasings[str(lang)] = [t for t in (_text(i) for i in items) if t]
    keywords = [_text(k) for k in raw.get("keywords") or [] if _text(k)]
    see_also = [str(s) for s in raw.get("see_also") or []]
    return FaqEntry(
        id=entry_id.strip(),
        category=_text(raw.get("category")) or "general",
        question=question,
        answer=answer,
        phrasings=phrasings,
        keywords=keywords,
        see_also=see_also,
        source=where.split(" [", 1)[0],
    )


def _read(path: Path) -> tuple[list[FaqEntry], list[str], list[str]]:
    """Parse every content file; return entries, not-covered questions and the problems."""
    problems: list[str] = []
    entries: list[FaqEntry] = []
    not_covered: list[str] = []
    files = content_files(path)
    if not files:
        return [], [], [f"{path}: no content files found"]
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f"{file.name}: cannot read: {exc}")
            continue
        data = data if isinstance(data, dict) else {}
        raw_entries = data.get("entries")
        raw_not_covered = data.get("not_covered")
        if raw_entries is None and raw_not_covered is None:
            problems.append(f"{file.name}: top level must be a mapping with an 'entries' list "
                            "(or a 'not_covered' list)")
            continue
        if raw_entries is not None and not isinstance(raw_entries, list):
            problems.append(f"{file.name}: 'entries' must be a list")
        for n, raw in enumerate(raw_entries if isinstance(raw_entries, list) else [], 1):
            entry = _parse_entry(raw, f"{file.name} entry {n}", problems)
            if entry is not None:
                entries.append(entry)
        if raw_not_covered is not None:
            not_covered.extend(_parse_not_covered(raw_not_covered, file.name, problems))
    return entries, not_covered, problems


def _parse_not_covered(raw: Any, where: str, problems: list[str]) -> list[str]:
    """Questions the FAQ deliberately does not answer (plain strings, no duplicates)."""
    if not isinstance(raw, list):
        problems.append(f"{where}: 'not_covered' must be a list of questions")
        return []
    out: list[str] = []
    seen: set[str] = set()
    for n, item in enumerate(raw, 1):
        text = _text(item) if isinstance(item, str | int | float) else ""
        if not text:
            problems.append(f"{where}: not_covered item {n} must be a non-empty question")
        elif text in seen:
            problems.append(f"{where}: not_covered item {n} repeats {text!r}")
        else:
            seen.add(text)
            out.append(text)
    return out


def _cross_check(entries: list[FaqEntry], topic_ids: list[str] | None) -> list[str]:
    """Problems across entries: duplicate ids, broken see_also, uncovered topics."""
    problems: list[str] = []
    seen: dict[str, str] = {}
    for e in entries:
        if e.id in seen:
            problems.append(f"duplicate id '{e.id}' ({seen[e.id]} and {e.source})")
        else:
            seen[e.id] = e.source
    for e in entries:
        for ref in e.see_also:
            if ref == e.id:
                problems.append(f"{e.source} [{e.id}]: see_also refers to itself")
            elif ref not in seen:
                problems.append(f"{e.source} [{e.id}]: see_also refers to unknown id '{ref}'")
    if topic_ids is not None:
        for topic in topic_ids:
            if topic not in seen:
                problems.append(f"topic '{topic}' has no FAQ entry")
    return problems


def load_topic_ids(topics_path: Path) -> list[str]:
    """Topic ids listed in a topics.yaml file."""
    data = yaml.safe_load(topics_path.read_text(encoding="utf-8")) or {}
    return [str(topic["id"]) for topic in data.get("topics") or []]


def check_content(path: Path = DEFAULT_CONTENT_DIR, topics: Path | None = None) -> list[str]:
    """All problems in the content at `path` (empty list when it is fine)."""
    entries, _not_covered, problems = _read(Path(path))
    topic_ids = load_topic_ids(Path(topics)) if topics is not None else None
    return problems + _cross_check(entries, topic_ids)


def load_entries(path: Path = DEFAULT_CONTENT_DIR) -> list[FaqEntry]:
    """Load the entries at `path`; raise ContentError listing every problem if invalid."""
    return load_content(path).entries


@dataclass(frozen=True)
class FaqContent:
    """Everything the search is built from: the entries and the known not-covered questions."""

    entries: list[FaqEntry]
    not_covered: list[str]


def load_content(path: Path = DEFAULT_CONTENT_DIR) -> FaqContent:
    """Load entries and not-covered questions; raise ContentError listing every problem."""
    entries, not_covered, problems = _read(Path(path))
    problems += _cross_check(entries, None)
    if problems:
        raise ContentError(problems)
    return FaqContent(entries=entries, not_covered=not_covered)
