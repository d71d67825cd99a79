"""FAQ confidence calibration, written by `bench/faq_calibrate.py --write` (do not edit by
hand): logistic coefficients (intercept, then one per engine feature) and the decision
thresholds, all fitted and chosen on our own data, never on the development questions."""

COEF = (
    -17.6978, 0.1531, -0.879, 2.4787, 0.4979, 1.9684, -0.8433, 0.9456, -0.7971, 0.322,
    -1.1187, -0.0222, 1.1224, 0.0366, 0.3379, 0.5347, -0.1547, -0.9229, 14.0684, 24.4957,
    4.6101, 0.3337,
)
THRESHOLD = 0.29
PLAUSIBLE = 0.29
# the same, fitted on lexical features alone: a question searched without an embedding
COEF_LEXICAL: tuple[float, ...] = (
    -6.2528, 1.7302, 1.9662, 2.1866, 0.6649, 2.4637, -1.5428, 1.0618, -0.2841, 1.1082,
    -1.6462, -0.122, 1.0432, -0.2114, -0.1461, 0.3519, -1.6112, -0.927, 0.0, 0.0,
    0.0, 0.5523,
)
THRESHOLD_LEXICAL = 0.43
PLAUSIBLE_LEXICAL = 0.41
