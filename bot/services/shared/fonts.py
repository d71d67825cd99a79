"""Find a CJK font on this machine (Noto Sans CJK) and register it with matplotlib.

Chinese text in charts and documents must render with a real CJK font, never empty boxes.
The Debian package `fonts-noto-cjk` installs /usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc;
`CENSUSBOT_CJK_FONT` may point at another file. Every matplotlib figure that shows Chinese
uses `cjk_font_family()`; without a font, `CjkFontMissing` says what to install.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

FONT_ENV = "CENSUSBOT_CJK_FONT"
PREFERRED_FAMILY = "Noto Sans CJK SC"
SEARCH_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path.home() / ".local/share/fonts",
    Path("/Library/Fonts"),
    Path("/System/Library/Fonts"),
)
PATTERNS = ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "NotoSansSC-Regular.otf",
            "NotoSansCJK*.ttc", "NotoSansCJK*.otf", "NotoSansSC*")


class CjkFontMissing(RuntimeError):
    """No CJK font was found: Chinese text would render as empty boxes."""

    def __init__(self) -> None:
        super().__init__(
            "No CJK font found. Install Noto Sans CJK (Debian/Ubuntu: "
            "`apt-get install -y fonts-noto-cjk`) or set CENSUSBOT_CJK_FONT to a .ttc/.otf file."
        )


def find_cjk_font() -> Path | None:
    """The path of a Noto Sans CJK font file, or None when the machine has none."""
    configured = os.environ.get(FONT_ENV)
    if configured and Path(configured).is_file():
        return Path(configured)
    for pattern in PATTERNS:
        for base in SEARCH_DIRS:
            if not base.is_dir():
                continue
            hits = sorted(base.rglob(pattern))
            if hits:
                return hits[0]
    return None


@lru_cache(maxsize=1)
def cjk_font_path() -> Path:
    """The CJK font file, found once; raises CjkFontMissing when there is none."""
    path = find_cjk_font()
    if path is None:
        raise CjkFontMissing()
    return path


@lru_cache(maxsize=1)
def cjk_font_family() -> str:
    """Register the CJK font with matplotlib (once) and return the family name to use."""
    from matplotlib import font_manager

    path = cjk_font_path()
    font_manager.fontManager.addfont(str(path))
    names = {f.name for f in font_manager.fontManager.ttflist if f.fname == str(path)}
    if PREFERRED_FAMILY in names:
        return PREFERRED_FAMILY
    if not names:
        raise CjkFontMissing()
    return sorted(names)[0]


def has_glyphs(text: str) -> bool:
    """Whether the CJK font has a glyph for every non-space character of `text`."""
    from matplotlib.ft2font import FT2Font

    font = FT2Font(str(cjk_font_path()))
    return all(font.get_char_index(ord(ch)) != 0 for ch in text if not ch.isspace())
