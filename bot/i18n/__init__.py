"""Translations: gettext catalogs (.po) per feature, merged per locale; zh_CN first."""

from bot.i18n.catalogs import DEFAULT_LOCALE, LOCALES, Catalogs, Translator, pick_locale

__all__ = ["DEFAULT_LOCALE", "LOCALES", "Catalogs", "Translator", "pick_locale"]
