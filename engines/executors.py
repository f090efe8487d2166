"""Where runs execute: in this process, on a local process pool, or on a Dask cluster.

Every executor maps a top-level task ``task(feeds, item) -> small result`` over items. The prepared FeedSet is
shipped to each worker once (pool initializer, or one broadcast scatter on Dask), never per item, and workers
return small results (metrics, not strategies), so memory stays flat as the number of items grows.

Items are submitted in bounded batches (``iter_tasks``: at most ``IN_FLIGHT_PER_WORKER`` per worker not yet
collected), from an iterable that may be lazy, so neither the queue of work nor the results waiting to be
collected grow with the number of items. Stop means stop: on any exception in the calling process (an error,
Ctrl-C's KeyboardInterrupt, SIGTERM turned into ``Stopped`` by the command line) or when the caller stops reading,
the items not started are cancelled and the pool's workers are killed at once (Dask: the submitted tasks are
cancelled). Workers ignore SIGINT (Ctrl-C reaches the whole process group: only the calling process acts on it) and
die with the calling process. A worker that dies (e.g. killed by the out-of-memory killer) stops the run with
``WorkerDied``, a one-line error saying what happened and what to try.
"""
from __future__ import annotations

import collections
import ctypes
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TextIO

from feeds import FeedSet
from strategies.registry import install_user_modules, user_modules

from .errors import DetailedError, message_of, traceback_text

EXECUTORS = ("local", "dask")
IN_FLIGHT_PER_WORKER = 2  # items submitted and not yet collected, per worker: one running, one queued behind it
_WORKER_FEEDS: FeedSet | None = None
_PR_SET_PDEATHSIG = 1


class TaskError(DetailedError, RuntimeError):
    """A task failed in a worker: the message names the item (e.g. the parameter combination); ``details`` is the
    traceback (for --debug)."""


class WorkerDied(TaskError):
    """A worker process ended while running an item (killed by the system, e.g. out of memory, or crashed)."""


class Stopped(KeyboardInterrupt):
    """The command was asked to stop by a signal (SIGTERM, or SIGINT: Ctrl-C); ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Progress:
    """A one-line progress bar on stderr: done/total, rate, time left."""

    def __init__(self, total: int, label: str = "runs", stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total, self.label, self.stream, self.enabled = total, label, stream or sys.stderr, enabled
        self.done, self.started = 0, time.perf_counter()

    def update(self, n: int = 1) -> None:
        self.done += n
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        width = 24
        filled = int(width * self.done / max(self.total, 1))
        end = "\n" if self.done >= self.total else ""
        global _OPEN_BAR
        _OPEN_BAR = None if end else self
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {self.label}, "
            f"{rate:.2f}/s, {left:.0f} s left{end}"
        )
        self.stream.flush()


_OPEN_BAR: Progress | None = None  # a bar whose line is not ended yet


def end_open_bar() -> None:
    """End the line of a progress bar an error stopped, so that the error starts on its own line."""
    global _OPEN_BAR
    if _OPEN_BAR is not None:
        _OPEN_BAR.stream.write("\n")
        _OPEN_BAR.stream.flush()
        _OPEN_BAR = None


class _PerItem:
    """A progress told of each finished item: advances by ``size(item)`` units."""

    def __init__(self, progress, size: Callable[[Any], int]) -> None:
        self.progress, self.size = progress, size

    def update(self, item: Any) -> None:
        self.progress.update(self.size(item))


def die_with_parent(parent: int) -> None:
    """Make this worker process end when ``parent`` (the main process) dies, even by SIGKILL.

    Linux: the kernel sends SIGKILL on the parent's death (``prctl(PR_SET_PDEATHSIG)``). Elsewhere a daemon thread
    checks the parent pid every second. Either way a worker never outlives the run it works for (and never writes
    a plot after it)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        armed = False
    if os.getppid() != parent:  # the parent died before the death signal was set
        os._exit(1)
    if armed:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _init_worker(feeds: FeedSet, parent: int | None = None) -> None:
    global _WORKER_FEEDS
    # Ctrl-C goes to the whole process group: the calling process stops the workers, so they ignore it (no
    # KeyboardInterrupt traceback from each worker); SIGTERM ends a worker at once (no handler copied from the parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if parent is not None:
        die_with_parent(parent)
    _WORKER_FEEDS = feeds


