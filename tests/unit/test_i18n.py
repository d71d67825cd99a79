"""Every user-facing message has a Chinese translation; templates escape and translate."""

from __future__ import annotations

from bot.i18n import Catalogs, pick_locale
from bot.i18n.extract import extract, missing
from bot.rendering import render


def test_every_message_is_translated_to_chinese() -> None:
    assert len(list(extract())) > 20
    gaps = missing("zh_CN")
    assert gaps == [], "untranslated msgids:\n" + "\n".join(f"{w}: {m}" for m, w in gaps)


def test_locale_choice() -> None:
    assert pick_locale(None, None) == "zh_CN"
    assert pick_locale(None, "zh-hans") == "zh_CN"
    assert pick_locale(None, "en-US") == "en"
    assert pick_locale(None, "ru") == "zh_CN"
    assert pick_locale("en", "zh-hans") == "en"
    assert pick_locale("zh_CN", "en") == "zh_CN"


def test_render_translates_and_escapes() -> None:
    catalogs = Catalogs()
    zh = render("common/start.html.j2", catalogs.get("zh_CN"), name="<i>王</i>", roles=[])
    en = render("common/start.html.j2", catalogs.get("en"), name="Tom & Jerry", roles=[])
    assert zh.startswith("&lt;i&gt;王&lt;/i&gt;，您好！")
    assert en.startswith("Hello, Tom &amp; Jerry!")


def test_no_message_is_translated_two_ways() -> None:
    """Feature catalogues are merged: one msgid must not have two Chinese translations."""
    from babel.messages.pofile import read_po

    from bot.i18n.catalogs import LOCALES_DIR

    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in sorted(LOCALES_DIR.glob("zh_CN/LC_MESSAGES/*.po")):
        with path.open("rb") as fh:
            for msg in read_po(fh, locale="zh_CN"):
                if not msg.id:
                    continue
                key = str(msg.id if isinstance(msg.id, str) else msg.id[0])
                text = str(msg.string)
                if key in seen and seen[key][1] != text:
                    clashes.append(f"{key!r}: {seen[key]} vs ({path.name}, {text!r})")
                seen.setdefault(key, (path.name, text))
    assert clashes == []
