"""Extract message ids from code and templates; check that every one has a zh_CN translation.

`python -m bot.i18n.extract` lists ids missing from the zh_CN catalogs (exit 1 when any), and
`--pot FILE` writes a template for translators.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import write_po

from bot.config import PROJECT_ROOT
from bot.i18n.catalogs import Catalogs

KEYWORDS = {
    "_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "DomainError": None,
    "t": None, "i18n": None,
}
METHOD_MAP = [
    ("bot/**.py", "python"),
    ("handlers/**.py", "python"),
    ("scheduling/**.py", "python"),
    ("templates/**.j2", "jinja2"),
]
OPTIONS = {"templates/**.j2": {"trim_blocks": "true", "lstrip_blocks": "true"}}
SKIP_PARTS = {".venv", "emulator", "demo", "tests", "bench", "migrations"}


def extract(root: Path = PROJECT_ROOT) -> Catalog:
    """Every translatable message id in the project, with where it is used."""
    catalog = Catalog(locale=None)
    for filename, lineno, message, comments, _ctx in extract_from_dir(
        str(root), METHOD_MAP, options_map=OPTIONS, keywords=KEYWORDS,
        callback=None, strip_comment_tags=True,
    ):
        if SKIP_PARTS.intersection(Path(filename).parts):
            continue
        if not message or (isinstance(message, tuple) and not message[0]):
            continue
        catalog.add(message, locations=[(filename, lineno)], auto_comments=comments)
    return catalog


def missing(locale: str = "zh_CN", root: Path = PROJECT_ROOT) -> list[tuple[str, str]]:
    """(message id, first location) of every id with no translation in `locale`."""
    t = Catalogs().get(locale)
    out = []
    for msg in extract(root):
        if not msg.id:
            continue
        key = str(msg.id[0] if isinstance(msg.id, tuple | list) else msg.id)
        plural = isinstance(msg.id, tuple | list)
        known: dict[str, object] = dict(t.plural if plural else t.singular)
        if key not in known:
            where = f"{msg.locations[0][0]}:{msg.locations[0][1]}" if msg.locations else "?"
            out.append((key, where))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: report missing translations or write a .pot."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pot", type=Path, help="write all ids to this .pot file")
    args = parser.parse_args(argv)
    if args.pot:
        with args.pot.open("wb") as fh:
            write_po(fh, extract(), width=100)
        return 0
    gaps = missing()
    for msgid, where in gaps:
        sys.stdout.write(f"{where}: {msgid!r}\n")
    return 1 if gaps else 0


if __name__ == "__main__":
    raise SystemExit(main())
