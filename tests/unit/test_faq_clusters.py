"""Grouping unanswered questions into the most-asked gaps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.services.faqdesk.clusters import cluster, cluster_key

ASKED = [
    ("普查办食堂几点开饭", None),
    ("普查办食堂几点开饭？", None),
    ("普查辦食堂幾點開飯", None),  # traditional characters
    ("普查办的食堂几点开饭啊", None),  # other words around it
    ("普查员工资多少", "two_staff"),
    ("普查员的工资一个月多少", "two_staff"),
    ("How much are enumerators paid?", None),
    ("how much are ENUMERATORS paid", None),
    ("明天下雨吗", None),
]


def test_one_gap_per_question_however_it_is_written() -> None:
    got = cluster(ASKED)
    assert [(c.count, len(c.texts)) for c in got] == [(4, 4), (2, 2), (2, 2), (1, 1)]
    assert set(got[0].texts) == {t for t, _ in ASKED[:4]} and got[0].best_topic is None
    pay = next(c for c in got if "普查员工资多少" in c.texts)
    assert set(pay.texts) == {t for t, _ in ASKED[4:6]} and pay.best_topic == "two_staff"
    english = next(c for c in got if "how much are ENUMERATORS paid" in c.texts)
    assert english.count == 2 and got[-1].text == "明天下雨吗"


def test_width_and_script_fold_into_one_key() -> None:
    assert cluster_key("普查辦食堂？") == cluster_key("普查办食堂?") == "普查办食堂"


@given(st.permutations(ASKED))
def test_the_grouping_does_not_depend_on_the_order(asked: list[tuple[str, str | None]]) -> None:
    def shape(items: list[tuple[str, str | None]]) -> list[tuple[int, frozenset[str]]]:
        return [(c.count, frozenset(c.texts)) for c in cluster(items)]
    assert shape(asked) == shape(ASKED)
