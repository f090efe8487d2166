"""Look-ahead detector: does a strategy's past depend on its future?

    run_backtest.py lookahead --strategies rotation [--module FILE.py] [--cuts 24]

Three kinds of run, compared order by order (session, hook, feed, shares, order type and limit/stop price):
- the full run, on the preloaded data, as every backtest runs;
- one streamed run, on the same data, that hides at every session what is not known yet while the strategy
  decides: in ``next_open`` that session's close, raw close and volume (NaN; high and low = the open) and every
  later bar; in ``next`` every later bar. So every session is a cut for reads of the data and of the broker (e.g.
  ``data.close[0]`` or ``data.low[0]`` in ``next_open``, ``broker.get_value([data])`` there, which Backtrader marks at
  that session's close, ``data.close[1]`` anywhere), at the cost of one run. Its orders must equal the full run's.
  Indicators, which Backtrader computes over the whole data before the first session, lose every value after their
  current one (in ``next_open`` their current value is still the previous session's), so ``sma[1]`` is caught too.
  What it cannot hide: an indicator's value computed from the hidden bars is the full data's;
- runs on data cut at N dates (month ends and ordinary days spread over the measured period). A cut run sees every
  bar through the cut date C and, of the next session S, only its open (high = low = open; close, raw close and
  volume unknown, NaN): exactly what a trader knows at S's open. It stops right after ``next_open`` on S. Every
  order placed up to then (on sessions through C, and in ``next_open`` on S, which fill at S's open) must equal the
  full run's; orders placed on S after its open (in ``next``) are excluded. Indicators see the cut too.
Any difference means the strategy read data it could not have had; a streamed or cut run that fails on the values
it should not read is a leak as well.

Orders are recorded where the strategy creates them (``buy``/``sell``, which ``rebalance()``, ``order_target_*``
and ``close()`` all use), so any strategy is checked, not only ``PortfolioStrategy`` subclasses.
"""
from __future__ import annotations

import array
import math
from dataclasses import dataclass, replace

import backtrader as bt
import numpy as np
import pandas as pd

from engines.engine import RunItem, RunSettings, build_run, execute, merged_params, resolve
from engines.executors import Progress, run_tasks
from feeds import FeedSet

DEFAULT_CUTS = 24
STREAM = "stream"  # CutItem.cut of the streamed run
OPEN, CLOSE = 0, 1  # when an order was placed: in next_open (before that session's open fill) or in next (after it)
UNKNOWN_AT_OPEN = ("close", "volume", "raw_close")  # bar fields a trader does not have at the session's open
# (session: pd.Timestamp, OPEN | CLOSE, feed name, signed shares, order type, price or None, limit price or None);
# prices only for the order types that have one (a market order's price is its fill's)
Order = tuple
PRICED = {bt.Order.Limit: "limit", bt.Order.Stop: "stop", bt.Order.StopLimit: "stop-limit",
          bt.Order.StopTrail: "stop-trail", bt.Order.StopTrailLimit: "stop-trail-limit"}


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
    """``k`` dates evenly spread over ``dates``: the middle of each of ``k`` equal stretches (one cut: the middle)."""
    if k <= 0 or len(dates) == 0:
        return []
    k = min(k, len(dates))
    return [dates[i] for i in sorted(set(((np.arange(k) + 0.5) * len(dates) / k).astype(int)))]


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
class Hider:
    """Hides from a strategy, while one of its hooks runs, the bars it cannot know yet, and puts them back after.

    ``hide(at_open=True)`` (in ``next_open``): the current bar's close, raw close and volume become NaN and its high
    and low the open; every later bar NaN. ``hide(at_open=False)`` (in ``next``): every later bar NaN. The strategy's
    indicators (Backtrader computes them over the whole data before the first session) lose every value after their
    current one too. It writes into the preloaded line buffers in place (numpy views of Backtrader's arrays), so
    nothing else changes."""

    def __init__(self, strategy) -> None:
        self.lines = []  # (line, name, the data's open line or None, original values)
        seen: set[int] = set()

        def add(line, name: str, opening) -> None:
            if isinstance(getattr(line, "array", None), array.array) and id(line.array) not in seen:
                seen.add(id(line.array))
                self.lines.append((line, name, opening, np.array(line.array, dtype=float)))

        for data in strategy.datas:
            for name in data.lines.getlinealiases():
                if name != "datetime":
                    add(getattr(data.lines, name), name, data.lines.open)
        pending = list(strategy._lineiterators[bt.LineIterator.IndType])
        while pending:  # every indicator and line operation, and what they are built from
            indicator = pending.pop()
            if isinstance(indicator, bt.LineBuffer):  # a line operation (e.g. a - b) is a line itself
                add(indicator, "", None)
            else:
                for line in indicator.lines:
                    add(line, "", None)
            pending.extend(getattr(indicator, "_lineiterators", {}).get(bt.LineIterator.IndType, []))
        self.depth = 0

    def hide(self, at_open: bool) -> None:
        self.depth += 1
        if self.depth > 1:  # a hook calling another (nextstart -> next): already hidden
            return
        for line, name, opening, _ in self.lines:
            view, i = np.frombuffer(line.array, dtype=float), line.idx
            view[i + 1:] = math.nan
            if at_open and name in UNKNOWN_AT_OPEN:
                view[i] = math.nan
            elif at_open and name in ("high", "low"):
                view[i] = opening.array[i]

    def restore(self) -> None:
        self.depth -= 1
        if self.depth:
            return
        for line, _, _, original in self.lines:
            view, i = np.frombuffer(line.array, dtype=float), line.idx
            view[i:] = original[i:]


