"""Fit the FAQ confidence calibration and choose the decision thresholds on our own data
(never on the development questions).

Training (faq/content, written by us), in K folds so that every text is searched by an index
that does not contain it:
  positives: each entry's phrasings in fold k are removed from their entries, the index
    rebuilt, and each is searched (label 1 when the top entry is right, else 0);
  negatives: the not-covered questions of fold k are removed from the not-covered list and
    searched (label 0).
Thresholds, on bench/faq_validation.yaml (a held-out set we wrote from faq/topics.yaml alone,
in every chat style), with the fitted calibration:
  plausible ("did you mean" at or above it, hand-off below): the lowest threshold at which at
    least TARGET_DECLINE of the validation out-of-scope questions and TARGET_HARD of the
    held-out not-covered questions are handed off (the most in-scope answers shown);
  threshold (answer outright): the lowest at or above `plausible` at which at least
    TARGET_PRECISION of the validation questions answered outright get the right entry.

Prints the coefficients, the sweep and the choice; --write writes them to faq/calibration.py
(read by faq/engine.py EngineConfig). The same is fitted and chosen once more on lexical
features alone (indexes without embeddings), for questions searched without an embedding.
--report only measures the engine as configured on our validation and held-out sets, by style.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.content import FaqContent, load_content
from faq.engine import EngineConfig, FaqIndex
from faq.loader import build_index

HERE = Path(__file__).resolve().parent
VALIDATION = HERE / "faq_validation.yaml"
CALIBRATION = HERE.parent / "faq" / "calibration.py"
HOLDOUT = HERE / "faq_holdout.yaml"  # only measured (--report): nothing is chosen on it
FOLDS = 5
TARGET_DECLINE = 0.85  # validation out-of-scope handed off (the product target is 80 %)
TARGET_HARD = 0.80  # our census-adjacent not-covered questions, held out, handed off
TARGET_PRECISION = 0.97  # validation questions answered outright that get the right entry

Sample = tuple[list[float], int]
Fitted = tuple[list[float], float, float]  # coefficients, threshold, plausible


def fold_samples(content: FaqContent, config: EngineConfig, fold: int,
                 semantic: bool = True) -> tuple[list[Sample], list[Sample]]:
    """(positives, negatives) of one fold: its texts searched in an index without them
    (without `semantic`: an index without embeddings, for the lexical-only fit)."""
    held: list[tuple[str, str]] = []
    entries = []
    for entry in content.entries:
        reduced: dict[str, list[str]] = {}
        n = 0
        for lang, items in entry.phrasings.items():
            keep = []
            for text in items:
                (held.append((entry.id, text)) if n % FOLDS == fold else keep.append(text))
                n += 1
            reduced[lang] = keep
        entries.append(dataclasses.replace(entry, phrasings=reduced))
    negs = [q for i, q in enumerate(content.not_covered) if i % FOLDS == fold]
    rest = [q for i, q in enumerate(content.not_covered) if i % FOLDS != fold]
    index = FaqIndex.build(entries, config=config, not_covered=rest, semantic=semantic)
    pos = []
    for entry_id, text in held:
        best, feats = index.features(text)
        pos.append((feats, int(best == entry_id)))
    return pos, [(index.features(q)[1], 0) for q in negs]


def validation_samples(
    index: FaqIndex,
) -> tuple[list[tuple[list[float], bool]], list[list[float] | None]]:
    """Held-out validation: (features, top entry right) in scope; features out of scope."""
    data = yaml.safe_load(VALIDATION.read_text(encoding="utf-8"))
    ins = []
    for item in data["in_scope"]:
        best, feats = index.features(item["text"])
        ins.append((feats, best == item["topic"] and not index.elsewhere(item["text"])))
    # None: a question naming another census, handed off by a rule whatever its confidence
    return ins, [None if index.elsewhere(q) else index.features(q)[1]
                 for q in data["out_of_scope"]]


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


def choose(p_in: list[tuple[float, bool]], p_oos: list[float],
           p_hard: list[float]) -> tuple[float, float]:
    """(plausible, threshold) by the rules in the module docstring."""
    grid = [k / 100 for k in range(1, 100)]
    plausible = next((t for t in grid
                      if sum(p < t for p in p_oos) / len(p_oos) >= TARGET_DECLINE
                      and sum(p < t for p in p_hard) / len(p_hard) >= TARGET_HARD), 0.99)
    threshold = 0.99
    for t in grid:
        if t < plausible:
            continue
        outright = [ok for p, ok in p_in if p >= t] + [False for p in p_oos if p >= t]
        if outright and sum(outright) / len(outright) >= TARGET_PRECISION:
            threshold = t
            break
    return plausible, threshold


_STYLED = re.compile(r'^\s*-\s*(?:\{topic:\s*(\w+),\s*text:\s*)?"(.*)"\}?\s*#\s*(\w+)\s*$')


def styled_questions(path: Path) -> list[tuple[str, str | None, str]]:
    """(text, topic or None, style) of every question of a validation-format file; a line
    without a trailing style comment is style 'untagged'."""
    styles: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _STYLED.match(line)
        if m:
            styles[yaml.safe_load(f'"{m.group(2)}"')] = m.group(3)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return ([(q["text"], q["topic"], styles.get(q["text"], "untagged"))
             for q in data["in_scope"]]
            + [(q, None, styles.get(q, "untagged")) for q in data["out_of_scope"]])


def report(index: FaqIndex, paths: list[Path]) -> None:
    """Search every question of our own sets with the engine as configured and print, per file
    and per style: in scope right shown (answer or did-you-mean), out of scope declined."""
    for path in paths:
        tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        misses = []
        for text, want, style in styled_questions(path):
            r = index.search(text)
            for key in ("ALL", style):
                t = tally[key]
                if want:
                    t[0] += 1
                    t[1] += r.shown == want
                    t[4] += r.topic is not None and r.topic != want
                else:
                    t[2] += 1
                    t[3] += r.shown is None
            if r.shown != want:
                misses.append(f"  [{style}] {text!r} want={want} got={r.outcome}:{r.shown} "
                              f"{r.score:.2f} {[c for c, _ in r.candidates[:3]]}")
        print(f"{path.name}: in scope right shown / out of scope declined / wrong answers")
        for key in sorted(tally, key=lambda k: (k != "ALL", k)):
            n_in, ok, n_out, dec, wrong = tally[key]
            a = f"{ok / n_in:6.1%}" if n_in else "     -"
            b = f"{dec / n_out:6.1%}" if n_out else "     -"
            print(f"  {key:10} {a} (n={n_in:3})  {b} (n={n_out:3})  wrong {wrong}")
        if "-v" in sys.argv:
            print("\n".join(misses))


def main() -> None:
    """Fit, then print the coefficients, the sweep and the thresholds chosen."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--report", action="store_true",
                        help="only measure the engine as configured on our validation and "
                             "held-out sets, by style (fits nothing)")
    parser.add_argument("-v", action="store_true", help="with --report: list the misses")
    parser.add_argument("--write", action="store_true",
                        help="write the fit and thresholds to faq/calibration.py")
    args = parser.parse_args()
    if args.report:
        report(build_index(load_content()), [VALIDATION, HOLDOUT])
        return
    content = load_content()
    base = EngineConfig()
    pos: list[Sample] = []
    hard: list[Sample] = []
    for fold in range(FOLDS):
        p, n = fold_samples(content, base, fold)
        pos += p
        hard += n
    samples = pos + hard
    right = sum(lab for _, lab in samples)
    print(f"samples: {len(samples)} (top-1 right with the text held out: {right}, "
          f"other: {len(samples) - right})")
    coef = fit(samples)
    print("coef =", tuple(round(c, 4) for c in coef))
    config = dataclasses.replace(base, coef=tuple(coef))
    index = build_index(content, config)
    val_in, val_oos = validation_samples(index)
    p_in = [(index.calibrate_vector(f), ok) for f, ok in val_in]
    p_oos = [0.0 if f is None else index.calibrate_vector(f) for f in val_oos]
    p_hard = [index.calibrate_vector(f) for f, _ in hard]
    print(f"validation: {len(val_in)} in scope (top-1 right "
          f"{sum(ok for _, ok in val_in) / len(val_in):.1%}), {len(val_oos)} out of scope")
    for k in range(1, 20):
        thr = k / 20
        shown = sum(1 for p, ok in p_in if p >= thr and ok) / len(p_in)
        declined = sum(1 for p in p_oos if p < thr) / len(p_oos)
        hard_declined = sum(1 for p in p_hard if p < thr) / len(p_hard)
        print(f"thr {thr:.2f}: validation in scope right at or above {shown:.1%}, out of "
              f"scope below {declined:.1%}; held-out not-covered below {hard_declined:.1%}")
    plausible, threshold = choose(p_in, p_oos, p_hard)
    print_choice("", plausible, threshold, p_in, p_oos)
    lex = lexical(content, config)
    if args.write:
        write(CALIBRATION, (coef, threshold, plausible), lex)
        print(f"written: {CALIBRATION}")


