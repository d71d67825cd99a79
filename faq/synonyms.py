"""Domain synonym table: typo/colloquial replacements and equivalence groups."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from faq.text import has_cjk, normalize, stem

DEFAULT_SYNONYMS = Path(__file__).with_name("synonyms.yaml")
_PATTERNS: dict[tuple[tuple[str, str], ...], re.Pattern[str]] = {}


@dataclass(frozen=True)
class Synonyms:
    """Replacement rules and synonym groups, already normalised."""

    replace: tuple[tuple[str, str], ...] = ()
    cjk_terms: tuple[tuple[str, str], ...] = ()  # (term, canonical), longest first
    latin_terms: dict[str, str] = field(default_factory=dict)  # stemmed word -> canonical
    subject: tuple[str, ...] = ()  # names of the census itself, longest first
    elsewhere: tuple[str, ...] = ()  # names of other censuses and surveys (not ours)
    # cjk_terms by their first character, so a question is scanned once, not once per term
    by_first: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict,
                                                               compare=False, repr=False)

    def __post_init__(self) -> None:
        """Index the terms by their first character."""
        first: dict[str, list[tuple[str, str]]] = {}
        for term, canon in self.cjk_terms:
            if term:
                first.setdefault(term[0], []).append((term, canon))
        object.__setattr__(self, "by_first", {c: tuple(t) for c, t in first.items()})

    def names_elsewhere(self, text: str) -> bool:
        """Whether normalised text names another census or survey and not ours."""
        rest = text
        for name in self.elsewhere:
            rest = rest.replace(name, " ")
        if rest == text:
            return False
        return not any(name in rest for name in self.subject) and "污染源" not in rest \
            and "pollution" not in rest

    def apply_replacements(self, text: str) -> str:
        """Rewrite typos, colloquial forms and abbreviations in one left-to-right pass."""
        if not self.replace:
            return text
        table = dict(self.replace)
        return self._pattern().sub(lambda m: table[m.group(0)], text)

    def _pattern(self) -> re.Pattern[str]:
        """Alternation of all replacement patterns, longest first (compiled once)."""
        cached = _PATTERNS.get(self.replace)
        if cached is None:
            cached = re.compile("|".join(re.escape(w) for w, _ in self.replace))
            _PATTERNS[self.replace] = cached
        return cached

    def canonical_for(self, text: str, latin_words: list[str]) -> set[str]:
        """Canonical terms of every group a member of which occurs in the text."""
        found = {canon for i, ch in enumerate(text) for term, canon in self.by_first.get(ch, ())
                 if text.startswith(term, i)}
        found.update(self.latin_terms[w] for w in latin_words if w in self.latin_terms)
        return found

    def words(self) -> list[str]:
        """All Chinese terms (for the segmenter's dictionary)."""
        return [t for t, _ in self.cjk_terms] + [r for _, r in self.replace if has_cjk(r)]


def load_synonyms(path: Path = DEFAULT_SYNONYMS) -> Synonyms:
    """Load and normalise a synonyms YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    replace_map: dict[str, str] = data.get("replace") or {}
    # Longest pattern first so that e.g. 咋整 wins over 咋.
    replace = tuple(
        sorted(((normalize(str(k)), normalize(str(v))) for k, v in replace_map.items()),
               key=lambda kv: -len(kv[0]))
    )
    cjk: dict[str, str] = {}
    latin: dict[str, str] = {}
    for group in data.get("groups") or []:
        members = [normalize(str(m)) for m in group]
        canon = members[0]
        for member in members:
            if has_cjk(member) or not member.isalnum():
                cjk.setdefault(member, canon)
            else:
                latin.setdefault(stem(member), canon)
                latin.setdefault(member, canon)
    cjk_terms = tuple(sorted(cjk.items(), key=lambda kv: -len(kv[0])))
    subject = tuple(sorted({normalize(str(n)) for n in data.get("subject") or []},
                           key=lambda n: -len(n)))
    elsewhere = tuple(normalize(str(n)) for n in data.get("elsewhere") or [])
    return Synonyms(replace=replace, cjk_terms=cjk_terms, latin_terms=latin, subject=subject,
                    elsewhere=elsewhere)
