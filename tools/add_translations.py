"""Add zh_CN translations to a feature .po file: `add_translations.py FILE.po PAIRS.json`.

PAIRS.json maps English message ids to Chinese. A developer tool, not shipped.
"""
import json
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

path = Path(sys.argv[1])
pairs = json.loads(Path(sys.argv[2]).read_text(encoding='utf-8'))
if path.exists():
    cat = read_po(path.open('rb'), locale='zh_CN')
else:
    path.parent.mkdir(parents=True, exist_ok=True)
    cat = Catalog(locale='zh_CN', project='censusbot')
for k, v in pairs.items():
    cat.add(k, v)
with path.open('wb') as fh:
    write_po(fh, cat, width=100, omit_header=False)
