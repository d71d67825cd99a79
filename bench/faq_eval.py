"""Evaluate FAQ search on both development sets side by side with a simple baseline.

For the engine and for a BASELINE (character-overlap ranking against the canonical questions
only), on shared/faq/dev_questions.yaml and shared/faq/dev_questions_hard.yaml:
  in-scope right shown: the right entry is shown as the answer (answered, or offered as
    "did you mean"); answered: answered outright and right; ranked: right entry ranked first
    regardless of the decision; out-of-scope declined: handed off to a person.
The hard set's per-style figures come from each line's trailing comment.
The development questions only measure: nothing here feeds back into content or calibration.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.content import FaqEntry, load_content
from faq.engine import FaqIndex
from faq.loader import build_index
from faq.text import normalize

# The development sets live beside the checkout (shared/), never in the repo: they measure.
SHARED = next((p / "shared" / "faq" for p in Path(__file__).resolve().parents
               if (p / "shared" / "faq").is_dir()), Path("shared") / "faq")
DEV_SETS = (SHARED / "dev_questions.yaml", SHARED / "dev_questions_hard.yaml")
VALIDATION = Path(__file__).resolve().parent / "faq_validation.yaml"
BASELINE_THRESHOLD = 0.3  # Jaccard overlap below which the baseline abstains
_STYLE_RE = re.compile(r'^\s*-\s*text:\s*"(.*)"\s*#\s*(\w+)\s*$')


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


@dataclass
class Tally:
    """Counts for one system on one set (or one style)."""

    n_in: int = 0
    n_out: int = 0
    shown: int = 0
    answered: int = 0
    ranked: int = 0
    declined: int = 0
    wrong_answers: int = 0  # in scope, answered outright with the wrong entry

    def row(self) -> str:
        """Percentages in table order."""
        def pct(a: int, b: int) -> str:
            return f"{a / b:.1%}" if b else "-"
        return (f"{pct(self.shown, self.n_in):>9} {pct(self.answered, self.n_in):>9} "
                f"{pct(self.ranked, self.n_in):>8} {pct(self.declined, self.n_out):>9} "
                f"{self.wrong_answers:>6}")


@dataclass
class SetResult:
    """Engine and baseline tallies for one development set, overall and per style."""

    name: str
    engine: Tally = field(default_factory=Tally)
    baseline: Tally = field(default_factory=Tally)
    styles: dict[str, Tally] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)


def _styles(path: Path) -> dict[str, str]:
    """Style named by each question line's trailing comment (text -> style)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _STYLE_RE.match(line)
        if m:
            out[yaml.safe_load(f'"{m.group(1)}"')] = m.group(2)
    return out


def _load(path: Path) -> list[dict[str, str | None]]:
    """Questions as {text, topic} from a development set or from our validation set."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "questions" in data:
        return list(data["questions"])
    return ([{"text": q["text"], "topic": q["topic"]} for q in data["in_scope"]]
            + [{"text": q, "topic": None} for q in data["out_of_scope"]])


def evaluate(path: Path, index: FaqIndex, baseline: Baseline) -> SetResult:
    """Run one question set through the engine and the baseline."""
    questions = _load(path)
    styles = _styles(path)
    res = SetResult(path.name)
    for q in questions:
        want = q.get("topic")
        r = index.search(q["text"])
        ranked = r.candidates[0][0] if r.candidates else None
        b_answer, b_best = baseline.search(q["text"])
        style = res.styles.setdefault(styles.get(q["text"], "-"), Tally())
        for tally, shown, answered, top in (
            (res.engine, r.shown, r.topic, ranked),
            (style, r.shown, r.topic, ranked),
            (res.baseline, b_answer, b_answer, b_best),
        ):
            if want:
                tally.n_in += 1
                tally.shown += shown == want
                tally.answered += answered == want
                tally.ranked += top == want
                tally.wrong_answers += answered is not None and answered != want
            else:
                tally.n_out += 1
                tally.declined += shown is None
        if r.shown != want:
            res.misses.append(f"  miss [{styles.get(q['text'], '-')}] {q['text']!r} want={want} "
                              f"got={r.outcome}:{r.shown} score={r.score:.2f} "
                              f"cands={[c for c, _ in r.candidates[:3]]}")
    return res


def main() -> None:
    """Run both development sets through the engine and the baseline, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dev", type=Path, nargs="*", default=list(DEV_SETS))
    parser.add_argument("--errors", action="store_true", help="list the engine's misses")
    parser.add_argument("--validation", action="store_true",
                        help="also our own validation set (bench/faq_validation.yaml), which "
                             "chose the thresholds")
    args = parser.parse_args()
    content = load_content()
    index = build_index(content)
    baseline = Baseline(content.entries)
    sets = [*args.dev, *([VALIDATION] if args.validation else [])]
    results = [evaluate(p, index, baseline) for p in sets]
    head = (f"{'':28} {'shown':>9} {'answered':>9} {'ranked':>8} {'declined':>9} "
            f"{'wrong':>6}")
    print("in scope: right entry shown (answer or did-you-mean) / answered outright and right"
          " / ranked first; out of scope: declined (handed off); wrong = wrong answers given")
    print(head)
    for res in results:
        print(f"{res.name} ({res.engine.n_in} in scope, {res.engine.n_out} out of scope)")
        print(f"  {'ENGINE':26} {res.engine.row()}")
        print(f"  {'BASELINE':26} {res.baseline.row()}")
        if len(res.styles) > 1:
            for style, tally in sorted(res.styles.items()):
                print(f"    engine, style {style:12} {tally.row()}  "
                      f"(n={tally.n_in}+{tally.n_out})")
    if args.errors:
        for res in results:
            print(f"\n{res.name}:")
            print("\n".join(res.misses))


if __name__ == "__main__":
    main()
