"""Fit the calibration for questions searched WITHOUT their embedding (faq/lexical.py):
bench/faq_calibrate.py's procedure, unchanged (folds of our own content; thresholds on
bench/faq_validation.yaml, never on the development questions), with every index built
lexical only. Prints the coefficients and thresholds for faq/lexical.py.

Usage: python bench/faq_calibrate_lexical.py
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import faq_calibrate

from faq.engine import FaqIndex

_build = FaqIndex.build.__func__  # type: ignore[attr-defined]


def _lexical_build(cls: type[FaqIndex], *args: Any, **kwargs: Any) -> FaqIndex:
    """FaqIndex.build without embeddings (what a question meets while they are missing)."""
    kwargs["semantic"] = False
    index: FaqIndex = _build(cls, *args, **kwargs)
    return index


if __name__ == "__main__":
    FaqIndex.build = classmethod(_lexical_build)  # type: ignore[method-assign,assignment]
    faq_calibrate.main()