def write(path: Path, fit: Fitted, lex: Fitted) -> None:
    """Write faq/calibration.py: both fits' coefficients and thresholds."""
    def tup(c: list[float]) -> str:
        vals = [str(round(x, 4)) for x in c]
        rows = [", ".join(vals[i:i + 10]) + "," for i in range(0, len(vals), 10)]
        return "(\n" + "".join(f"    {r}\n" for r in rows) + ")"
    head = path.read_text(encoding="utf-8").split("\nCOEF = ")[0]
    path.write_text(
        f"{head}\nCOEF = {tup(fit[0])}\nTHRESHOLD = {fit[1]}\nPLAUSIBLE = {fit[2]}\n"
        "# the same, fitted on lexical features alone: a question searched without an embedding\n"
        f"COEF_LEXICAL: tuple[float, ...] = {tup(lex[0])}\nTHRESHOLD_LEXICAL = {lex[1]}\n"
        f"PLAUSIBLE_LEXICAL = {lex[2]}\n", encoding="utf-8")


def print_choice(kind: str, plausible: float, threshold: float,
                 p_in: list[tuple[float, bool]], p_oos: list[float]) -> None:
    """Print the thresholds chosen and what they give on the validation set."""
    shown = sum(1 for p, ok in p_in if p >= plausible and ok) / len(p_in)
    answered = sum(1 for p, ok in p_in if p >= threshold and ok) / len(p_in)
    declined = sum(1 for p in p_oos if p < plausible) / len(p_oos)
    print(f"plausible{kind} = {plausible:.2f}, threshold{kind} = {threshold:.2f}: validation "
          f"in scope right shown {shown:.1%} (answered outright {answered:.1%}), out of scope "
          f"declined {declined:.1%}")


def lexical(content: FaqContent, config: EngineConfig) -> Fitted:
    """The lexical-only fit (questions searched without an embedding), by the same rules."""
    pos: list[Sample] = []
    hard: list[Sample] = []
    for fold in range(FOLDS):
        p, n = fold_samples(content, config, fold, semantic=False)
        pos += p
        hard += n
    coef = fit(pos + hard)
    print("coef_lexical =", tuple(round(c, 4) for c in coef))
    config = dataclasses.replace(config, coef_lexical=tuple(coef))
    index = FaqIndex.build(content.entries, config=config, not_covered=content.not_covered,
                           semantic=False)
    val_in, val_oos = validation_samples(index)
    p_in = [(index.calibrate_vector(f, lexical=True), ok) for f, ok in val_in]
    p_oos = [0.0 if f is None else index.calibrate_vector(f, lexical=True) for f in val_oos]
    p_hard = [index.calibrate_vector(f, lexical=True) for f, _ in hard]
    plausible, threshold = choose(p_in, p_oos, p_hard)
    print_choice("_lexical", plausible, threshold, p_in, p_oos)
    return coef, threshold, plausible


if __name__ == "__main__":
    main()
