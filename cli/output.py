"""The output folder of one command, whole or absent, described by its own ``run.json``.

A command builds its folder in a staging folder beside the target (``.NAME.staging-PID-XXXX``) and swaps it in at
the end, in one atomic exchange (Linux ``renameat2(RENAME_EXCHANGE)``). So no file of an earlier run stays, and a
run that fails or is killed at any point leaves the previous folder as it was (a killed run's staging folder is
removed by the next run into the same place). Everything written into the staging folder, by this process or by
its workers, is part of the run and listed in ``run.json``. A folder that is not an earlier run's (no
``run.json``: e.g. ``--output ~/Documents`` by mistake) is never replaced.

``run.json`` (the manifest): the command line, the resolved config, each input file with its first and last date
and SHA-256, the package versions, the start and end time, and every file written with its size in bytes. The same
data and config reproduce every file byte for byte, except the two times in ``run.json``.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from feeds.atomic import atomic_write_text, umask_mode
from feeds.bars import BUNDLED_DIR

MANIFEST = "run.json"
# what an output folder written before run.json existed holds: such a folder may be replaced too
EARLIER_RUN_FILES = {"comparison.csv", "sweep.csv", "walkforward.csv"}
PACKAGES = ("smallcap-rotation", "backtrader", "pandas", "numpy", "matplotlib", "exchange-calendars", "yfinance", "plotly")
# errors that mean the output cannot be written, whichever file they name
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}
_INPUT = re.compile(r"(bundled:|csv:|cache )([^,()+]+?\.csv)")


class OutputError(RuntimeError):
    """The output folder cannot be written: names the folder, the file and the cause."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 with RENAME_EXCHANGE). False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap(staging: Path, target: Path) -> None:
    """Put ``staging`` at ``target``; the previous ``target`` (if any) ends up at ``staging``."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        return
    # no atomic exchange here: two renames, with a short moment where target is absent
    aside = staging.with_name(staging.name + ".old")
    os.rename(target, aside)
    os.rename(staging, target)
    os.rename(aside, staging)


def replaceable(target: Path) -> bool:
    """True when a run may replace ``target`` whole: absent, empty, or an earlier run's folder (its ``run.json``, or
    the tables of a run made before run.json existed). Never the working folder or one of its parents."""
    if not target.exists():
        return True
    try:
        Path.cwd().resolve().relative_to(target.resolve())
        return False  # the working folder itself, or a folder that holds it
    except ValueError:
        pass
    names = {p.name for p in target.iterdir()}
    return not names or MANIFEST in names or bool(names & EARLIER_RUN_FILES)


def foreign_content(target: Path) -> Path | None:
    """The first path inside an earlier run's folder ``target`` that is not that run's own: another run's folder
    (``--output target/sub`` made later) or a file its ``run.json`` does not list. Replacing ``target`` would
    delete it."""
    if not target.is_dir():
        return None
    nested = next((p.parent for p in sorted(target.rglob(MANIFEST)) if p.parent != target), None)
    if nested is not None:
        return nested
    try:
        listed = {f["path"] for f in json.loads((target / MANIFEST).read_text(encoding="utf-8"))["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a run made before run.json listed its files: only other runs' folders are looked for
    return next((p for p in sorted(target.rglob("*")) if p.is_file() and p.name != MANIFEST
                 and p.relative_to(target).as_posix() not in listed), None)


def enclosing_run(target: Path) -> Path | None:
    """The nearest folder above ``target`` that is a run's output folder (holds ``run.json``): a run into it would
    replace ``target`` with it."""
    return next((p for p in target.resolve().parents if (p / MANIFEST).is_file()), None)


def input_files(sources: dict[str, str]) -> list[Path]:
    """The data files named in a FeedSet's ``sources`` (bundled, csv:DIR and yahoo cache files), in order, once."""
    files: list[Path] = []
    for text in sources.values():
        for kind, name in _INPUT.findall(text):
            path = BUNDLED_DIR / name if kind == "bundled:" else Path(name.strip()).expanduser()
            if path not in files:
                files.append(path)
    return files


def describe_input(path: Path) -> dict:
    """A data file's path, first and last date (its first column) and SHA-256."""
    data = path.read_bytes()
    rows = [line.split(",", 1)[0] for line in data.decode("utf-8", "replace").splitlines()[1:] if line.strip()]
    return {"file": str(path), "first": rows[0] if rows else None, "last": rows[-1] if rows else None,
            "sha256": hashlib.sha256(data).hexdigest()}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


