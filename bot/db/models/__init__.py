"""ORM models; every module of this package is imported so that the metadata is complete."""

from __future__ import annotations

import importlib
import pkgutil

from bot.db.base import Base

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_mod}")

__all__ = ["Base"]
