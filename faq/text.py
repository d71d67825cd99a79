"""Text normalisation and tokenisation for FAQ search (Chinese and English)."""

from __future__ import annotations

import logging
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache

import jieba
import opencc

jieba.setLogLevel(logging.WARNING)

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN_RE = re.compile(rf"[{_CJK}]+|[a-z0-9]+(?:[.%][0-9]+)?%?")
_CJK_RE = re.compile(rf"[{_CJK}]")
_WIDE = rf"{_CJK}\u3000-\u303f\uff00-\uffef"
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_WIDE}])\s+|\s+(?=[{_WIDE}])")

# Function words and question particles that carry no topic information.
ZH_STOPWORDS: frozenset[str] = frozenset(
    """的 了 吗 呢 啊 吧 呀 哦 哈 嘛 么 啦 哇 嗯 呗 咧 喔 是 我 我们
    你 你们 您 他 她 它 他们 咱们 这 那 这个 那个 这些 那些 这样 那样
    就 都 也 还 又 在 和 与 及 或 或者 跟 把 被 给 让 对 从 请问
    请 一下 一个 个 一些 有 没 没有 要 会 能 可以 可能 应该 需要 得
    地 着 过 吗么 么样 怎么 怎样 怎么样 如何 什么 哪 哪些 哪个 哪里
    多少 为什么 是不是 是否 有没有 能不能 要不要 会不会 可不可以 怎么办 谁
    时候 请教 想 想问 问 问下 问一下 知道 一直 现在 到底 究竟 其实 那么
    所以 因为 如果 但是 不过 而且 然后 已经 比如 例如 等 等等 之 其
    以及 而 但 则 若 即 上 下 里 中 不 不是 还是 还要 就是 只是 真的
    一样 自己 大家 人家 别人 东西 事 事情 情况 问题 说 讲 叫 看 做 搞
    今天 明天 昨天 后天 刚才 刚刚 马上 最近 这里 那里 这边 那边""".split()
)

EN_STOPWORDS: frozenset[str] = frozenset(
    """a an the and or but if of to in on at by for with from as into about than then so
    is are was were be been being am do does did doing done have has had having will would shall
    should can could may might must i me my we our ours you your yours he him his she her it its
    they them their this that these those there here what which who whom whose when where why how
    not no yes any some all each every just also only very too please hi hello thanks thank
    get got need want know tell us let s t re ve ll d m o y
    really actually honestly basically guys gonna wanna gotta like ok okay hey um uh yeah
    yep nope anyway anyways pls plz thx lol btw im dont cant wont isnt""".split()
)

_converter_lock = threading.Lock()


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    """Return the (cached) traditional-to-simplified converter."""
    with _converter_lock:
        return opencc.OpenCC("t2s")


def has_cjk(text: str) -> bool:
    """Return True when the text contains at least one CJK ideograph."""
    return _CJK_RE.search(text) is not None


def normalize(text: str) -> str:
    """Fold width (NFKC), traditional to simplified, case and whitespace."""
    folded = unicodedata.normalize("NFKC", text)
    if has_cjk(folded):
        # a few characters convert in two steps (薴 -> 苧 -> 苎): fold to a fixed point so
        # that normalising twice gives the same text
        for _ in range(3):
            converted = _t2s().convert(folded)
            if converted == folded:
                break
            folded = converted
    folded = folded.lower()
    return " ".join(folded.split())


def tidy_cjk_spacing(text: str) -> str:
    """Remove whitespace next to CJK characters (left over by YAML line folding)."""
    return _SPACE_NEAR_CJK.sub("", text)


