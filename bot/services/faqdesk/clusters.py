"""Group unanswered FAQ questions into gaps: the same question asked in different words
(simplified or traditional, full- or half-width, other word order) lands in one cluster.

Deterministic: questions are taken most-asked first (ties by text) and each joins the first
cluster whose first question shares enough of its words (character pairs for Chinese, word
stems for English); otherwise it starts a new cluster.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from faq.text import EN_STOPWORDS, ZH_STOPWORDS, char_bigrams, has_cjk, normalize, runs, stem

SIMILAR = 0.5  # token overlap (Dice) at which two questions count as one gap
_ZH_PARTICLES = frozenset(w for w in ZH_STOPWORDS if len(w) == 1)
_PUNCT = re.compile(r"[\s?？。.!！,，、:：;；\"'“”‘’()（）\[\]【】~～…-]+")


def cluster_key(text: str) -> str:
    """Folded text (width, traditional to simplified, case, punctuation) for exact grouping."""
    return _PUNCT.sub(" ", normalize(text)).strip()


def tokens(text: str) -> frozenset[str]:
    """Content tokens of a question: Chinese character pairs (function words dropped) and
    English word stems (stop words dropped)."""
    out: set[str] = set()
    for run in runs(cluster_key(text)):
        if has_cjk(run):
            run = "".join(ch for ch in run if ch not in _ZH_PARTICLES)
            out.update(b for b in char_bigrams(run) if b not in ZH_STOPWORDS)
        elif run not in EN_STOPWORDS:
            out.add(stem(run))
    return frozenset(out)


def overlap(a: frozenset[str], b: frozenset[str]) -> float:
    """Dice overlap of two token sets (0 when either is empty)."""
    if not a or not b:
        return 0.0
    return 2 * len(a & b) / (len(a) + len(b))


@dataclass
class Cluster:
    """One gap: its questions with how often each was asked."""

    key: str
    tokens: frozenset[str]
    texts: Counter[str] = field(default_factory=Counter)  # original text -> times asked
    topics: Counter[str] = field(default_factory=Counter)  # best entries the engine guessed

    @property
    def count(self) -> int:
        """Times any question of the cluster was asked."""
        return sum(self.texts.values())

    @property
    def text(self) -> str:
        """The most-asked wording (ties by text)."""
        return min(self.texts.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    @property
    def best_topic(self) -> str | None:
        """The entry the engine most often guessed for these questions, if any."""
        if not self.topics:
            return None
        return min(self.topics.items(), key=lambda kv: (-kv[1], kv[0]))[0]


def cluster(asked: Iterable[tuple[str, str | None]], similar: float = SIMILAR) -> list[Cluster]:
    """Clusters of (question text, best-guess entry or None) pairs, most-asked first."""
    by_key: dict[str, list[tuple[str, str | None]]] = {}
    for text, topic in asked:
        key = cluster_key(text)
        if key:
            by_key.setdefault(key, []).append((text, topic))
    clusters: list[Cluster] = []
    for key, items in sorted(by_key.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        toks = tokens(key)
        home = next((c for c in clusters if c.key == key
                     or overlap(c.tokens, toks) >= similar), None)
        if home is None:
            home = Cluster(key=key, tokens=toks)
            clusters.append(home)
        for text, topic in items:
            home.texts[text] += 1
            if topic:
                home.topics[topic] += 1
    return sorted(clusters, key=lambda c: (-c.count, c.key))
