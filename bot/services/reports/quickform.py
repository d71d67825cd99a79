"""The one-message quick form: `工业 120 锅炉 5`, `industrial=120 boilers=5`, `工业一百二十`.

Pure and synchronous. Field names are the template's keys and aliases (zh and en, any case);
numbers may be Arabic (1,200 or 1，200 with thousands separators, 1.2万, 85%) or Chinese
(一百二十, 两千零五, 一二〇, 三点五). A free-text field takes the rest of the message.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from bot.services.reports.templates import N_, TEXT_MAX, Field, Problem, ReportTemplate, Value

CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
             "七": 7, "八": 8, "九": 9}
CN_UNITS = {"十": 10, "百": 100, "千": 1000}
CN_BIG = {"万": 10_000, "亿": 100_000_000}
CN_CHARS = "".join(CN_DIGITS) + "".join(CN_UNITS) + "".join(CN_BIG) + "点负"
SEPARATORS = " \t\r\n,;、。|/"
ARABIC = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d,]\d)")
ARABIC_LOOSE = re.compile(r"[-+]?\d+(?:\.\d+)?")
CHINESE = re.compile(f"[{CN_CHARS}]+")
WORD = re.compile(r"[^\s\d,;、。|/=:+\-]+")
ASCII_WORD = re.compile(r"[a-z_]")


def normalize(text: str) -> str:
    """Full-width digits and punctuation to ASCII (NFKC), ％ to %."""
    return unicodedata.normalize("NFKC", text)


def _cn_integer(text: str) -> int | None:
    if not text:
        return None
    if all(ch in CN_DIGITS for ch in text):
        if len(text) > 1 and text[0] in "零〇" and len(text) > 15:
            return None
        return int("".join(str(CN_DIGITS[ch]) for ch in text))
    total = section = 0
    num: int | None = None
    last_unit = 10**9
    for ch in text:
        if ch in CN_DIGITS:
            if num is not None and CN_DIGITS[ch] and num:
                return None  # two digits in a row inside a positional number: 一二百
            num = CN_DIGITS[ch]
        elif ch in CN_UNITS:
            unit = CN_UNITS[ch]
            if unit >= last_unit:
                return None  # 百百, 十百
            if num is None:
                if unit != 10 or section:
                    return None
                num = 1  # 十五 = 15
            section += num * unit
            last_unit = unit
            num = None
        elif ch in CN_BIG:
            section += num or 0
            if not section:
                return None
            total += section * CN_BIG[ch]
            section, num, last_unit = 0, None, 10**9
        else:
            return None
    return total + section + (num or 0)


def parse_chinese_number(text: str) -> float | None:
    """一百二十 → 120, 三点五 → 3.5, 负五 → -5; None when it is not a number."""
    sign = 1
    if text.startswith("负"):
        sign, text = -1, text[1:]
    whole, _, frac = text.partition("点")
    value = _cn_integer(whole) if whole else (0 if frac else None)
    if value is None:
        return None
    if frac:
        if not all(ch in CN_DIGITS for ch in frac):
            return None
        return sign * float(f"{value}.{''.join(str(CN_DIGITS[c]) for c in frac)}")
    return float(sign * value)


def parse_number(text: str) -> float | None:
    """A whole cell or reply as a number: 1,200 / 1，200 / 一百二十 / 85% / 1.2万; else None."""
    s = normalize(text).strip()
    if not s:
        return None
    value, end = _number_at(s, 0)
    if value is None or end != len(s):
        return None
    return value


def _number_at(s: str, i: int) -> tuple[float | None, int]:
    """Read a number starting at s[i]; (value, end) or (None, i)."""
    m = ARABIC.match(s, i) or ARABIC_LOOSE.match(s, i)
    if m:
        try:
            value = float(m.group().replace(",", ""))
        except ValueError:
            return None, i
        end = m.end()
        if end < len(s) and s[end] in CN_BIG:
            value *= CN_BIG[s[end]]
            end += 1
        if end < len(s) and s[end] == "%":
            end += 1
        return value, end
    m = CHINESE.match(s, i)
    if m:
        cn_value = parse_chinese_number(m.group())
        if cn_value is None:
            return None, i
        end = m.end()
        if end < len(s) and s[end] == "%":
            end += 1
        return cn_value, end
    return None, i


@dataclass
class QuickResult:
    """Values recognised and problems found; every problem names the field or the word."""

    values: dict[str, Value] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


def _aliases(template: ReportTemplate) -> list[tuple[str, Field]]:
    pairs = [(normalize(a).casefold(), f) for f in template.fields for a in (f.key, *f.aliases)]
    return sorted(pairs, key=lambda p: len(p[0]), reverse=True)


def _match_alias(folded: str, i: int, aliases: list[tuple[str, Field]]) -> tuple[Field, int] | None:
    for alias, f in aliases:
        if folded.startswith(alias, i):
            end = i + len(alias)
            if alias[-1].isascii() and end < len(folded) and ASCII_WORD.match(folded[end]):
                continue  # "ind" must not match the start of "industry"
            return f, end
    return None


def parse_quick(text: str, template: ReportTemplate, locale: str) -> QuickResult:
    """Parse one message of `name value` pairs against a template; never raises."""
    s = normalize(text)
    folded = s.casefold()
    if len(folded) != len(s):  # casefold changed lengths (ß...): fall back to lower()
        folded = s.lower() if len(s.lower()) == len(s) else s
    aliases = _aliases(template)
    result = QuickResult()
    i, n = 0, len(s)
    while i < n:
        if s[i] in SEPARATORS:
            i += 1
            continue
        hit = _match_alias(folded, i, aliases)
        if hit is not None:
            f, i = hit
            label = f.label_for(locale)
            while i < n and s[i] in " \t=:":
                i += 1
            if f.type == "text":
                value_text = s[i:].strip(SEPARATORS + "=:")
                i = n
                if not value_text:
                    result.problems.append(Problem(f.key, N_("%(field)s: no value given."),
                                                   {"field": label}))
                elif len(value_text) > TEXT_MAX:  # refused here: never echoed in a summary
                    result.problems.append(Problem(f.key, N_(
                        "%(field)s: the text is too long (at most %(max)s characters)."),
                        {"field": label, "max": TEXT_MAX}))
                else:
                    _put(result, f, value_text, label)
                continue
            value, end = _number_at(s, i)
            if value is None:
                result.problems.append(Problem(f.key, N_("%(field)s: no value given."),
                                               {"field": label}))
                continue
            i = end
            _put(result, f, value, label)
            continue
        value, end = _number_at(s, i)
        if value is not None and end > i:
            word = s[i:end]
            result.problems.append(Problem(word, N_("The number %(value)s has no field name "
                                           "before it."), {"value": _short(word)}))
            i = end
            continue
        m = WORD.match(s, i)
        end = m.end() if m else i + 1
        word = s[i:end]
        result.problems.append(Problem(word, N_("Unknown field name “%(word)s”. Send /report help "
                                       "for the field names."), {"word": _short(word)}))
        i = end
        while i < n and s[i] in " \t=:":
            i += 1
        _, skip = _number_at(s, i)  # the value of the unknown name is not a second complaint
        i = max(i, skip)
    return result


def _short(word: str, limit: int = 40) -> str:
    """A word as echoed back: long ones cut (the reply must fit in one message)."""
    return word if len(word) <= limit else word[:limit] + "…"


def _put(result: QuickResult, f: Field, value: Value, label: str) -> None:
    if f.key in result.values:
        result.problems.append(Problem(f.key, N_("%(field)s is given twice."), {"field": label}))
        return
    result.values[f.key] = value