def recording(cls: type, stop_after_open: float | None = None, *, stream: bool = False) -> type:
    """A subclass of strategy ``cls`` that records every order it creates in ``lookahead_orders`` and, when
    ``stop_after_open`` (a Backtrader date number) is given, stops the run right after ``next_open`` on that session.
    ``stream``: every hook runs with what is not known yet hidden (``Hider``)."""

    class Recording(cls):
        def __init__(self, *args, **kwargs) -> None:
            self.lookahead_orders: list[Order] = []
            self._hider = None
            super().__init__(*args, **kwargs)

        def _record(self, order):
            if order is not None:
                hook = OPEN if len(self) < len(self.datas[0]) else CLOSE  # the clock advances after next_open
                day = pd.Timestamp(self.datas[0].datetime.date(0))
                kind = PRICED.get(order.exectype)
                price = None if kind is None or order.price is None else float(order.price)
                limit = None if kind is None or order.pricelimit is None else float(order.pricelimit)
                self.lookahead_orders.append((day, hook, order.data._name, float(order.created.size),
                                              kind or "market", price, limit))
            return order

        def buy(self, *args, **kwargs):
            return self._record(super().buy(*args, **kwargs))

        def sell(self, *args, **kwargs):
            return self._record(super().sell(*args, **kwargs))

        def _hidden(self, hook, at_open: bool) -> None:
            if not stream:
                return hook()
            if self._hider is None:
                self._hider = Hider(self)
            self._hider.hide(at_open)
            try:
                hook()
            finally:
                self._hider.restore()

        def _after_open(self) -> None:
            if stop_after_open is not None and self.datas[0].datetime[0] >= stop_after_open:
                self.env.runstop()

        def prenext_open(self) -> None:
            self._hidden(super().prenext_open, True)
            self._after_open()

        def nextstart_open(self) -> None:
            self._hidden(super().nextstart_open, True)
            self._after_open()

        def next_open(self) -> None:
            self._hidden(super().next_open, True)
            self._after_open()

        def prenext(self) -> None:
            self._hidden(super().prenext, False)

        def nextstart(self) -> None:
            self._hidden(super().nextstart, False)

        def next(self) -> None:
            self._hidden(super().next, False)

    Recording.__name__, Recording.__qualname__, Recording.__doc__ = cls.__name__, cls.__qualname__, cls.__doc__
    return Recording


@dataclass(frozen=True)
class CutItem:
    """One run of the detector: the full data (``cut`` None), streamed (``cut`` STREAM) or cut at the date ``cut``."""

    run: RunItem
    cut: str | None = None

    @property
    def label(self) -> str:
        if self.cut == STREAM:
            return f"{self.run.label} streamed (each session's close and later bars hidden until known)"
        return f"{self.run.label} with the data cut at {self.cut}" if self.cut else self.run.label


def orders_task(feeds: FeedSet, item: CutItem) -> dict:
    """Executor task: the orders of one run, ``{"orders": [...]}``; a cut run that fails gives ``{"error": text,
    "session": last session reached}`` (the full run's errors are raised)."""
    entry = resolve(item.run.name)
    if item.cut in (None, STREAM):
        data, stop = feeds, None
    else:
        data = cut_feeds(feeds, pd.Timestamp(item.cut))
        stop = bt.date2num(data.end.to_pydatetime())
    _, params, cerebro = build_run(entry, data, item.run.settings, item.run.params, analyzers=False,
                                   strategy_cls=recording(entry.cls, stop, stream=item.cut == STREAM))
    try:
        strategy = execute(entry, cerebro)
    except Exception as exc:  # noqa: BLE001 - a cut run failing on values it should not read is the finding
        if item.cut is None:
            raise
        strategy = cerebro.runningstrats[0] if getattr(cerebro, "runningstrats", None) else None
        reached = pd.Timestamp(strategy.datas[0].datetime.date(0)) if strategy is not None else None
        return {"error": str(exc.args[0]) if exc.args else repr(exc), "session": reached}
    return {"orders": list(strategy.lookahead_orders)}


# -- comparing ----------------------------------------------------------------------------------------------------
@dataclass
class Finding:
    """The outcome for one strategy: ``leak`` None when the streamed run and every cut agree with the full run.
    ``streamed``: orders compared with the streamed run; ``compared``: orders compared over the cuts."""

    name: str
    cuts: list[pd.Timestamp]
    compared: int
    leak: str | None = None
    streamed: int = 0


