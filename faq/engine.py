"""FAQ search: BM25 over question/phrasings/keywords/answer plus best-phrasing overlap,
with a calibrated confidence so that questions the FAQ does not answer abstain."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from faq.analyzer import BIGRAM, SYNONYM, Analyzer
from faq.closeness import Closeness, relative
from faq.content import FaqEntry
from faq.lexical import LEXICAL_COEF, LEXICAL_PLAUSIBLE, LEXICAL_THRESHOLD
from faq.sanitize import clean_text
from faq.semantic import Embedder, shared_embedder
from faq.text import normalize, question_part, stem

ANSWER = "answer"
DID_YOU_MEAN = "did_you_mean"
HANDOFF = "handoff"


@dataclass(frozen=True)
class SearchResult:
    """Outcome of one search: the answer topic (or None), confidence and alternatives.

    `outcome` is ANSWER (topic is answered), DID_YOU_MEAN (`suggestion` is shown and the
    asker confirms it with one tap; `alternatives` starts with it) or HANDOFF (nothing fits
    well enough: a person should answer)."""

    topic: str | None
    score: float
    alternatives: list[str]
    confident: bool
    candidates: list[tuple[str, float]]
    outcome: str = HANDOFF
    suggestion: str | None = None

    @property
    def shown(self) -> str | None:
        """The entry shown as the answer: the answer, or the "did you mean" suggestion."""
        return self.topic if self.outcome == ANSWER else self.suggestion


@dataclass(frozen=True)
class EngineConfig:
    """Tunable weights; the calibration coefficients come from bench/faq_calibrate.py."""

    k1: float = 1.2
    b: float = 0.75
    field_weights: tuple[tuple[str, float], ...] = (
        ("question", 1.5), ("phrasings", 1.0), ("keywords", 2.0), ("answer", 0.6),
    )
    term_weights: tuple[tuple[str, float], ...] = (("word", 1.0), ("bigram", 0.5), ("syn", 2.0))
    unit_weight: float = 0.0  # weight of the best single-phrasing overlap in the ranking score
    # logistic calibration: intercept, then one coefficient per _Features.vector() item
    coef: tuple[float, ...] = (
        -15.115, 0.198, -1.2468, 2.1439, 0.9056, 1.9169, -0.6864, 0.9186, -0.5187, 0.2197,
        -1.1747, -0.0478, 1.113, -0.0005, 0.0243, 0.4931, -0.5657, -0.4704, 11.4916, 19.7536,
        10.8828, 0.4739,
    )
    # answer at this score; at least `plausible` (and below it): "did you mean" the best
    # entry; lower still: hand off to a person. Both are chosen by bench/faq_calibrate.py on
    # our own validation set (never on the development questions).
    threshold: float = 0.34
    plausible: float = 0.33
    lexical_coef: tuple[float, ...] = LEXICAL_COEF  # questions not embedded: faq/lexical.py
    lexical_threshold: float = LEXICAL_THRESHOLD
    lexical_plausible: float = LEXICAL_PLAUSIBLE
    info_scale: float = 12.0  # matched IDF mass at which a query counts as fully specific
    alt_ratio: float = 0.6  # alternatives must score at least this share of the best
    vague_entries: int = 3  # a lone word in more entries than this is too vague to answer
    sem_weight: float = 0.3  # weight of the relative semantic closeness in the ranking
    sem_candidate: float = 0.6  # relative closeness making an entry a candidate without words

    def term_weight(self, term: str) -> float:
        """Query-side weight of a term by its kind (word, bigram, synonym)."""
        kinds = dict(self.term_weights)
        if term.startswith(BIGRAM):
            return kinds["bigram"]
        if term.startswith(SYNONYM):
            return kinds["syn"]
        return kinds["word"]


@lru_cache(maxsize=1)
def default_analyzer() -> Analyzer:
    """The shared analyzer (jieba initialised once per process)."""
    return Analyzer()


@dataclass
class _Features:
    """Signals about the best candidate used for calibration."""

    bm25_norm: float
    unit: float
    margin: float
    coverage: float
    info: float = 0.0  # how specific the matched part is (saturating matched IDF mass)
    known: float = 0.0  # share of the query's word mass the index knows at all
    word_cov: float = 0.0  # IDF-weighted share of the query's words found in the entry
    miss_max: float = 0.0  # IDF (relative to an unseen word) of the best word the entry lacks
    n_words: float = 0.0  # log(1 + number of distinct query words)
    oov_share: float = 0.0  # share of the query's words that no entry contains
    missed: float = 0.0  # number of the query's words the entry lacks
    bigram_share: float = 0.0  # share of the query's character bigrams found in the entry
    synonyms: float = 0.0  # synonym groups shared with the entry (saturating at 3)
    single: float = 0.0  # 1 when the query has at most one word
    length: float = 0.0  # log(1 + characters of the query)
    neg_unit: float = 0.0  # best phrasing overlap with a known not-covered question
    neg_cov: float = 0.0  # word coverage by the closest known not-covered question
    sem_best: float = 0.0  # embedding cosine of the query with the entry's closest phrasing
    sem_neg_gap: float = 0.0  # sem_best minus the closest not-covered question's cosine
    sem_other_gap: float = 0.0  # sem_best minus the closest other entry's phrasing cosine
    agree: float = 0.0  # 1 when the entry is also the lexically best (words and meaning agree)
    vague: bool = False  # one word that many entries use (not a calibration feature)
    subject_word: bool = False  # the query is one word that many entries use (not a feature)
    semantic: bool = False  # the query was embedded (not a feature: picks the calibration)

    def vector(self) -> list[float]:
        """Feature vector in the order of EngineConfig.coef[1:]."""
        return [self.bm25_norm, self.unit, self.margin, self.coverage, self.info, self.known,
                self.word_cov, self.miss_max, self.n_words, self.oov_share, self.missed,
                self.bigram_share, self.synonyms, self.single, self.length, self.neg_unit,
                self.neg_cov, self.sem_best, self.sem_neg_gap, self.sem_other_gap, self.agree]


@dataclass
class _Posting:
    """Precomputed postings of one term: documents with their BM25 term factor, and units."""

    idf: float
    docs: np.ndarray  # int64 document indices (unique)
    factor: np.ndarray  # tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len)) per document
    units: np.ndarray  # int64 indices of the question/phrasing units containing the term


_EMPTY_I = np.zeros(0, dtype=np.int64)


@dataclass
class FaqIndex:
    """Inverted index over FAQ entries; `search` is pure and synchronous.

    Document-side BM25 factors are precomputed per term, so a query costs a few vectorised
    operations per query term instead of a Python loop over every matching document.
    """

    entries: list[FaqEntry]
    analyzer: Analyzer
    config: EngineConfig
    postings: dict[str, _Posting]
    unit_doc: np.ndarray  # entry index of each unit
    unit_mass: np.ndarray  # weighted IDF mass of each unit
    by_id: dict[str, FaqEntry] = field(default_factory=dict)
    negatives: FaqIndex | None = None  # index of the known not-covered questions
    semantic: Closeness | None = None  # sentence embeddings (None: lexical features only)
    domain: frozenset[str] = frozenset()  # entry keywords and synonym terms (normalised)

    @property
    def idf(self) -> dict[str, float]:
        """IDF of every indexed term."""
        return {t: p.idf for t, p in self.postings.items()}

    @classmethod
    def build(
        cls,
        entries: list[FaqEntry],
        analyzer: Analyzer | None = None,
        config: EngineConfig | None = None,
        not_covered: Iterable[str] = (),
        semantic: bool = True,
        embedder: Embedder | None = None,
    ) -> FaqIndex:
        """Analyse the entries (and the known not-covered questions) and build the index;
        with `semantic`, also embed them (default: the shared e5 embedder)."""
        analyzer = analyzer or default_analyzer()
        not_covered = list(not_covered)
        # the homophone repair learns the content's own character pairs (targets) and the
        # not-covered questions' (left alone, never targets) before anything is analysed
        analyzer.learn(t for e in entries if e.category != "not_covered"
                        for items in _field_texts(e).values() for t in items)
        analyzer.learn(not_covered, targets=False)
        negatives = None
        if not_covered:
            negatives = cls.build(
                [FaqEntry(id=f"not_covered:{n}", category="not_covered", question={"zh": q},
                          answer={"zh": ""}) for n, q in enumerate(not_covered)],
                analyzer=analyzer, config=config, semantic=False)
        sem = (Closeness.build(embedder or shared_embedder(), list(entries), not_covered)
               if semantic else None)
        config = config or EngineConfig()
        weights = dict(config.field_weights)
        analyzer.segmenter.add_words(k for e in entries for k in e.keywords)
        doc_tf: list[dict[str, float]] = []
        unit_terms: list[frozenset[str]] = []
        unit_doc: list[int] = []
        for n, entry in enumerate(entries):
            weighted: dict[str, float] = defaultdict(float)
            for fname, items in _field_texts(entry).items():
                for text in items:
                    terms = _terms(analyzer, text)
                    for t in terms:
                        weighted[t] += weights[fname]
                    if fname in ("question", "phrasings") and terms:
                        unit_terms.append(frozenset(terms))
                        unit_doc.append(n)
            doc_tf.append(dict(weighted))
        n_docs = max(len(entries), 1)
        doc_len = [sum(doc.values()) for doc in doc_tf]
        avg_len = (sum(doc_len) / len(doc_len)) if doc_len else 1.0
        by_term: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
        for n, doc in enumerate(doc_tf):
            norm = config.k1 * (1 - config.b + config.b * doc_len[n] / avg_len)
            for t, tf in doc.items():
                docs, factors = by_term[t]
                docs.append(n)
                factors.append(tf * (config.k1 + 1) / (tf + norm))
        idf = {t: math.log(1 + (n_docs - len(d) + 0.5) / (len(d) + 0.5))
               for t, (d, _f) in by_term.items()}
        unit_lists: dict[str, list[int]] = defaultdict(list)
        unit_mass = []
        for u, terms_u in enumerate(unit_terms):
            for t in terms_u:
                unit_lists[t].append(u)
            unit_mass.append(sum(idf.get(t, 0.0) * config.term_weight(t) for t in terms_u))
        postings = {
            t: _Posting(
                idf=idf[t],
                docs=np.asarray(d, dtype=np.int64),
                factor=np.asarray(f, dtype=np.float64),
                units=np.asarray(unit_lists[t], dtype=np.int64) if t in unit_lists else _EMPTY_I,
            )
            for t, (d, f) in by_term.items()
        }
        return cls(
            entries=list(entries),
            analyzer=analyzer,
            config=config,
            postings=postings,
            unit_doc=np.asarray(unit_doc, dtype=np.int64),
            unit_mass=np.asarray(unit_mass, dtype=np.float64),
            by_id={e.id: e for e in entries},
            negatives=negatives,
            semantic=sem,
            domain=frozenset({normalize(k) for e in entries for k in e.keywords}
                             | set(analyzer.synonyms.words())
                             | set(analyzer.synonyms.latin_terms)),
        )

    def _oov_idf(self) -> float:
        """IDF given to query terms that occur in no entry."""
        n = max(len(self.entries), 1)
        return math.log(1 + (n + 0.5) / 0.5)

    def rank(
        self, text: str, limit: int | None = None, *, features: bool = True
    ) -> tuple[list[tuple[int, float]], dict[int, _Features]]:
        """Ranking scores of matching entries (best first, at most `limit`) and, unless
        `features` is False (ranking only: no embedding, no not-covered search), the best's
        calibration features (the margin is set on the best only).

        A long message is searched by its question part; with embeddings, the ranking adds
        each entry's semantic closeness to the lexical score (one embedding per question)."""
        cfg = self.config
        text = clean_text(text)  # untrusted: normalised and bounded before anything else
        text = self.analyzer.focus(question_part(text), self._specific)
        qtf = Counter(self.analyzer.terms(text))  # queries are not memoised
        if not self.entries or not text:
            return [], {}
        n = len(self.entries)
        sem_best: np.ndarray | None = None
        sem_neg = float("nan")
        if features and self.semantic is not None:
            close = self.semantic.query(text, n)  # None: the embedding worker cannot answer
            if close is not None:
                sem_best, sem_neg = close
        if not qtf and sem_best is None:
            return [], {}
        oov = self._oov_idf()
        qw = {t: cfg.term_weight(t) for t in qtf}
        q_mass = sum((self.postings[t].idf if t in self.postings else oov) * qw[t] for t in qtf)
        upper = q_mass * (cfg.k1 + 1)
        bm25 = np.zeros(n)
        matched = np.zeros(n)
        hits = np.zeros(len(self.unit_mass))
        for t in qtf:
            p = self.postings.get(t)
            if p is None:
                continue
            w = p.idf * qw[t]
            bm25[p.docs] += w * p.factor  # docs are unique within one posting list
            matched[p.docs] += w
            hits[p.units] += w
        touched = np.flatnonzero(hits)
        best_unit = np.zeros(n)
        if touched.size:
            denom = q_mass + self.unit_mass[touched]
            dice = np.where(denom > 0, 2 * hits[touched] / np.maximum(denom, 1e-12), 0.0)
            np.maximum.at(best_unit, self.unit_doc[touched], dice)
        score = bm25 / upper if upper else bm25 * 0.0
        if cfg.unit_weight:
            score = score + cfg.unit_weight * best_unit
        in_play = bm25 > 0
        if sem_best is not None:
            rel = relative(sem_best)
            score = score + cfg.sem_weight * rel
            in_play |= rel >= cfg.sem_candidate
        cand = np.flatnonzero(in_play)
        if not cand.size:
            return [], {}
        order = cand[np.argsort(-score[cand], kind="stable")]
        if limit is not None:
            order = order[: max(limit, 2)]
        ranked = [(int(d), float(score[d])) for d in order]
        if not features:
            return ranked, {}
        words = [t for t in qtf if not t.startswith((BIGRAM, SYNONYM))]
        word_mass = sum(self.postings[t].idf if t in self.postings else oov for t in words)
        known = (sum(self.postings[t].idf for t in words if t in self.postings) / word_mass
                 if word_mass else 1.0)
        d0 = ranked[0][0]
        hit_mass, miss_max, missed, unseen = 0.0, 0.0, 0, 0
        for t in words:
            p = self.postings.get(t)
            unseen += p is None
            if p is not None and _contains(p.docs, d0):
                hit_mass += p.idf
            else:
                missed += 1
                miss_max = max(miss_max, (p.idf if p is not None else oov) / oov)
        grams = [t for t in qtf if t.startswith(BIGRAM)]
        syns = [t for t in qtf if t.startswith(SYNONYM)]
        top = ranked[0][1]
        second = ranked[1][1] if len(ranked) > 1 else 0.0
        neg_unit, neg_cov = self._not_covered_similarity(text)
        sem = (Closeness.features(sem_best, sem_neg, d0) if sem_best is not None
               else (0.0, 0.0, 0.0))
        feats = {d0: _Features(
            bm25_norm=float(bm25[d0] / upper) if upper else 0.0,
            unit=float(best_unit[d0]),
            margin=(top - second) / top if top > 0 else 0.0,
            coverage=float(matched[d0] / q_mass) if q_mass else 0.0,
            info=1.0 - math.exp(-float(matched[d0]) / cfg.info_scale),
            known=known,
            word_cov=hit_mass / word_mass if word_mass else 1.0,
            miss_max=miss_max,
            n_words=math.log1p(len(words)),
            oov_share=unseen / len(words) if words else 0.0,
            missed=float(missed),
            bigram_share=(sum(1 for t in grams if self._has(t, d0)) / len(grams)
                          if grams else 0.0),
            synonyms=min(sum(1 for t in syns if self._has(t, d0)), 3) / 3,
            single=1.0 if len(words) <= 1 else 0.0,
            length=math.log1p(len(text.strip())),
            neg_unit=neg_unit,
            neg_cov=neg_cov,
            sem_best=sem[0],
            sem_neg_gap=sem[1],
            sem_other_gap=sem[2],
            agree=1.0 if bm25[d0] > 0 and bm25[d0] >= bm25.max() else 0.0,
            vague=len(words) <= 1 and all(
                t not in self.postings or len(self.postings[t].docs) > cfg.vague_entries
                for t in words),
            subject_word=len(words) == 1 and words[0] in self.postings
            and len(self.postings[words[0]].docs) > cfg.vague_entries,
            semantic=sem_best is not None,
        )}
        return ranked, feats

    def _specific(self, word: str) -> bool:
        """Whether a word is a domain term (an entry keyword or a synonym) that points at a
        few entries (in at most `vague_entries`)."""
        key = stem(word) if word.isascii() else word
        p = self.postings.get(key)
        return (key in self.domain or word in self.domain) and p is not None \
            and len(p.docs) <= self.config.vague_entries

    def _has(self, term: str, doc: int) -> bool:
        """Whether entry `doc` contains `term`."""
        p = self.postings.get(term)
        return p is not None and _contains(p.docs, doc)

    def _not_covered_similarity(self, text: str) -> tuple[float, float]:
        """Phrasing overlap and word coverage of the closest known not-covered question."""
        if self.negatives is None:
            return 0.0, 0.0
        ranked, feats = self.negatives.rank(text, limit=1)
        if not ranked:
            return 0.0, 0.0
        f = feats[ranked[0][0]]
        return f.unit, f.word_cov

    def calibrate(self, f: _Features) -> float:
        """Calibrated confidence in [0, 1] from the best candidate's features."""
        return self.calibrate_vector(f.vector(), lexical=not f.semantic)

    def calibrate_vector(self, x: list[float], *, lexical: bool = False) -> float:
        """Logistic calibration of a feature vector."""
        coef = self.config.lexical_coef if lexical else self.config.coef
        z = coef[0] + sum(c * v for c, v in zip(coef[1:], x, strict=True))
        z = max(-50.0, min(50.0, z))
        return 1.0 / (1.0 + math.exp(-z))

    def search(self, text: str, limit: int = 3) -> SearchResult:
        """Find the entry answering `text`: answer it, suggest it ("did you mean"), or hand
        off (topic None) when nothing fits well enough."""
        limit = max(1, limit)
        ranked, feats = self.rank(text, limit=max(limit, 3))
        if not ranked or ranked[0][1] <= 0 or self.elsewhere(text):
            return SearchResult(topic=None, score=0.0, alternatives=[], confident=False,
                                candidates=[])
        cfg = self.config
        best_doc, best = ranked[0]
        score = self.calibrate(feats[best_doc])
        threshold, plausible = ((cfg.threshold, cfg.plausible) if feats[best_doc].semantic
                                else (cfg.lexical_threshold, cfg.lexical_plausible))
        candidates = [
            (self.entries[d].id, _clamp(score * s / best)) for d, s in ranked[: max(limit, 3)]
        ]
        close = [self.entries[d].id for d, s in ranked[1:limit] if s >= cfg.alt_ratio * best]
        best_id = self.entries[best_doc].id
        # a single word many entries use ("普查员") names a subject, not a question: suggest it
        if score >= threshold and not feats[best_doc].vague:
            return SearchResult(topic=best_id, score=score, alternatives=close, confident=True,
                                candidates=candidates, outcome=ANSWER, suggestion=best_id)
        # ...and is worth offering even below `plausible`: the asker picks among its entries
        if score >= plausible or feats[best_doc].subject_word:
            others = [self.entries[d].id for d, _s in ranked[1:limit]]
            return SearchResult(topic=None, score=score, alternatives=[best_id, *others][:limit],
                                confident=False, candidates=candidates, outcome=DID_YOU_MEAN,
                                suggestion=best_id)
        return SearchResult(topic=None, score=score, alternatives=[], confident=False,
                            candidates=candidates)

    def elsewhere(self, text: str) -> bool:
        """Whether the question names another census or survey and not ours (handed off)."""
        return self.analyzer.synonyms.names_elsewhere(self.analyzer.prepare(clean_text(text)))

    def entry(self, entry_id: str) -> FaqEntry | None:
        """The entry with this id, if any."""
        return self.by_id.get(entry_id)

    def features(self, text: str) -> tuple[str | None, list[float]]:
        """Best id and its calibration features (for bench/faq_calibrate.py)."""
        ranked, feats = self.rank(text, limit=2)
        if not ranked:
            return None, [0.0] * (len(self.config.coef) - 1)
        return self.entries[ranked[0][0]].id, feats[ranked[0][0]].vector()


