"""Fit the FAQ confidence calibration on our own data (not the dev questions).

Positives: leave-one-out over the entries' own phrasings (each phrasing is removed from
its entry, the index rebuilt, and the phrasing searched; label = top-1 is right).
Negatives: bench/faq_calibration.yaml out-of-scope questions (label 0).
Fits a logistic regression on the engine's features and prints coefficients and the
threshold that maximises accuracy of the answer/abstain decision on this set.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.content import FaqEntry, load_entries
from faq.engine import EngineConfig, FaqIndex

HERE = Path(__file__).resolve().parent
TARGET_ABSTAIN = 0.85  # share of non-answerable calibration questions that must abstain


def loo_samples(entries: list[FaqEntry], config: EngineConfig) -> list[tuple[list[float], int]]:
    """Leave-one-phrasing-out samples: (features, 1 if top-1 correct else 0)."""
    out = []
    for i, entry in enumerate(entries):
        for lang, items in entry.phrasings.items():
            for j, text in enumerate(items):
                reduced = dict(entry.phrasings)
                reduced[lang] = items[:j] + items[j + 1 :]
                changed = dataclasses.replace(entry, phrasings=reduced)
                index = FaqIndex.build([*entries[:i], changed, *entries[i + 1 :]], config=config)
                best, feats = index.features(text)
                out.append((feats, int(best == entry.id)))
    return out


def negative_samples(index: FaqIndex) -> list[tuple[list[float], int]]:
    """Features of our own out-of-scope questions (label 0)."""
    data = yaml.safe_load((HERE / "faq_calibration.yaml").read_text(encoding="utf-8"))
    return [(index.features(q)[1], 0) for q in data["out_of_scope"]]


def fit(samples: list[tuple[list[float], int]], l2: float = 0.01) -> list[float]:
    """Logistic regression by gradient descent (balanced classes), returns [b, w...]."""
    x = np.array([[1.0, *f] for f, _ in samples])
    y = np.array([float(lab) for _, lab in samples])
    pos = y.sum()
    neg = len(y) - pos
    sw = np.where(y == 1, len(y) / (2 * max(pos, 1)), len(y) / (2 * max(neg, 1)))
    w = np.zeros(x.shape[1])
    reg = np.full(x.shape[1], l2)
    reg[0] = 0.0
    for _ in range(20000):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -50, 50)))
        grad = x.T @ ((p - y) * sw) / len(y) + reg * w
        w -= 0.5 * grad
    return [float(v) for v in w]


def main() -> None:
    """Fit and print calibration coefficients and the threshold sweep."""
    entries = load_entries()
    base = EngineConfig()
    loo = loo_samples(entries, base)
    oos = negative_samples(FaqIndex.build(entries, config=base))
    samples = loo + oos
    pos = [s for s in samples if s[1] == 1]
    n_other = len(samples) - len(pos)
    print(f"samples: {len(samples)} (top-1 correct LOO: {len(pos)}, other: {n_other})")
    coef = fit(samples)
    print("coef =", tuple(round(c, 3) for c in coef))
    index = FaqIndex.build(entries, config=dataclasses.replace(base, coef=tuple(coef)))
    probs = [(index.calibrate_vector(x), y) for x, y in samples]
    n_neg = len(samples) - len(pos)
    oos_probs = [index.calibrate_vector(x) for x, _ in oos]
    best_thr, best_ok = 0.5, -1.0
    for k in range(10, 91):
        thr = k / 100
        ok = sum(1 for p, y in probs if p >= thr and y == 1) / max(len(pos), 1)
        abst = sum(1 for p in oos_probs if p < thr) / max(len(oos_probs), 1)
        if abst >= TARGET_ABSTAIN and ok > best_ok:
            best_thr, best_ok = thr, ok
    print(f"suggested threshold (our out-of-scope abstained >= {TARGET_ABSTAIN:.0%}, "
          f"most correct answered): {best_thr:.2f} -> correct answered {best_ok:.1%}")
    for thr in (0.3, 0.4, 0.5, 0.6, 0.7):
        answered_ok = sum(1 for p, y in probs if p >= thr and y == 1) / max(len(pos), 1)
        wrong = [y for p, y in probs if p >= thr and y == 0]
        abstain_neg = sum(1 for p, y in probs if p < thr and y == 0)
        oos_abst = sum(1 for p in oos_probs if p < thr) / max(len(oos_probs), 1)
        print(f"thr {thr:.2f}: correct answered {answered_ok:.1%}, non-correct abstained "
              f"{abstain_neg / max(n_neg, 1):.1%} (our out-of-scope {oos_abst:.1%}), "
              f"wrong answers {len(wrong)}")


if __name__ == "__main__":
    main()
