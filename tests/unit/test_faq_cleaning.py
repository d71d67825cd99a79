"""Query cleaning for FAQ search: width/script folding, the question inside a long message,
and input-method homophone repair."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from faq.text import LONG_QUESTION_CHARS, Homophones, normalize, question_part

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
CHAT = st.text(alphabet=st.one_of(CJK, st.sampled_from("，。？！ ,.?!abcXYZ123　，？")),
               max_size=120)


def test_traditional_and_full_width_fold_to_one_form() -> None:
    assert normalize("如實填了會不會被罰？") == normalize("如实填了会不会被罚?")
    assert normalize("ＣＯＤ　排放量") == "cod 排放量"


def test_the_question_is_found_after_the_context() -> None:
    text = ("我是村里的会计，镇上发了通知，领导都下乡去了，厂里也没人管这个事，"
            "我就想问一下，普查的标准时点是哪天？")
    part = question_part(text)
    assert "标准时点" in part and "会计" not in part
    assert len(part) < len(normalize(text))


def test_english_context_is_dropped_too() -> None:
    text = ("Our boss is travelling this month and nobody else here knows about it. "
            "The office keeps calling us. What happens if we do not fill in the census forms?")
    part = question_part(text)
    assert part.startswith("the office keeps calling us") or part.startswith("what happens")
    assert "boss" not in part and "census forms" in part


def test_a_question_asked_first_is_not_lost_to_the_context_after_it() -> None:
    text = ("How do I check the enumerator's ID card? A man is at our gate, the manager is out "
            "and the guard is new here.")
    part = question_part(text)
    assert "enumerator's id card" in part
    assert "guard" not in part


def test_short_questions_and_statements_are_kept_whole() -> None:
    assert question_part("标准时点是什么") == "标准时点是什么"
    statement = "我们厂是做纸箱的，去年产量一万吨，今年停产了，老板出国了，账也找不到了，唉"
    assert question_part(statement) == normalize(statement)


@given(CHAT)
@example("1" * 29 + ",么")  # found by the fuzzer: the clauses were rejoined with a full-width comma
def test_question_part_is_normalised_and_never_longer(text: str) -> None:
    part = question_part(text)
    norm = normalize(text)
    assert part == normalize(part)
    assert len(part) <= len(norm) + norm.count(" ") + 1  # clause separators only
    if len(norm) <= LONG_QUESTION_CHARS:
        assert part == norm


def _fixer() -> Homophones:
    h = Homophones(is_word=lambda w: w in {"天气", "清楚"})
    h.learn(["清查和入户调查有什么区别", "普查员证件", "出示二维码", "污染源普查"])
    h.learn(["今天天气怎么样"], targets=False)
    return h


def test_homophone_typos_are_repaired_against_the_content() -> None:
    fix = _fixer().fix
    assert fix("清察和入护调查") == "清查和入户调查"
    assert fix("普察员证建") == "普查员证件"
    assert fix("我的二维吗") == "我的二维码"
    assert fix("污染圆普查") == "污染源普查"


def test_known_words_and_other_text_are_left_alone() -> None:
    fix = _fixer().fix
    assert fix("今天天气怎么样") == "今天天气怎么样"  # not-covered vocabulary: never a typo
    assert fix("说清楚") == "说清楚"  # a dictionary word
    assert fix("hello 123") == "hello 123"


def test_a_pair_across_two_correct_words_is_not_a_typo() -> None:
    h = Homophones()
    h.learn(["怎么核实普查员身份", "出示身份证"])
    # 实身 is unknown and sounds like 示身, but 核实 is a known pair: nothing is misspelt
    assert h.fix("普查员怎么核实身份") == "普查员怎么核实身份"
    assert h.fix("核实身份") == "核实身份"
    assert h.fix("出实身份证") == "出示身份证"  # a real typo next to it is still repaired


@given(CHAT)
def test_repair_keeps_length_and_is_stable(text: str) -> None:
    fix = _fixer().fix
    once = fix(normalize(text))
    assert len(once) == len(normalize(text))
    assert fix(once) == once


def test_a_pair_across_two_content_words_is_no_repair_target() -> None:
    words = {"普查员证", "不能", "二维码", "清查"}

    def cut(run: str) -> list[str]:
        out, i = [], 0
        while i < len(run):
            w = next((w for w in sorted(words, key=len, reverse=True) if run.startswith(w, i)),
                     run[i])
            out.append(w)
            i += len(w)
        return out

    h = Homophones(is_word=lambda w: w in words, cut=cut)
    h.learn(["普查员证能不能看", "出示二维码", "清查"])
    # 证能 spans 普查员证|能: "真能" in a question is not a typo of it
    assert h.fix("真能不理吗") == "真能不理吗"
    assert h.fix("我的二维吗") == "我的二维码"  # a pair inside one word still repairs
    assert h.fix("清察") == "清查"