def _call_in_worker(task: Callable, item: Any):
    return _guarded(task, _WORKER_FEEDS, item)


def _guarded(task: Callable, feeds: FeedSet, item: Any):
    try:
        return task(feeds, item)
    except (ValueError, TaskError):  # already a clear message naming what is wrong (e.g. RunError, DataError)
        raise
    except (Exception, SystemExit) as exc:  # anything else: named with the item, the traceback kept as text
        raise TaskError(f"{describe(item)}: {type(exc).__name__}: {message_of(exc)}", traceback_text(exc)) from None


def describe(item: Any) -> str:
    """How an item is named in errors and logs."""
    return getattr(item, "label", None) or repr(item)


def run_tasks(
    task: Callable[[FeedSet, Any], Any],
    items: Sequence[Any],
    feeds: FeedSet,
    *,
    executor: str = "local",
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    caller_works: bool = False,
    size: Callable[[Any], int] | None = None,
) -> list:
    """``[task(feeds, item) for item in items]``, in input order, on the chosen executor.

    ``executor``: "local" (process pool with ``jobs`` processes, default all cores; ``jobs=1`` runs in this
    process) or "dask" (the Dask distributed scheduler at ``scheduler``, e.g. "tcp://127.0.0.1:8786").
    ``caller_works`` (local): this process runs items too, next to ``jobs - 1`` workers (see ``_run_here_too``).
    ``size(item)``: how many units of ``progress`` an item counts for (default 1, e.g. runs in a pass).
    """
    if caller_works and executor == "local":
        _check(executor, jobs)
        jobs = min(jobs or os.cpu_count() or 1, max(len(items), 1))
        if jobs > 1:
            progress_items = _PerItem(progress or Progress(len(items), enabled=False), size or (lambda item: 1))
            return _run_here_too(task, items, feeds, jobs, progress_items)
    results: list = [None] * len(items)
    for position, result in iter_tasks(task, items, feeds, executor=executor, jobs=jobs, scheduler=scheduler,
                                       progress=progress, size=size):
        results[position] = result
    return results


def _check(executor: str, jobs) -> None:
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, not {executor!r}")
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be a whole number >= 1, not {jobs!r}")


def workers_for(executor: str, jobs: int | None) -> int:
    """How many processes work on the items: ``jobs`` (default all cores) locally, ``jobs`` (default 1) on Dask
    (where the cluster decides; used only to size batches)."""
    return (jobs or os.cpu_count() or 1) if executor == "local" else (jobs or 1)


