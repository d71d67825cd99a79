"""Calibration for questions searched WITHOUT their embedding: a fresh install until its
content is embedded in the background, or whenever the embedding worker is down.

The main calibration (EngineConfig.coef) leans on the semantic features; with those absent
(zero) it declines every question. These coefficients and thresholds are fitted the same way
on lexical-only indexes: `python bench/faq_calibrate_lexical.py` (folds of our own content;
thresholds on bench/faq_validation.yaml, never on the development questions). On the
validation set: in scope right shown 89.5 % (answered outright 86.0 %), out of scope
declined 90.8 %. Refit whenever the features (engine._Features.vector) change.
"""

from __future__ import annotations

LEXICAL_COEF: tuple[float, ...] = (
    -6.2178, 2.1419, 1.7467, 2.4301, 0.7778, 2.3695, -1.2607, 0.5986, -0.1558, 1.0347,
    -1.7103, -0.1369, 1.0343, -0.3751, -0.1645, 0.356, -1.4542, -1.0175, 0.0, 0.0, 0.0,
    0.5432,
)
LEXICAL_THRESHOLD = 0.49  # answer outright at this confidence
LEXICAL_PLAUSIBLE = 0.36  # "did you mean" at this confidence (and below the threshold)