STREAMED = "(each session's close and later bars hidden until known)"


def compare_cut(full: list[Order], cut_run: dict, cut: pd.Timestamp | None, after: pd.Timestamp | None) -> str | None:
    """The first difference between the full run's orders and a cut run's (``cut`` None: the streamed run, every
    order compared), as a sentence, or None."""
    context = f"in the streamed run {STREAMED}" if cut is None else f"when the data end at {cut.date()}"
    other = "the streamed run" if cut is None else "the cut run"
    if "error" in cut_run:
        where = f" on {cut_run['session'].date()}" if cut_run.get("session") is not None else ""
        if cut is None:
            return f"the streamed run {STREAMED} failed{where}: {cut_run['error']}"
        return f"the run failed{where} {context}: {cut_run['error']}"
    horizon = (pd.Timestamp.max, CLOSE) if after is None else (after, OPEN)
    mine = _by_point([o for o in full if (o[0], o[1]) <= horizon])
    theirs = _by_point([o for o in cut_run["orders"] if (o[0], o[1]) <= horizon])
    for point in sorted(set(mine) | set(theirs)):
        a, b = mine.get(point, {}), theirs.get(point, {})
        if a == b:
            continue
        differ = [s for s in dict.fromkeys([*a, *b]) if a.get(s) != b.get(s)]  # in the order they were placed
        day, hook = point
        placed = "" if hook == OPEN else " (placed after that session's close)"
        return (f"orders differ on {day.date()}{placed} {context}: "
                + "; ".join(f"{s} {_shares(a.get(s))} in the full run, {_shares(b.get(s))} in {other}" for s in differ))
    return None


def _by_point(orders: list[Order]) -> dict:
    """{(session, hook): {feed: [(shares, type, price, limit), ...]}} (NaN prices made comparable)."""
    points: dict = {}
    for day, hook, symbol, size, *rest in orders:
        kind, price, limit = (rest + ["market", None, None])[:3] if rest else ("market", None, None)
        price = "NaN" if price is not None and math.isnan(price) else price
        limit = "NaN" if limit is not None and math.isnan(limit) else limit
        points.setdefault((day, hook), {}).setdefault(symbol, []).append((size, kind, price, limit))
    return points


def _shares(orders: list[tuple] | None) -> str:
    """"812 shares", "-40 shares limit at 101.2500", several joined by "then"; "0" for none."""
    if not orders:
        return "0"
    parts = []
    for size, kind, price, limit in orders:
        text = (f"{size:,.0f}" if float(size).is_integer() else f"{size:,.4f}") + " shares"
        if kind != "market":
            text += f" {kind} at {_price(price)}" + (f" (limit {_price(limit)})" if limit is not None else "")
        parts.append(text)
    return " then ".join(parts)


def _price(value) -> str:
    return "NaN" if value in (None, "NaN") else f"{value:,.4f}"


def check(name: str, feeds: FeedSet, settings: RunSettings, params: dict | None = None, **options) -> Finding:
    """Run the detector for one registered strategy; the Finding names the first run and order that differ."""
    return check_all([(name, params)], feeds, settings, **options)[0]


def check_all(runs, feeds: FeedSet, settings: RunSettings, *, cuts: int = DEFAULT_CUTS, executor: str = "local",
              jobs: int | None = None, scheduler: str | None = None, progress: bool = True) -> list[Finding]:
    """The detector for several (name, params) runs at once: every full, streamed and cut run in one batch."""
    dates = cut_dates(feeds, cuts)
    batches = []
    for name, params in runs:
        entry = resolve(name)
        run = RunItem(entry.name, merged_params(entry, params), settings)
        batches.append([CutItem(run), CutItem(run, STREAM)] + [CutItem(run, str(d.date())) for d in dates])
    items = [item for batch in batches for item in batch]
    bar = Progress(len(items), "runs (full, streamed and cut)", enabled=progress)
    results = run_tasks(orders_task, items, feeds, executor=executor, jobs=jobs, scheduler=scheduler, progress=bar)
    per_run = len(dates) + 2
    return [_finding(batch[0].run.name, dates, results[i * per_run:(i + 1) * per_run], feeds.sessions)
            for i, batch in enumerate(batches)]


def _finding(name: str, dates: list[pd.Timestamp], results: list[dict], sessions: pd.DatetimeIndex) -> Finding:
    full = results[0]["orders"]
    leak = compare_cut(full, results[1], None, None)
    if leak:
        return Finding(name, dates, 0, leak)
    compared = 0
    for cut, result in zip(dates, results[2:]):
        after = sessions[sessions.get_loc(cut) + 1]
        leak = compare_cut(full, result, cut, after)
        if leak:
            return Finding(name, dates, compared, leak, len(full))
        compared += sum(1 for o in full if (o[0], o[1]) <= (after, OPEN))
    return Finding(name, dates, compared, streamed=len(full))
