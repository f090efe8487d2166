"""A strategy's error as one line that points at the strategy's own code, with the traceback kept for ``--debug``.

Errors cross processes (the local pool, Dask workers) pickled; the location and the traceback are taken where the
error happens, in the worker, and travel as text (``DetailedError.details``).
"""
from __future__ import annotations

import os
import sys
import traceback


class DetailedError(Exception):
    """An error whose message is one line; ``details`` (text, or None) is the traceback behind it, shown with --debug.
    Pickles with its details (``__reduce__``), so they survive the trip back from a worker process."""

    def __init__(self, message: str = "", details: str | None = None) -> None:
        super().__init__(message)
        self.details = details

    def __reduce__(self):
        return type(self), (self.args[0] if self.args else "", self.details)


def message_of(exc: BaseException) -> str:
    """What an exception says, for a one-line error: its message (``str`` for OSError, "[Errno 13] ...", not 13)."""
    if isinstance(exc, SyntaxError):
        return str(exc.msg)
    if isinstance(exc, OSError):
        return str(exc)
    if isinstance(exc, KeyError) and exc.args and not (isinstance(exc.args[0], str) and " " in exc.args[0]):
        return repr(exc.args[0])  # a missing key, quoted as Python prints it; a sentence stays as it is
    return str(exc.args[0]) if exc.args else repr(exc)


def traceback_text(exc: BaseException) -> str:
    """The full traceback of ``exc`` as Python prints it."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def code_files(cls: type) -> set[str]:
    """The source files of a strategy class: its own module's and those of its bases outside Backtrader, plus every
    user module loaded with --module (a helper the strategy imports from one)."""
    from strategies.registry import user_modules

    files = {file for file, _ in user_modules().values()}
    for klass in getattr(cls, "__mro__", (cls,)):
        if klass.__module__.split(".")[0] in ("backtrader", "builtins", "strategies") and klass is not cls:
            continue
        file = getattr(sys.modules.get(klass.__module__), "__file__", None)
        if file:
            files.add(file)
    return {os.path.realpath(f) for f in files}


def where(exc: BaseException, files: set[str]) -> str | None:
    """``file:line`` of the innermost frame of ``exc``'s traceback in one of ``files`` (a SyntaxError: its own
    location; else the ``location`` (file, line) the error carries), the file relative to the working folder when
    inside it; None when there is none."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{_shown(exc.filename)}:{exc.lineno}"
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) in files:
            found = f"{_shown(frame.filename)}:{frame.lineno}"
    if found is None and getattr(exc, "location", None):  # (file, line) set where the error is raised for code
        file, line = exc.location                         # that has already returned (e.g. a refused weight)
        found = f"{_shown(file)}:{line}"
    return found


def located(exc: BaseException, files: set[str]) -> str:
    """``Type at file:line: message`` (``Type: message`` when no frame is in ``files``)."""
    place = where(exc, files)
    kind = type(exc).__name__
    if isinstance(exc, SystemExit):
        return f"SystemExit{f' at {place}' if place else ''}: it called exit({exc.code!r}); a strategy may not end the run"
    return f"{kind}{f' at {place}' if place else ''}: {message_of(exc)}"


def _shown(path: str) -> str:
    real, here = os.path.realpath(path), os.path.realpath(os.getcwd())
    return os.path.relpath(real, here) if real.startswith(here + os.sep) else path