def stem(word: str) -> str:
    """Tiny English suffix stemmer (plural, -ing, -ed, -ly), good enough for matching; a
    final silent e and a doubled final consonant are dropped so that fine/fined/fining and
    stop/stopped meet."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("edly", ""), ("ed", ""),
                         ("ly", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: len(word) - len(suffix)] + repl
            if suffix == "es" and not base.endswith(("s", "x", "z", "ch", "sh")):
                base = word[:-1]
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            return _tail(base)
    return _tail(word)


def _tail(word: str) -> str:
    """Drop a final silent e (not -ee) and one of a doubled final consonant (not l, s, z)."""
    if len(word) >= 4 and word.endswith("e") and not word.endswith("ee"):
        word = word[:-1]
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "aeiouylsz":
        word = word[:-1]
    return word


class Segmenter:
    """Thread-safe, lazily initialised private jieba tokenizer with a domain dictionary."""

    def __init__(self, words: Iterable[str] = ()) -> None:
        """Create a segmenter; `words` are added to its dictionary."""
        self._words = sorted({w for w in words if w and has_cjk(w)})
        self._tok: jieba.Tokenizer | None = None
        self._lock = threading.Lock()
        self.version = 0

    def add_words(self, words: Iterable[str]) -> bool:
        """Add dictionary words; return True (and bump `version`) when any was new."""
        new = sorted({w for w in words if w and has_cjk(w)} - set(self._words))
        if not new:
            return False
        with self._lock:
            self._words = sorted({*self._words, *new})
            if self._tok is not None:
                for word in new:
                    self._tok.add_word(word, freq=2000)
            self.version += 1
        return True

    def _tokenizer(self) -> jieba.Tokenizer:
        """Initialise the jieba tokenizer once and return it."""
        if self._tok is None:
            with self._lock:
                if self._tok is None:
                    tok = jieba.Tokenizer()
                    # jieba's initialize() loads its dictionary cache in one C call that holds
                    # the GIL for about half a second: a stall of the bot's event loop. Read
                    # in Python by jieba's own parser it costs about as much, but the GIL is
                    # handed on every few milliseconds (and no cache is written to /tmp).
                    tok.FREQ, tok.total = tok.gen_pfdict(tok.get_dict_file())
                    tok.initialized = True
                    for word in self._words:
                        tok.add_word(word, freq=2000)
                    self._tok = tok
        return self._tok

    def is_word(self, text: str) -> bool:
        """Whether the dictionary knows `text` as a word."""
        return self._tokenizer().FREQ.get(text, 0) > 0

    def cut(self, text: str) -> list[str]:
        """Segment a CJK string into words."""
        return [w for w in self._tokenizer().lcut(text, HMM=True) if w.strip()]


def char_bigrams(run: str) -> list[str]:
    """Character bigrams of a CJK run (the run itself when shorter than 2)."""
    if len(run) < 2:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def runs(text: str) -> list[str]:
    """Split normalised text into CJK runs and latin/number words."""
    return _RUN_RE.findall(text)


# --- long questions: find the question inside the context ------------------------------------

_CLAUSE_RE = re.compile(
    r"[，。！？；：、,!?;:\n]+|(?<=[^\x00-\x7f])\s+|\s+(?=[^\x00-\x7f])|[.](?:\s+|$)")
_QUESTION_MARK_RE = re.compile(
    r"[?？]|吗|么|呢|怎|什么|啥|咋|如何|哪|多少|几|是否|能否|可否|能不能|要不要|会不会|"
    r"可不可以|是不是|有没有|行不行|算不算|用不用|[^\s]不$|没$|"
    r"\b(?:what|how|why|when|where|which|who|can|could|should|must|do|does|is|are|will|would)\b")
# a clause that certainly asks: a question mark, a Chinese question word, or English word order
# (a question word or an auxiliary first); an auxiliary inside an English clause ("our boss is
# away") only counts when no clause certainly asks
_SURE_QUESTION_RE = re.compile(
    r"[?？]|[吗么呢怎啥咋哪]|什么|如何|多少|是否|能否|可否|能不能|要不要|会不会|可不可以|"
    r"是不是|有没有|行不行|算不算|用不用|[^\s]不$|"
    r"^(?:(?:so|and|but|then|ok|well|also|please|now|i wonder|just wondering)\s+)?"
    r"(?:what|how|why|when|where|which|who|whom|whose|can|could|should|must|do|does|did|is|"
    r"are|am|was|will|would|may|shall|have|has)\b")
QUESTION_CONTEXT_CHARS = 28  # a question part shorter than this takes in the clause before it
LONG_QUESTION_CHARS = 30  # questions at most this long are searched whole
LATIN_CHARS_PER_CJK = 2  # budgets in English letters are this many times the Chinese ones


def clauses(text: str) -> list[str]:
    """Clauses of a normalised text (split at punctuation and at spaces next to CJK)."""
    return [c.strip() for c in _CLAUSE_RE.split(text) if c and c.strip()]


def question_part(text: str) -> str:
    """The question inside a long message: its last questioning clause and just enough of
    the clauses before it (people write the context first and ask at the end).

    Short texts, and texts without any questioning clause, are returned whole."""
    norm = normalize(text)
    # English needs more letters than Chinese needs characters to say the same: the
    # budgets allow LATIN_CHARS_PER_CJK times as many letters
    scale = 1 if has_cjk(norm) else LATIN_CHARS_PER_CJK
    if len(norm) <= LONG_QUESTION_CHARS * scale:
        return norm
    parts = clauses(norm)
    asking = ([n for n, c in enumerate(parts) if _SURE_QUESTION_RE.search(c)]
              or [n for n, c in enumerate(parts) if _QUESTION_MARK_RE.search(c)])
    if not asking:
        return norm
    last = asking[-1]
    start = last
    size = len(parts[last])
    while start > 0 and size < QUESTION_CONTEXT_CHARS * scale:
        start -= 1
        size += len(parts[start])
    # the clauses rejoined as `normalize` writes a comma (full-width folds to ","), so that the
    # question part is itself normalised text
    sep = " " if not has_cjk(norm) else ","
    return sep.join(parts[start : last + 1])


# --- homophone / input-method typos ------------------------------------------------------------

_FUZZY = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("ng", "n"))


@lru_cache(maxsize=65536)
def char_sound(ch: str) -> str:
    """Toneless pinyin of one character with the fuzzy pairs merged (zh=z, ch=c, sh=s, -ng=-n,
    l=n), so characters an input method confuses sound the same; '' for non-CJK."""
    # Single characters only: pypinyin's phrase dictionary (tens of thousands of words, one
    # JSON load that holds the GIL against the event loop) is never consulted; without it every
    # character's sound is the same (checked over all of CJK and extension A).
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
    from pypinyin import lazy_pinyin

    if not _CJK_RE.match(ch):
        return ""
    sound = lazy_pinyin(ch)[0]
    for a, b in _FUZZY:
        sound = sound.replace(a, b)
    return "n" + sound[1:] if sound.startswith("l") else sound


def bigram_sound(pair: str) -> str:
    """Sound key of a two-character string."""
    return char_sound(pair[0]) + "|" + char_sound(pair[1])


class Homophones:
    """Repairs input-method typos against a known vocabulary: a character pair the content never
    uses and that is no dictionary word, but that sounds like exactly one pair the content uses
    (differing in one character), is replaced by that pair."""

    def __init__(self, is_word: Callable[[str], bool] = lambda w: False,
                 cut: Callable[[str], list[str]] | None = None) -> None:
        """Empty vocabulary; `is_word` tells whether a pair is a common word (left alone);
        with `cut` (a segmenter), only pairs inside one word of the content are targets, so
        a pair across two words ("证|能" of 普查员证能) never rewrites a question's 真能."""
        self.known: set[str] = set()
        self.targets: dict[str, set[str]] = {}
        self.is_word = is_word
        self.cut = cut
        self._lock = threading.Lock()

    def learn(self, texts: Iterable[str], *, targets: bool = True) -> None:
        """Add the character pairs of normalised texts to the vocabulary (as targets too)."""
        with self._lock:
            for text in texts:
                for run in runs(text):
                    if not has_cjk(run):
                        continue
                    inside = ({p for w in self.cut(run) if self.is_word(w)
                               for p in char_bigrams(w) if len(p) == 2}
                              if self.cut is not None and targets else None)
                    for pair in char_bigrams(run):
                        if len(pair) < 2 or pair in self.known:
                            continue
                        self.known.add(pair)
                        if targets and (inside is None or pair in inside):
                            self.targets.setdefault(bigram_sound(pair), set()).add(pair)

    def fix(self, text: str) -> str:
        """Text with unknown pairs replaced by the one known pair that sounds the same."""
        if not self.targets:
            return text
        chars = list(text)
        for i in range(len(chars) - 1):
            pair = chars[i] + chars[i + 1]
            if not (_CJK_RE.match(pair[0]) and _CJK_RE.match(pair[1])):
                continue
            if pair in self.known or self.is_word(pair):  # set lookups: safe while learning
                continue
            sound = bigram_sound(pair)
            with self._lock:  # a content reload may be learning in another thread
                options = [t for t in self.targets.get(sound, ())
                           if (t[0] == pair[0]) != (t[1] == pair[1])]
            if len(options) == 1 and not self._confirmed(chars, i, options[0]):
                chars[i], chars[i + 1] = options[0][0], options[0][1]
        return "".join(chars)

    def _confirmed(self, chars: list[str], i: int, option: str) -> bool:
        """Whether the character the repair would change at pair `i` already forms a known pair
        or a word with its other neighbour (核实 in 核实身份: only the pair across the words is
        unknown, so no character is misspelt)."""
        if option[0] != chars[i]:
            other = chars[i - 1] + chars[i] if i > 0 else ""
        else:
            other = chars[i + 1] + chars[i + 2] if i + 2 < len(chars) else ""
        if len(other) < 2 or not (_CJK_RE.match(other[0]) and _CJK_RE.match(other[1])):
            return False
        return other in self.known or self.is_word(other)
