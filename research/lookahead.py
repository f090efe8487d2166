"""Look-ahead detector: does a strategy's past depend on its future?

    run_backtest.py lookahead --strategies rotation [--module FILE.py] [--cuts 24]

The strategy runs once on the full data and again on data cut at N dates (month ends and ordinary days spread over
the measured period). A cut run sees every bar through the cut date C and, of the next session S, only its open
(high = low = open; close, raw close and volume unknown, NaN): exactly what a trader knows at S's open. It stops
right after ``next_open`` on S. Every order the strategy placed up to then (on sessions through C, and in
``next_open`` on S, which fill at S's open) must equal the full run's; orders placed on S after its open (in
``next``, e.g. a cheat-on-close fill at S's close) are excluded: the cut run cannot see them. Any difference means
the strategy read data it could not have had, e.g. ``data.close[0]`` in ``next_open`` (S's close, before S has
traded). A cut run that fails on those unknown values is a leak as well.

Orders are recorded where the strategy creates them (``buy``/``sell``, which ``rebalance()``, ``order_target_*``
and ``close()`` all use), as (session, hook, feed, signed shares), so any strategy is checked, not only
``PortfolioStrategy`` subclasses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import backtrader as bt
import numpy as np
import pandas as pd

from engines.engine import RunItem, RunSettings, build_run, execute, merged_params, resolve
from engines.executors import Progress, run_tasks
from feeds import FeedSet

DEFAULT_CUTS = 24


OPEN, CLOSE = 0, 1  # when an order was placed: in next_open (before that session's open fill) or in next (after it)


UNKNOWN_AT_OPEN = ("close", "volume", "raw_close")  # bar fields a trader does not have at the session's open


Order = tuple  # (session: pd.Timestamp, OPEN | CLOSE, feed name, signed shares)


# -- cutting the data ---------------------------------------------------------------------------------------------
def cut_dates(feeds: FeedSet, n: int = DEFAULT_CUTS) -> list[pd.Timestamp]:
    """``n`` measured sessions to cut at, spread over the period: half month ends (the session before a month's
    first session, when monthly strategies decide), half ordinary days (neither a month's first nor last session).
    The last session is never a cut (a cut needs the next session's open)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"--cuts must be a whole number >= 1, not {n!r}")
    sessions = feeds.sessions
    measured = sessions[(sessions >= feeds.start) & (sessions < feeds.end)]
    if len(measured) == 0:
        raise ValueError(f"lookahead: the period {feeds.start.date()}..{feeds.end.date()} has no session to cut at")
    months = sessions.to_period("M")
    position = sessions.get_indexer(measured)
    month_end = months[position] != months[position + 1]
    month_start = months[position] != months[np.maximum(position - 1, 0)]
    month_ends, ordinary = measured[month_end], measured[~month_end & ~month_start]
    want_ends = min(len(month_ends), (n + 1) // 2)
    picked = _spread(month_ends, want_ends) + _spread(ordinary, min(len(ordinary), n - want_ends))
    if len(picked) < n:  # a short period: fill with any other sessions
        picked += _spread(measured.difference(pd.DatetimeIndex(picked)), n - len(picked))
    return sorted(set(picked))


def _spread(dates: pd.DatetimeIndex, k: int) -> list[pd.Timestamp]:
    """``k`` dates evenly spread over ``dates`` (first and last included)."""
    if k <= 0 or len(dates) == 0:
        return []
    return [dates[i] for i in sorted(set(np.linspace(0, len(dates) - 1, k).round().astype(int)))]


def cut_feeds(feeds: FeedSet, cut: pd.Timestamp) -> FeedSet:
    """The feeds as known at the open of the session after ``cut``: every bar through ``cut``, then that session's
    open only (high and low set to the open; close, raw close and volume NaN)."""
    sessions = feeds.sessions
    position = sessions.get_loc(pd.Timestamp(cut))
    if position + 1 >= len(sessions):
        raise ValueError(f"lookahead: no session after the cut {pd.Timestamp(cut).date()}")
    after = sessions[position + 1]
    bars = {}
    for name, frame in feeds.bars.items():
        frame = frame.loc[:after].copy()
        opening = frame.at[after, "open"]
        for column in frame.columns:
            if column in ("high", "low"):
                frame.at[after, column] = opening
            elif column in UNKNOWN_AT_OPEN:
                frame.at[after, column] = math.nan
        bars[name] = frame
    return replace(feeds, bars=bars, end=after)


# -- recording orders ---------------------------------------------------------------------------------------------
def recording(cls: type, stop_after_open: float | None = None) -> type:
    """A subclass of strategy ``cls`` that records every order it creates in ``lookahead_orders`` and, when
    ``stop_after_open`` (a Backtrader date number) is given, stops the run right after ``next_open`` on that session."""

    class Recording(cls):
        def __init__(self, *args, **kwargs) -> None:
            self.lookahead_orders: list[Order] = []
            super().__init__(*args, **kwargs)

        def _record(self, order):
            if order is not None:
                hook = OPEN if len(self) < len(self.datas[0]) else CLOSE  # the clock advances after next_open
                day = pd.Timestamp(self.datas[0].datetime.date(0))
                self.lookahead_orders.append((day, hook, order.data._name, float(order.created.size)))
            return order

        def buy(self, *args, **kwargs):
            return self._record(super().buy(*args, **kwargs))

        def sell(self, *args, **kwargs):
            return self._record(super().sell(*args, **kwargs))

        def _after_open(self) -> None:
            if stop_after_open is not None and self.datas[0].datetime[0] >= stop_after_open:
                self.env.runstop()

        def prenext_open(self) -> None:
            super().prenext_open()
            self._after_open()

        def nextstart_open(self) -> None:
            super().nextstart_open()
            self._after_open()

        def next_open(self) -> None:
            super().next_open()
            self._after_open()

    Recording.__name__, Recording.__qualname__, Recording.__doc__ = cls.__name__, cls.__qualname__, cls.__doc__
    return Recording


@dataclass(frozen=True)
class CutItem:
    """One run of the detector: the full data (``cut`` None) or the data cut at ``cut``."""

    run: RunItem
    cut: str | None = None

    @property
    def label(self) -> str:
        return f"{self.run.label} with the data cut at {self.cut}" if self.cut else self.run.label


def orders_task(feeds: FeedSet, item: CutItem) -> dict:
    """Executor task: the orders of one run, ``{"orders": [...]}``; a cut run that fails gives ``{"error": text,
    "session": last session reached}`` (the full run's errors are raised)."""
    entry = resolve(item.run.name)
    if item.cut is None:
        data, stop = feeds, None
    else:
        data = cut_feeds(feeds, pd.Timestamp(item.cut))
        stop = bt.date2num(data.end.to_pydatetime())
    _, params, cerebro = build_run(entry, data, item.run.settings, item.run.params, analyzers=False,
                                   strategy_cls=recording(entry.cls, stop))
    try:
        strategy = execute(entry, cerebro)
    except Exception as exc:  # noqa: BLE001 - a cut run failing on values it should not read is the finding
        if item.cut is None:
            raise
        strategy = cerebro.runningstrats[0] if getattr(cerebro, "runningstrats", None) else None
        reached = pd.Timestamp(strategy.datas[0].datetime.date(0)) if strategy is not None else None
        return {"error": exc.args[0] if exc.args else repr(exc), "session": reached}
    return {"orders": list(strategy.lookahead_orders)}


# -- comparing ----------------------------------------------------------------------------------------------------
@dataclass
class Finding:
    """The outcome for one strategy: ``leak`` None when every cut agrees with the full run."""

    name: str
    cuts: list[pd.Timestamp]
    compared: int
    leak: str | None = None


def compare_cut(full: list[Order], cut_run: dict, cut: pd.Timestamp, after: pd.Timestamp) -> str | None:
    """The first difference between the full run's orders and a cut run's, as a sentence, or None."""
    if "error" in cut_run:
        where = f" on {cut_run['session'].date()}" if cut_run.get("session") is not None else ""
        return f"the run failed{where} when the data end at {cut.date()}: {cut_run['error']}"
    horizon = (after, OPEN)
    mine = _by_point([o for o in full if (o[0], o[1]) <= horizon])
    theirs = _by_point([o for o in cut_run["orders"] if (o[0], o[1]) <= horizon])
    for point in sorted(set(mine) | set(theirs)):
        a, b = mine.get(point, {}), theirs.get(point, {})
        if a == b:
            continue
        differ = [s for s in dict.fromkeys([*a, *b]) if a.get(s) != b.get(s)]  # in the order they were placed
        day, hook = point
        placed = "" if hook == OPEN else " (placed after that session's close)"
        return (f"orders differ on {day.date()}{placed} when the data end at {cut.date()}: "
                + "; ".join(f"{s} {_shares(a.get(s))} in the full run, {_shares(b.get(s))} in the cut run" for s in differ))
    return None


def _by_point(orders: list[Order]) -> dict:
    points: dict = {}
    for day, hook, symbol, size in orders:
        points.setdefault((day, hook), {}).setdefault(symbol, []).append(size)
    return points


def _shares(sizes: list[float] | None) -> str:
    if not sizes:
        return "0"
    text = " then ".join(f"{s:,.0f}" if float(s).is_integer() else f"{s:,.4f}" for s in sizes)
    return f"{text} shares"


def check(name: str, feeds: FeedSet, settings: RunSettings, params: dict | None = None, **options) -> Finding:
    """Run the detector for one registered strategy; the Finding names the first cut and order that differ."""
    return check_all([(name, params)], feeds, settings, **options)[0]


def check_all(runs, feeds: FeedSet, settings: RunSettings, *, cuts: int = DEFAULT_CUTS, executor: str = "local",
              jobs: int | None = None, scheduler: str | None = None, progress: bool = True) -> list[Finding]:
    """The detector for several (name, params) runs at once: every full and cut run in one batch on the executor."""
    dates = cut_dates(feeds, cuts)
    batches = []
    for name, params in runs:
        entry = resolve(name)
        run = RunItem(entry.name, merged_params(entry, params), settings)
        batches.append([CutItem(run)] + [CutItem(run, str(d.date())) for d in dates])
    items = [item for batch in batches for item in batch]
    bar = Progress(len(items), "runs (full and cut)", enabled=progress)
    results = run_tasks(orders_task, items, feeds, executor=executor, jobs=jobs, scheduler=scheduler, progress=bar)
    per_run = len(dates) + 1
    return [_finding(batch[0].run.name, dates, results[i * per_run:(i + 1) * per_run], feeds.sessions)
            for i, batch in enumerate(batches)]


def _finding(name: str, dates: list[pd.Timestamp], results: list[dict], sessions: pd.DatetimeIndex) -> Finding:
    full = results[0]["orders"]
    compared = 0
    for cut, result in zip(dates, results[1:]):
        after = sessions[sessions.get_loc(cut) + 1]
        leak = compare_cut(full, result, cut, after)
        if leak:
            return Finding(name, dates, compared, leak)
        compared += sum(1 for o in full if (o[0], o[1]) <= (after, OPEN))
    return Finding(name, dates, compared)