def iter_tasks(
    task: Callable[[FeedSet, Any], Any],
    items: Iterable[Any],
    feeds: FeedSet,
    *,
    executor: str = "local",
    jobs: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    size: Callable[[Any], int] | None = None,
    in_flight: int | None = None,
) -> Iterator[tuple[int, Any]]:
    """``(position, task(feeds, item))`` for every item of ``items`` (a list or a lazy iterable), in the order
    the items finish, with at most ``in_flight`` items (default ``IN_FLIGHT_PER_WORKER`` per worker) submitted and
    not yet collected. ``executor``, ``jobs``, ``scheduler``: as ``run_tasks`` (``jobs=1``: in this process).

    Leaving early (an exception here or in the caller, KeyboardInterrupt, ``Stopped``, or closing the generator)
    cancels what is not started and kills the workers (Dask: cancels the submitted tasks). A dead worker raises
    ``WorkerDied``."""
    _check(executor, jobs)
    progress = _PerItem(progress or Progress(0, enabled=False), size or (lambda item: 1))
    if executor == "dask":
        if not scheduler:
            raise ValueError("executor 'dask' needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
        yield from _iter_dask(task, items, feeds, scheduler, progress, in_flight, jobs)
        return
    jobs = jobs or os.cpu_count() or 1
    if isinstance(items, Sequence):
        jobs = min(jobs, max(len(items), 1))
    if jobs == 1:
        for position, item in enumerate(items):
            result = _guarded(task, feeds, item)
            progress.update(item)
            yield position, result
        return
    yield from _iter_pool(task, items, feeds, jobs, progress, in_flight or IN_FLIGHT_PER_WORKER * jobs)


def _iter_pool(task, items, feeds, jobs: int, progress, in_flight: int) -> Iterator[tuple[int, Any]]:
    context = multiprocessing.get_context("fork")  # workers inherit the registry (incl. --module strategies)
    pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(feeds, os.getpid()))
    workers: dict = {}  # pid -> Process, kept to tell how a dead worker ended
    finished = False
    try:
        source = enumerate(items)
        pending: dict = {}  # future -> (position, item)
        exhausted = False
        while True:
            while not exhausted and len(pending) < in_flight:
                try:
                    position, item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                pending[pool.submit(_call_in_worker, task, item)] = (position, item)
                workers.update(pool._processes or {})
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f][0]):
                position, item = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:  # every item in progress fails with it: name them all
                    running = [item, *(i for _, i in sorted(pending.values(), key=lambda entry: entry[0]))]
                    raise WorkerDied(_death_message(running, workers.values())) from None
                progress.update(item)
                yield position, result
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            stop_pool(pool)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop ``pool`` now: cancel the items not started and kill its workers (they hold nothing to save: the
    calling process owns every output), then wait a moment for them to be gone."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.kill()
        except (OSError, ValueError, AttributeError):
            pass
    deadline = time.monotonic() + 1.0
    for process in processes:
        try:
            process.join(max(0.0, deadline - time.monotonic()))
        except (OSError, ValueError, AssertionError):
            pass


def _death_message(running: Sequence, processes) -> str:
    """What to say when a worker died: the items in progress (one of them was the dead worker's), how the worker
    ended, what to try. The pool stops its other workers with SIGTERM once one died: that is not named when the
    dead one's own ending is known."""
    deadline = time.monotonic() + 1.0
    for process in processes:  # the dead one is reaped here (its exit code is not known before)
        try:
            process.join(max(0.0, deadline - time.monotonic()))
        except (OSError, ValueError, AssertionError):
            pass
    codes = sorted({p.exitcode for p in processes if p.exitcode not in (None, 0)})
    if len(codes) > 1:
        codes = [c for c in codes if c != -signal.SIGTERM]
    how = ", ".join(_ending(code) for code in codes) or "its exit status is unknown"
    shown = "; ".join(describe(i) for i in running[:3]) + ("; ..." if len(running) > 3 else "")
    what = f"running {shown}" if len(running) == 1 else f"one of these was running: {shown}"
    return (f"a worker process died ({how}) while {what}; the system may have stopped it for lack of memory: "
            f"try fewer --jobs, or smaller chunks (--chunk) on the fast engine")


def _ending(code: int) -> str:
    name = _signal_name(-code) if code < 0 else None
    if name is None:
        return f"exit code {code}"
    return f"killed by {name}" + (", as the system's out-of-memory killer does" if -code == signal.SIGKILL else "")


def _signal_name(number: int) -> str | None:
    try:
        return signal.Signals(number).name
    except ValueError:
        return None


