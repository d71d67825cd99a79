"""The FAQ's dictionaries load without stalling the bot's event loop, and load the same data:
jieba's dictionary read by its own parser (not its marshal cache), pypinyin without its phrase
dictionary (only single characters are ever converted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jieba

from faq.text import Segmenter

ROOT = Path(__file__).resolve().parents[2]


def test_segmenter_dictionary_is_jiebas_own() -> None:
    """Same words, frequencies and total as jieba's initialize(); the same segmentation."""
    ours = Segmenter()._tokenizer()
    theirs = jieba.Tokenizer()
    theirs.initialize()
    assert ours.initialized and ours.total == theirs.total
    assert ours.FREQ == theirs.FREQ
    text = "普查员上门入户登记需要出示普查员证和身份证件吗"
    assert ours.lcut(text, HMM=True) == theirs.lcut(text, HMM=True)


_SOUNDS = """
import hashlib, os, sys
sys.path.insert(0, {root!r})
chars = [chr(c) for c in [*range(0x3400, 0x4DC0), *range(0x4E00, 0xA000)]]
if sys.argv[1] == "ours":
    from faq.text import char_sound
    out = [char_sound(c) for c in chars]
    assert os.environ.get("PYPINYIN_NO_PHRASES") == "1"
else:
    from pypinyin import lazy_pinyin  # its phrase dictionary loaded
    from faq.text import _FUZZY
    out = []
    for c in chars:
        s = lazy_pinyin(c)[0]
        for a, b in _FUZZY:
            s = s.replace(a, b)
        out.append("n" + s[1:] if s.startswith("l") else s)
print(hashlib.sha256(",".join(out).encode()).hexdigest())
"""


def test_character_sounds_do_not_need_the_phrase_dictionary() -> None:
    """Every CJK character (basic block and extension A) sounds the same with and without
    pypinyin's phrase dictionary."""
    code = _SOUNDS.format(root=str(ROOT))
    env = {"PATH": "/usr/bin:/bin"}
    digests = [subprocess.run([sys.executable, "-c", code, which], env=env, check=True,
                              capture_output=True, text=True, timeout=120).stdout.strip()
               for which in ("ours", "pypinyin")]
    assert digests[0] == digests[1] and len(digests[0]) == 64
