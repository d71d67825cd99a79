"""Evaluate FAQ search on shared/faq/dev_questions.yaml against a simple baseline.

Prints, for the engine and for a BASELINE (character-overlap ranking against the
canonical questions only), in-scope top-1 accuracy and out-of-scope abstain rate.
The dev questions are a held-out test set: nothing here feeds back into the content.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.content import FaqEntry, load_content
from faq.loader import build_index
from faq.text import normalize

# The development set lives beside the checkout (shared/), never in the repo: it measures.
DEV = Path(__file__).resolve().parents[2] / "shared" / "faq" / "dev_questions.yaml"
BASELINE_THRESHOLD = 0.3  # Jaccard overlap below which the baseline abstains


class Baseline:
    """Rank entries by character Jaccard overlap with the canonical (zh + en) questions."""

    def __init__(self, entries: list[FaqEntry]) -> None:
        """Precompute character sets of the canonical questions."""
        self.sets = [(e.id, [set(_chars(q)) for q in e.question.values()]) for e in entries]

    def search(self, text: str) -> tuple[str | None, str | None]:
        """Return (answer or None, best id regardless of threshold)."""
        q = set(_chars(text))
        best, best_id = 0.0, None
        for entry_id, sets in self.sets:
            for s in sets:
                j = len(q & s) / len(q | s) if q | s else 0.0
                if j > best:
                    best, best_id = j, entry_id
        return (best_id if best >= BASELINE_THRESHOLD else None), best_id


def _chars(text: str) -> list[str]:
    """Characters (CJK) and words (latin) of normalised text, punctuation dropped."""
    norm = normalize(text)
    out: list[str] = []
    word = ""
    for ch in norm:
        if ch.isascii() and ch.isalnum():
            word += ch
            continue
        if word:
            out.append(word)
            word = ""
        if ch.isalnum():
            out.append(ch)
    if word:
        out.append(word)
    return out


def main() -> None:
    """Run the dev questions through the engine and the baseline, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", type=Path, default=DEV)
    parser.add_argument("--errors", action="store_true", help="list the engine's misses")
    args = parser.parse_args()
    questions = yaml.safe_load(args.dev.read_text(encoding="utf-8"))["questions"]
    content = load_content()
    index = build_index(content)
    baseline = Baseline(content.entries)
    ins = [q for q in questions if q.get("topic")]
    oos = [q for q in questions if not q.get("topic")]
    stats = {"engine": [0, 0, 0, 0], "baseline": [0, 0, 0, 0]}  # answered ok, ranked ok, abstain
    for q in questions:
        r = index.search(q["text"])
        best_any = r.topic or (r.candidates[0][0] if r.candidates else None)
        b_answer, b_best = baseline.search(q["text"])
        for name, answer, best in (("engine", r.topic, best_any),
                                   ("baseline", b_answer, b_best)):
            s = stats[name]
            if q.get("topic"):
                s[0] += answer == q["topic"]
                s[1] += best == q["topic"]
            else:
                s[2] += answer is None
        if args.errors and r.topic != q.get("topic"):
            print(f"  miss: {q['text']!r} want={q.get('topic')} got={r.topic} "
                  f"score={r.score:.2f} cands={r.candidates[:2]}")
    print(f"dev questions: {len(questions)} ({len(ins)} in scope, {len(oos)} out of scope)")
    print(f"{'':10} {'in-scope top-1 answered':>24} {'in-scope top-1 ranked':>22} "
          f"{'out-of-scope abstain':>21}")
    for name, s in stats.items():
        print(f"{name.upper():10} {s[0] / len(ins):>24.1%} {s[1] / len(ins):>22.1%} "
              f"{s[2] / max(len(oos), 1):>21.1%}")
    print("answered = confident and right (what the user sees); ranked = right at rank 1 "
          "regardless of confidence.")


if __name__ == "__main__":
    main()
