"""Fit the FAQ confidence calibration on our own data (never on the development questions).

Training (faq/content, written by us):
  positives: leave-one-out over the entries' own phrasings (the phrasing is removed from its
    entry, the index rebuilt, the phrasing searched; label 1 when the top entry is right);
  negatives: leave-one-out over faq/content/not_covered.yaml (the question is removed from
    the not-covered list and searched; label 0).
Threshold: chosen on bench/faq_validation.yaml, a held-out set we wrote from
faq/topics.yaml alone: the most in-scope questions answered right while at least
TARGET_ABSTAIN of its out-of-scope questions abstain, and at least TARGET_HARD of the
not-covered questions (each left out of the list in turn) abstain as well.

Prints the coefficients (for faq/engine.py EngineConfig.coef) and the threshold sweep.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.content import FaqContent, load_content
from faq.engine import EngineConfig, FaqIndex

HERE = Path(__file__).resolve().parent
VALIDATION = HERE / "faq_validation.yaml"
TARGET_ABSTAIN = 0.90  # share of the validation set's out-of-scope questions that must abstain
TARGET_HARD = 0.85  # share of our (census-adjacent, harder) not-covered questions, left out

Sample = tuple[list[float], int]


def loo_positives(content: FaqContent, config: EngineConfig) -> list[Sample]:
    """Leave-one-phrasing-out samples: (features, 1 if the top entry is right else 0)."""
    entries = content.entries
    out = []
    for i, entry in enumerate(entries):
        for lang, items in entry.phrasings.items():
            for j, text in enumerate(items):
                reduced = dict(entry.phrasings)
                reduced[lang] = items[:j] + items[j + 1 :]
                changed = dataclasses.replace(entry, phrasings=reduced)
                index = FaqIndex.build([*entries[:i], changed, *entries[i + 1 :]], config=config,
                                       not_covered=content.not_covered)
                best, feats = index.features(text)
                out.append((feats, int(best == entry.id)))
    return out


def loo_negatives(content: FaqContent, config: EngineConfig) -> list[Sample]:
    """Leave-one-out over the not-covered questions (label 0)."""
    qs = content.not_covered
    out = []
    for i, text in enumerate(qs):
        index = FaqIndex.build(content.entries, config=config, not_covered=qs[:i] + qs[i + 1 :])
        out.append((index.features(text)[1], 0))
    return out


def validation_samples(index: FaqIndex) -> tuple[list[tuple[list[float], bool]], list[list[float]]]:
    """Held-out validation: (features, top entry right) in scope; features out of scope."""
    data = yaml.safe_load(VALIDATION.read_text(encoding="utf-8"))
    ins = []
    for item in data["in_scope"]:
        best, feats = index.features(item["text"])
        ins.append((feats, best == item["topic"]))
    return ins, [index.features(q)[1] for q in data["out_of_scope"]]


def fit(samples: list[Sample], l2: float = 0.01) -> list[float]:
    """Balanced logistic regression on standardised features; returns raw [b, w...]."""
    raw = np.array([f for f, _ in samples])
    mu, sd = raw.mean(axis=0), raw.std(axis=0) + 1e-9
    x = np.hstack([np.ones((len(raw), 1)), (raw - mu) / sd])
    y = np.array([float(lab) for _, lab in samples])
    pos = y.sum()
    neg = len(y) - pos
    sw = np.where(y == 1, len(y) / (2 * max(pos, 1)), len(y) / (2 * max(neg, 1)))
    w = np.zeros(x.shape[1])
    reg = np.full(x.shape[1], l2)
    reg[0] = 0.0
    for _ in range(20000):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -50, 50)))
        w -= 0.5 * (x.T @ ((p - y) * sw) / len(y) + reg * w)
    weights = w[1:] / sd
    return [float(w[0] - (w[1:] * mu / sd).sum()), *(float(v) for v in weights)]


def main() -> None:
    """Fit, then print the coefficients and the threshold sweep on the validation set."""
    content = load_content()
    base = EngineConfig()
    hard = loo_negatives(content, base)
    samples = loo_positives(content, base) + hard
    pos = sum(lab for _, lab in samples)
    print(f"samples: {len(samples)} (top-1 right in leave-one-out: {pos}, "
          f"other: {len(samples) - pos})")
    coef = fit(samples)
    print("coef =", tuple(round(c, 4) for c in coef))
    config = dataclasses.replace(base, coef=tuple(coef))
    index = FaqIndex.build(content.entries, config=config, not_covered=content.not_covered)
    val_in, val_oos = validation_samples(index)
    p_in = [(index.calibrate_vector(f), ok) for f, ok in val_in]
    p_oos = [index.calibrate_vector(f) for f in val_oos]
    p_train = [(index.calibrate_vector(f), lab) for f, lab in samples]
    p_hard = [index.calibrate_vector(f) for f, _ in hard]
    print(f"validation: {len(val_in)} in scope (top-1 right "
          f"{sum(ok for _, ok in val_in) / len(val_in):.1%}), {len(val_oos)} out of scope")
    best_thr, best_ok = 0.5, -1.0
    for k in range(20, 81):
        thr = k / 100
        answered = sum(1 for p, ok in p_in if p >= thr and ok) / len(p_in)
        abstain = sum(1 for p in p_oos if p < thr) / len(p_oos)
        hard_abstain = sum(1 for p in p_hard if p < thr) / len(p_hard)
        if abstain >= TARGET_ABSTAIN and hard_abstain >= TARGET_HARD and answered > best_ok:
            best_thr, best_ok = thr, answered
        if k % 5 == 0:
            train_ok = sum(1 for p, y in p_train if p >= thr and y) / max(pos, 1)
            print(f"thr {thr:.2f}: validation answered right {answered:.1%}, out-of-scope "
                  f"abstained {abstain:.1%} | training answered right {train_ok:.1%}, "
                  f"not-covered abstained {hard_abstain:.1%}")
    print(f"threshold = {best_thr:.2f} (validation out-of-scope abstained >= "
          f"{TARGET_ABSTAIN:.0%}, not-covered >= {TARGET_HARD:.0%}; validation answered "
          f"right: {best_ok:.1%})")


if __name__ == "__main__":
    main()
