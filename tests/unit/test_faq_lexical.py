"""Questions searched without their embedding (a fresh install before its content is embedded,
or the embedding worker down) are calibrated for lexical search: they are answered, not all
handed off; questions that were embedded keep the main calibration."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml

from faq.content import load_content
from faq.engine import ANSWER, EngineConfig, FaqIndex
from faq.semantic import DIM, EmbeddingUnavailable

VALIDATION = Path(__file__).resolve().parents[2] / "bench" / "faq_validation.yaml"


class _Embedder:
    """Deterministic vectors for content; queries fail when `down`."""

    def __init__(self) -> None:
        self.down = False

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(DIM) for t in texts]
        m = np.array(rows, dtype=np.float32).reshape(len(texts), DIM)
        return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-9)

    def embed_query(self, text: str) -> np.ndarray:
        if self.down:
            raise EmbeddingUnavailable("worker down")
        return self.embed([text])[0]


@pytest.fixture(scope="module")
def lexical() -> FaqIndex:
    content = load_content()
    return FaqIndex.build(content.entries, not_covered=content.not_covered, semantic=False)


def test_the_lexical_calibration_fits_the_features() -> None:
    config = EngineConfig()
    assert len(config.coef_lexical) == len(config.coef)
    assert config.plausible_lexical <= config.threshold_lexical


def test_lexical_search_answers_in_scope_questions_and_declines_the_others(
        lexical: FaqIndex) -> None:
    data = yaml.safe_load(VALIDATION.read_text(encoding="utf-8"))
    shown = [lexical.search(q["text"]).shown == q["topic"] for q in data["in_scope"]]
    answered = [lexical.search(q["text"]).outcome == ANSWER for q in data["in_scope"]]
    declined = [lexical.search(q).shown is None for q in data["out_of_scope"]]
    assert sum(shown) / len(shown) >= 0.85
    assert sum(answered) / len(answered) >= 0.80
    assert sum(declined) / len(declined) >= 0.85


def test_an_embedded_question_keeps_the_main_calibration_and_a_failed_one_is_lexical() -> None:
    content = load_content()
    emb = _Embedder()
    index = FaqIndex.build(content.entries, not_covered=content.not_covered, embedder=emb)
    text = "普查员上门要收费吗"
    ranked, feats = index.rank(text)
    f = feats[ranked[0][0]]
    assert f.semantic
    assert index.calibrate(f) == index.calibrate_vector(f.vector())
    emb.down = True
    ranked, feats = index.rank(text)
    f = feats[ranked[0][0]]
    assert not f.semantic
    assert index.calibrate(f) == index.calibrate_vector(f.vector(), lexical=True)
    assert index.search(text).outcome == ANSWER
