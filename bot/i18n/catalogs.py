"""Load every `locales/<lang>/LC_MESSAGES/*.po` with Babel and translate by msgid.

Message ids are English (the gettext convention); the zh_CN catalogs translate every one of
them (a test extracts all ids from code and templates and checks). Each feature keeps its own
.po file so that features do not edit one shared catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
DEFAULT_LOCALE = "zh_CN"
LOCALES = ("zh_CN", "en")


def pick_locale(chosen: str | None, telegram_code: str | None) -> str:
    """The user's language: their /lang choice, else English for an English client, else zh_CN."""
    if chosen in LOCALES:
        return str(chosen)
    if telegram_code and telegram_code.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE


@dataclass
class Translator:
    """Translates message ids into one locale."""

    locale: str
    singular: dict[str, str] = field(default_factory=dict)
    plural: dict[str, list[str]] = field(default_factory=dict)

    def gettext(self, message: str) -> str:
        """The translation of `message`, or `message` itself when there is none."""
        return self.singular.get(message) or message

    __call__ = gettext

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The plural-aware translation for count `n`."""
        forms = self.plural.get(singular)
        if forms:
            return forms[0] if len(forms) == 1 else forms[0 if n == 1 else 1]
        return singular if n == 1 else plural


class Catalogs:
    """All translators, loaded once at start-up."""

    def __init__(self, root: Path = LOCALES_DIR) -> None:
        self._translators: dict[str, Translator] = {loc: Translator(loc) for loc in LOCALES}
        for po_path in sorted(root.glob("*/LC_MESSAGES/*.po")):
            locale = po_path.parent.parent.name
            translator = self._translators.setdefault(locale, Translator(locale))
            with po_path.open("rb") as fh:
                catalog = read_po(fh, locale=locale)
            for msg in catalog:
                if not msg.id or msg.fuzzy:
                    continue
                if isinstance(msg.id, tuple | list):
                    forms = [str(s) for s in (msg.string or ()) if s]
                    if forms:
                        translator.plural[str(msg.id[0])] = forms
                elif msg.string:
                    translator.singular[str(msg.id)] = str(msg.string)

    def get(self, locale: str) -> Translator:
        """The translator for `locale` (the default locale's when unknown)."""
        return self._translators.get(locale) or self._translators[DEFAULT_LOCALE]