class RunFolder:
    """Build one command's output folder beside ``target`` and swap it in with ``commit``.

    Use as a context manager: ``path`` is the staging folder to write into. Leaving the block without ``commit``
    (an error) removes the staging folder and keeps the previous ``target``. OSErrors about the output (its
    folders, a full or read-only disk) come out as one OutputError naming the folder and the cause.
    """

    def __init__(self, target: str | Path, command: list[str], config: dict) -> None:
        self.target = Path(target)
        self.command = list(command)
        self.config = config
        self.path: Path | None = None
        self.started = _now()
        self.files: list[Path] = []

    def __enter__(self) -> "RunFolder":
        target = self.target
        blocker = next((p for p in (target, *target.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            raise OutputError(f"output folder {target}: the file {blocker} is in the way (choose another --output or remove it)")
        if not replaceable(target):
            runs = sorted(p.parent for p in target.glob(f"*/{MANIFEST}")) if target.is_dir() else []
            held = f", among them another run's output folder {runs[0]}" if runs else ""
            raise OutputError(
                f"output folder {target} holds files that are not from an earlier run (it has no {MANIFEST}){held}: a "
                "run replaces its whole folder, so it will not replace this one; choose a new or empty folder"
            )
        foreign = foreign_content(target)
        if foreign is not None:
            what = "another run's output folder" if (foreign / MANIFEST).is_file() else f"a file its {MANIFEST} does not list"
            raise OutputError(f"output folder {target} holds {foreign} ({what}): a run replaces its whole folder, "
                              "so it will not replace this one; choose another --output or move that out first")
        outer = enclosing_run(target)
        if outer is not None:
            raise OutputError(f"output folder {target} is inside {outer}, another run's output folder: a run into "
                              f"{outer} would replace it; choose a folder outside it")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
            self._remove_stale()
            self.path = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.staging-{os.getpid()}-"))
            os.chmod(self.path, umask_mode(0o777))
        except OSError as exc:
            self._unlock()
            raise self._error(exc) from None
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        if self.path is not None and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        self._unlock()
        if isinstance(exc, OSError) and not isinstance(exc, OutputError) and self._about_output(exc):
            raise self._error(exc) from None
        return False

    def _lock(self) -> None:
        """Hold ``.NAME.lock`` beside the target (an exclusive ``flock``) while the run lasts, so a second run into
        the same folder stops at once with an OutputError naming the first one's process, instead of one silently
        replacing the other's files. A killed run's lock file is free again (the system drops its lock) and is
        taken over."""
        path = self.target.parent / f".{self.target.name}.lock"
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, umask_mode(0o666))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise OutputError(f"output folder {self.target} is being written by another run right now (process "
                                  f"{owner}): wait for it to finish or choose another --output") from None
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a lock file its last owner removed while this one waited to open it
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd, self._lock_path = fd, path

    def _unlock(self) -> None:
        fd = getattr(self, "_lock_fd", None)
        if fd is None:
            return
        self._lock_fd = None
        try:
            os.unlink(self._lock_path)
        except OSError:
            pass
        fcntl.flock(fd, fcntl.LOCK_UN)  # also for forked workers that share the open file
        os.close(fd)

    def _remove_stale(self) -> None:
        """Staging folders of runs into the same target whose process is gone (killed runs)."""
        pattern = re.compile(re.escape(f".{self.target.name}.staging-") + r"(\d+)-")
        for path in self.target.parent.glob(f".{self.target.name}.staging-*"):
            match = pattern.match(path.name)
            if match and not _alive(int(match.group(1))):
                shutil.rmtree(path, ignore_errors=True)

    def _about_output(self, exc: OSError) -> bool:
        if exc.errno in _WRITE_ERRNOS:
            return True
        name = exc.filename or ""
        inside = [str(self.target.parent.resolve()), str(self.target.parent)]
        return bool(name) and any(str(name).startswith(p) for p in inside)

    def _error(self, exc: OSError) -> OutputError:
        where = f" ({exc.filename})" if exc.filename else ""
        return OutputError(f"cannot write the output folder {self.target}: {exc.strerror or exc}{where}")

    def commit(self, sources: dict[str, str] | None = None, accepted_bars=()) -> list[Path]:
        """Write ``run.json`` and swap the staging folder in; returns the files written, as paths under ``target``.
        ``accepted_bars``: the flagged bars the run accepted (``FeedSet.accepted_bars``), listed in ``run.json``."""
        assert self.path is not None, "commit() outside the with block"
        try:
            written = sorted(p for p in self.path.rglob("*") if p.is_file() and p.name != MANIFEST)
            manifest = {
                "command": self.command,
                "config": self.config,
                "inputs": [describe_input(p) for p in input_files(sources or {})],
                "accepted bars": list(accepted_bars),
                "packages": package_versions(),
                "started": self.started,
                "finished": _now(),
                "files": [{"path": p.relative_to(self.path).as_posix(), "bytes": p.stat().st_size} for p in written],
            }
            atomic_write_text(self.path / MANIFEST, json.dumps(manifest, indent=2, default=str) + "\n")
            _swap(self.path, self.target)
        except OSError as exc:
            raise self._error(exc) from None
        shutil.rmtree(self.path, ignore_errors=True)  # the previous run's folder, now at the staging path
        self.files = [self.target / p.relative_to(self.path) for p in written] + [self.target / MANIFEST]
        return self.files
