"""The strategy registry: every run the runner knows, by name.

Register a class where it is defined; the runner finds it without being edited::

    from strategies.registry import register

    @register("my-idea", description="Hold IWM in odd months")
    class MyIdea(PortfolioStrategy): ...

    register("my-idea-slow", MyIdea, params={"lookback": 126})   # a variant with other defaults
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import threading
import types
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
_USER_MODULES: dict[str, tuple[str, str]] = {}  # module name -> (file, source) of modules loaded with --module
_INSTALL_LOCK = threading.Lock()
USER_PREFIX = "user_strategies_"  # module name of a strategy file loaded by path: user_strategies_<file stem>


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
        if existing and _origin(existing.cls) != _origin(strategy_cls):  # the same class loaded again replaces itself
            raise ValueError(
                f"register({name!r}): {_describe(strategy_cls)} cannot take the name {name!r}: it is already used by "
                f"{_describe(existing.cls)}; register it under another name"
            )
        doc = (strategy_cls.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = Entry(name, strategy_cls, dict(params or {}), description or (doc[0] if doc else ""), benchmark)
        return strategy_cls

    return add(cls) if cls is not None else add


def _origin(cls: type) -> tuple[str, str]:
    return cls.__module__, cls.__qualname__


def _describe(cls: type) -> str:
    """``Name (module)``, or ``Name (path/to/file.py)`` for a class loaded from a user's file."""
    module = sys.modules.get(cls.__module__)
    file = _USER_MODULES.get(cls.__module__, (getattr(module, "__file__", None),))[0]
    where = file if cls.__module__.startswith(USER_PREFIX) and file else cls.__module__
    return f"{cls.__qualname__} ({where})"


# The package's strategy modules in the order their runs are listed (the comparison's row order): the
# published rotation first, then the ratio strategies, then the benchmarks; any other module after them.
BUILTIN_ORDER = ("rotation", "ratio", "benchmarks")


def discover() -> None:
    """Import every module of the ``strategies`` package so their ``register`` calls run (``BUILTIN_ORDER`` first)."""
    package = importlib.import_module("strategies")
    names = [info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")]
    for name in sorted(names, key=lambda n: (BUILTIN_ORDER.index(n) if n in BUILTIN_ORDER else len(BUILTIN_ORDER), n)):
        importlib.import_module(f"strategies.{name}")


def load_user_module(spec: str) -> None:
    """Import a user's module (a dotted name or a path to a .py file) so its ``register`` calls run.

    Its source is kept (``user_modules()``) so that other processes, e.g. Dask workers, can load the same code.
    The package's own strategies are registered first, so a user's class never takes their names."""
    discover()
    if spec.endswith(".py"):
        path = Path(spec)
        if not path.is_file():
            raise FileNotFoundError(f"strategy module {spec}: no such file")
        install_module(f"{USER_PREFIX}{path.stem}", str(path.resolve()), path.read_text())
        return
    module = importlib.import_module(spec)
    file = getattr(module, "__file__", None)
    if file and file.endswith(".py"):
        _USER_MODULES[spec] = (file, Path(file).read_text())


def install_module(name: str, file: str, source: str) -> None:
    """Run ``source`` as module ``name`` (replacing an older version of it), so its strategies register."""
    module = types.ModuleType(name)
    module.__file__ = file
    previous = sys.modules.get(name)
    sys.modules[name] = module
    try:
        exec(compile(source, file, "exec"), module.__dict__)
    except BaseException:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
        raise
    _USER_MODULES[name] = (file, source)


def user_modules() -> dict[str, tuple[str, str]]:
    """The user modules loaded in this process: module name -> (file, source)."""
    return dict(_USER_MODULES)


def install_user_modules(modules: dict[str, tuple[str, str]]) -> None:
    """Load ``user_modules()`` of another process here (e.g. on a Dask worker); modules already loaded with the
    same source are left alone."""
    with _INSTALL_LOCK:  # a worker may run several tasks in threads
        for name, (file, source) in modules.items():
            if _USER_MODULES.get(name) != (file, source):
                install_module(name, file, source)


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
