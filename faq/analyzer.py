"""Turn text into weighted index terms: words, character bigrams, synonyms, English stems."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from faq.synonyms import Synonyms, load_synonyms
from faq.text import (
    EN_STOPWORDS,
    ZH_STOPWORDS,
    Homophones,
    Segmenter,
    char_bigrams,
    has_cjk,
    normalize,
    runs,
    stem,
)

# ways of asking "what is it" that leave the census's name as the whole topic
_FILLER = frozenset("""干什么 干啥 干嘛 干吗 怎么回事 咋回事 回事 意思 什么意思
    是啥 是什么 玩意 玩意儿
    about mean anyway thing stuff""".split())

BIGRAM = "b:"
SYNONYM = "~"


class Analyzer:
    """Normalises text and produces index terms (the same pipeline for content and queries)."""

    def __init__(self, synonyms: Synonyms | None = None, extra_words: Iterable[str] = ()) -> None:
        """Create an analyzer; `extra_words` go into the Chinese segmenter's dictionary."""
        self.synonyms = synonyms if synonyms is not None else load_synonyms()
        self.segmenter = Segmenter([*self.synonyms.words(), *extra_words])
        self.homophones = Homophones(self.segmenter.is_word, self.segmenter.cut)

    def learn(self, texts: Iterable[str], *, targets: bool = True) -> None:
        """Teach the homophone repair the character pairs of these (content) texts."""
        self.homophones.learn((self.synonyms.apply_replacements(normalize(t)) for t in texts),
                              targets=targets)

    def prepare(self, text: str) -> str:
        """Normalise, apply replacement rules, then repair input-method homophones."""
        return self.homophones.fix(self.synonyms.apply_replacements(normalize(text)))

    def focus(self, text: str, specific: Callable[[str], bool] = lambda w: True) -> str:
        """The prepared question without the census's own name, when it also asks about
        something specific (a word `specific` accepts); the name is the subject of nearly
        every question, not its topic."""
        prepared = self.prepare(text)
        rest = prepared
        for name in self.synonyms.subject:
            rest = rest.replace(name, " ")
        if rest == prepared:
            return prepared
        words = [w for r in runs(rest) for w in (self.segmenter.cut(r) if has_cjk(r) else [r])
                 if len(w) > 1 and w not in ZH_STOPWORDS and w not in EN_STOPWORDS
                 and w not in _FILLER]
        return " ".join(rest.split()) if any(specific(w) for w in words) else prepared

    def terms(self, text: str) -> list[str]:
        """Index terms of a text, duplicates kept (term frequency matters)."""
        prepared = self.prepare(text)
        out: list[str] = []
        latin: list[str] = []
        for run in runs(prepared):
            if has_cjk(run):
                segment: list[str] = []
                for word in self.segmenter.cut(run):
                    if word in ZH_STOPWORDS:
                        out.extend(BIGRAM + b for b in _bigrams(segment))
                        segment = []
                        continue
                    out.append(word)
                    segment.append(word)
                out.extend(BIGRAM + b for b in _bigrams(segment))
            elif run not in EN_STOPWORDS:
                word = stem(run)
                latin.append(word)
                out.append(word)
        out.extend(SYNONYM + c for c in sorted(self.synonyms.canonical_for(prepared, latin)))
        return out


def _bigrams(words: list[str]) -> list[str]:
    """Character bigrams over a run of consecutive content words (single chars skipped)."""
    joined = "".join(words)
    if len(joined) < 2:
        return []
    return char_bigrams(joined)