def _contains(docs: np.ndarray, doc: int) -> bool:
    """Whether a posting list holds `doc`."""
    return bool(np.any(docs == doc))


def _clamp(x: float) -> float:
    """Clamp to [0, 1]."""
    return 0.0 if x < 0 else 1.0 if x > 1 else x


def _field_texts(entry: FaqEntry) -> dict[str, list[str]]:
    """The searchable texts of an entry grouped by field."""
    return {
        "question": list(entry.question.values()),
        "phrasings": [p for items in entry.phrasings.values() for p in items],
        "keywords": list(entry.keywords),
        "answer": [_strip_tags(a) for a in entry.answer.values()],
    }


def _strip_tags(text: str) -> str:
    """Remove the few HTML tags answers may contain."""
    for tag in ("<b>", "</b>", "<i>", "</i>"):
        text = text.replace(tag, "")
    return text.replace("&amp;", "&")


_TERM_CACHE: dict[tuple[int, int, str], tuple[str, ...]] = {}


def _terms(analyzer: Analyzer, text: str) -> tuple[str, ...]:
    """Analyse text, memoising content texts so rebuilds are cheap."""
    key = (id(analyzer), analyzer.segmenter.version, text)
    cached = _TERM_CACHE.get(key)
    if cached is None:
        cached = tuple(analyzer.terms(text))
        if len(_TERM_CACHE) < 50_000:
            _TERM_CACHE[key] = cached
    return cached


def ids(results: Iterable[SearchResult]) -> list[str | None]:
    """Topics of a sequence of results (helper for benches and tests)."""
    return [r.topic for r in results]
