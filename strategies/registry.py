"""The strategy registry: every run the runner knows, by name.

Register a class where it is defined; the runner finds it without being edited::

    from strategies.registry import register

    @register("my-idea", description="Hold IWM in odd months")
    class MyIdea(PortfolioStrategy): ...

    register("my-idea-slow", MyIdea, params={"lookback": 126})   # a variant with other defaults
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import backtrader as bt


@dataclass(frozen=True)
class Entry:
    """A registered run: a Strategy class with preset params. ``benchmark`` marks reference portfolios."""

    name: str
    cls: type
    params: dict = field(default_factory=dict)
    description: str = ""
    benchmark: bool = False


_REGISTRY: dict[str, Entry] = {}


def register(name: str, cls: type | None = None, *, params: dict | None = None, description: str = "", benchmark: bool = False):
    """Register ``cls`` under ``name`` (usable as a decorator when ``cls`` is omitted). Returns the class."""

    def add(strategy_cls: type) -> type:
        if not (isinstance(strategy_cls, type) and issubclass(strategy_cls, bt.Strategy)):
            raise TypeError(f"register({name!r}): {strategy_cls!r} is not a backtrader Strategy class")
        if not name or not isinstance(name, str) or any(c.isspace() for c in name) or "." in name or "=" in name:
            raise ValueError(f"register: name {name!r} must be a non-empty string without spaces, '.' or '='")
        known = {p for p in strategy_cls.params._getkeys()}
        unknown = sorted(set(params or {}) - known)
        if unknown:
            raise ValueError(f"register({name!r}): unknown parameter(s) {', '.join(unknown)} for {strategy_cls.__name__}")
        existing = _REGISTRY.get(name)
        if existing and existing.cls.__qualname__ != strategy_cls.__qualname__:
            raise ValueError(f"register: name {name!r} is already used by {existing.cls.__name__}")
        doc = (strategy_cls.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = Entry(name, strategy_cls, dict(params or {}), description or (doc[0] if doc else ""), benchmark)
        return strategy_cls

    return add(cls) if cls is not None else add


def discover() -> None:
    """Import every module of the ``strategies`` package so their ``register`` calls run."""
    package = importlib.import_module("strategies")
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"strategies.{info.name}")


def load_user_module(spec: str) -> None:
    """Import a user's module (a dotted name or a path to a .py file) so its ``register`` calls run."""
    path = Path(spec)
    if spec.endswith(".py"):
        if not path.is_file():
            raise FileNotFoundError(f"strategy module {spec}: no such file")
        module_name = f"user_strategies_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
    else:
        importlib.import_module(spec)


def registered() -> dict[str, Entry]:
    """All registered runs by name (after discovering the package's own modules)."""
    discover()
    return dict(_REGISTRY)


def get(name: str) -> Entry:
    """The entry called ``name``, or KeyError listing the known names."""
    entries = registered()
    if name not in entries:
        raise KeyError(f"unknown strategy {name!r}; registered: {', '.join(sorted(entries))}")
    return entries[name]