def _run_here_too(task, items, feeds, jobs: int, progress) -> list:
    """Run ``items`` in this process and on ``jobs - 1`` forked workers at once, each taking the next item in
    input order when free. For a few heavy items (a comparison) this saves a process start and the shipping back
    of this process's share of the results.

    The workers fork with this process's objects frozen for the garbage collector (``gc.freeze``), so their
    collections do not touch, and thereby copy, the memory pages they share with it. A worker's next item is
    sent from a pool thread of this process while its main thread runs an item, so the interpreter's thread
    switch interval is shortened meanwhile (the worker would otherwise wait up to 5 ms per switch). The first
    error stops new items and is raised once the running ones end.
    """
    results: list = [None] * len(items)
    pending = collections.deque(range(len(items)))
    lock = threading.Lock()
    failures: list[BaseException] = []

    def finished(i: int) -> None:
        with lock:
            progress.update(items[i])

    def take() -> int | None:
        with lock:
            if failures or not pending:
                return None
            return pending.popleft()

    def submit_next(pool) -> None:
        i = take()
        if i is not None:
            pool.submit(_call_in_worker, task, items[i]).add_done_callback(lambda future, i=i: collect(pool, i, future))

    def collect(pool, i: int, future) -> None:
        try:
            results[i] = future.result()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            with lock:
                failures.append(exc)
            return
        finished(i)
        submit_next(pool)

    freeze = gc.get_freeze_count() == 0  # leave a caller's own frozen set alone
    if freeze:
        gc.freeze()
    context = multiprocessing.get_context("fork")  # workers inherit the registry (incl. --module strategies)
    pool = ProcessPoolExecutor(jobs - 1, mp_context=context, initializer=_init_worker, initargs=(feeds, os.getpid()))
    try:
        for _ in range(jobs - 1):
            submit_next(pool)
    finally:
        if freeze:
            gc.unfreeze()
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, 0.0005))
    try:
        while (i := take()) is not None:
            results[i] = _guarded(task, feeds, items[i])
            finished(i)
    except BaseException:
        with lock:
            pending.clear()
        sys.setswitchinterval(switch_interval)
        stop_pool(pool)  # stop now: the item a worker is running is not waited for
        raise
    sys.setswitchinterval(switch_interval)
    pool.shutdown(wait=True, cancel_futures=True)
    if failures:
        if isinstance(failures[0], BrokenProcessPool):
            raise WorkerDied(_death_message(["an item of the comparison"], [])) from None
        raise failures[0]
    return results


def _on_dask_worker(task: Callable, feeds: FeedSet, item: Any, modules: dict):
    """A task on a Dask worker: the user's strategy modules loaded first (a no-op once they are)."""
    install_user_modules(modules)
    return _guarded(task, feeds, item)


def _iter_dask(task, items, feeds, scheduler, progress, in_flight: int | None, jobs: int | None) -> Iterator[tuple[int, Any]]:
    """``iter_tasks`` on a Dask cluster: at most ``in_flight`` tasks submitted and not collected (default
    ``IN_FLIGHT_PER_WORKER`` per worker thread of the cluster, or per ``jobs`` when given)."""
    try:
        from distributed import Client, as_completed as dask_completed
    except ImportError:
        raise ValueError("executor 'dask' needs the dask extra: pip install 'smallcap-rotation[dask]'") from None
    try:
        client = Client(scheduler, timeout="10s")
    except OSError as exc:
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    pending: dict = {}  # future key -> (future, position, item)
    finished = False
    try:
        if in_flight is None:
            threads = jobs or sum(client.nthreads().values()) or 1
            in_flight = IN_FLIGHT_PER_WORKER * threads
        shared = client.scatter(feeds, broadcast=True)
        modules = user_modules()  # --module strategies: their source goes along, the workers load it
        source = enumerate(items)
        running = dask_completed()

        def submit_more() -> None:
            while len(pending) < in_flight:
                try:
                    position, item = next(source)
                except StopIteration:
                    return
                future = client.submit(_on_dask_worker, task, shared, item, modules, pure=False)
                pending[future.key] = (future, position, item)
                running.add(future)

        submit_more()
        for future in running:
            _, position, item = pending.pop(future.key)
            result = future.result()
            progress.update(item)
            submit_more()
            yield position, result
        finished = True
    finally:
        if not finished and pending:
            try:
                client.cancel([f for f, _, _ in pending.values()], force=True)
            except Exception:  # noqa: BLE001 - stopping anyway: the scheduler drops them with the client
                pass
        client.close(timeout=5)
