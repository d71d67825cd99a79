"""aiogram routers, one module per audience or capability.

Each module exposes `create_router()` (a fresh Router each call, so that every dispatcher,
e.g. one per test or per restart, gets its own) and may set `ORDER` (lower first; the
free-text FAQ catch-all comes last) and `COMMANDS` (what /help lists, with the roles that
may use each).
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from types import ModuleType

from aiogram import Router

from handlers.commands import CommandInfo


@functools.cache
def _modules() -> tuple[ModuleType, ...]:
    mods = []
    for info in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(mod, "create_router", None)):
            mods.append(mod)
    return tuple(sorted(mods, key=lambda m: (getattr(m, "ORDER", 50), m.__name__)))


def routers() -> list[Router]:
    """A fresh router of every handler module, in order."""
    built: list[Router] = [m.create_router() for m in _modules()]
    return built


def command_catalogue() -> list[CommandInfo]:
    """Every command any module declares, in module order."""
    return [c for m in _modules() for c in getattr(m, "COMMANDS", ())]
