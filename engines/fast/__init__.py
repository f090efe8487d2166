"""The fast engine: the built-in strategies for many parameter combinations at once, over numpy arrays.

It covers ``rotation`` (every parameter and overlay) and the ratio strategies (fixed levels and z-score, rotation
and pair), follows the Backtrader engine's accounting (see ``book``) and computes the figures with the analyzers'
own functions (``analyzers.stats``), so a sweep on it reports the same table as one on Backtrader.
``tests/test_fast_engine.py`` runs random combinations on both engines and checks they agree.

    rows = run_fast("rotation", [{"lookback": 63}, {"lookback": 126}], feeds, settings)
"""
from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyzers import stats
from analyzers.performance import ANNUALISED
from feeds import FeedSet
from strategies.ratio import RatioMeanReversion, RollingRatioMeanReversion
from strategies.rotation import RelativeStrengthRotation
from strategies.weights import TargetWeights

from ..engine import (COMPARISON_COLUMNS, RunError, RunSettings, check_params, merged_params, resolve, riskfree_rate,
                      strategy_error)
from ..grid import Chunk, Grid, GridSlice, best_first
from . import ratio, rotation, weights
from .book import SLEEVE, TRADED, Book, Market

ENGINES = ("backtrader", "fast")
KINDS = {RelativeStrengthRotation: "rotation", RatioMeanReversion: "levels", RollingRatioMeanReversion: "zscore"}
CHUNK = 5_000  # combinations per array pass at most: ~3,800 sessions x 5,000 runs x 8 bytes = 151 MB of values
FIGURE_BLOCK = 512  # runs per pass of the figures (~15 MB per temporary over 2010-2024)


_HEAP_TUNED = False


def reuse_freed_memory() -> None:
    """Ask glibc (once per process) to serve the per-chunk arrays from its heap and keep what is freed, so the
    next chunk's curves reuse pages already mapped: on a loaded machine fresh pages cost a third of the CPU time
    (page faults). Elsewhere (no glibc) nothing changes."""
    global _HEAP_TUNED
    if _HEAP_TUNED:
        return
    _HEAP_TUNED = True
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD: arrays up to 1 GiB from the heap
        libc.mallopt(-1, (1 << 31) - 1)  # M_TRIM_THRESHOLD: do not give freed heap back
    except (OSError, AttributeError):
        pass


def kind_of(cls: type) -> str | None:
    """How the fast engine runs a strategy class: a built-in's own array form (its class exactly), "weights" for any
    ``TargetWeights`` strategy (its rule called per decision), None when it cannot."""
    if cls in KINDS:
        return KINDS[cls]
    return "weights" if isinstance(cls, type) and issubclass(cls, TargetWeights) else None


def supports(name: str) -> bool:
    """True when the fast engine runs the registered strategy ``name``."""
    return kind_of(resolve(name).cls) is not None


def check_supported(name: str) -> None:
    """RunError naming the strategies the fast engine covers when ``name`` is not one of them."""
    if not supports(name):
        from strategies.registry import registered

        covered = [n for n in registered() if supports(n)]
        raise RunError(f"the fast engine does not implement strategy {name!r}; it covers {', '.join(covered)} "
                       f"and any strategies.TargetWeights strategy (use --engine backtrader for others)")


def full_params(name: str, combos: list[dict], *, validate: bool = True) -> list[dict]:
    """Every combination with the strategy's defaults and preset filled in, validated like the strategy does
    (``engine.check_params``; ``validate=False`` when the caller has checked the grid already)."""
    entry = resolve(name)
    defaults = dict(entry.cls.params._getitems())
    if not validate:
        return [{**defaults, **merged_params(entry, combo)} for combo in combos]
    return [{**defaults, **check_params(entry, combo)} for combo in combos]


@dataclass
class FastRun:
    """Outputs of one array pass: ``metrics`` per combination (the comparison columns) and, with ``record``, the
    equity curves (DataFrame, one column per combination), fills, rebalance logs and decisions."""

    metrics: list[dict] | None
    equity: pd.DataFrame | None = None
    fills: list[pd.DataFrame] | None = None
    log: list[list] | None = None
    decisions: list[list] | None = None
    columns: dict[str, np.ndarray] | None = None
    extras: dict[str, np.ndarray] | None = None  # per-run arrays (first axis: the run) sent along with a sweep's chunk


def market_riskfree(market: Market, settings: RunSettings) -> np.ndarray:
    """The risk-free return of each measured session (``engine.riskfree_returns`` from the market's arrays): the cash
    sleeve's close-to-close return, the first from the close before the first measured session (0 without one), or
    zeros for ``settings.riskfree`` "zero"."""
    first = market.first
    if riskfree_rate(settings) == 0.0:
        return np.zeros(market.sessions - first)
    closes = market.close[max(first - 1, 0):, SLEEVE]
    return stats.close_returns(closes if first > 0 else np.r_[np.nan, closes])


def simulate(name: str, combos: list[dict], feeds: FeedSet | Market, settings: RunSettings, *, record: bool = False,
             rows: bool = True, blocks: int = 0, curves: bool = False, best: tuple[str, int] | None = None) -> FastRun:
    """Run ``combos`` (already full, see ``full_params``) of strategy ``name`` in one array pass. ``columns``: the
    comparison columns as arrays (``figure_table``); ``metrics`` the same as one dict per run (None when ``rows`` is
    False). Sharpe and Sortino are in excess of ``market_riskfree``. ``blocks`` > 0 adds ``extras`` "block sums" and
    "block squares" (runs x blocks): ``stats.block_moments`` of each run's excess returns. ``best`` = (column, n)
    adds "best rows" (positions in ``combos``, best first by ``grid.best_first``) and "best excess returns" (n x
    sessions: ``excess_returns``) of the ``n`` best runs by that column (with ``blocks``, of distinct runs only: the
    first of runs with the same block moments). ``curves`` keeps the equity curves without
    recording fills and decisions (``record`` keeps all)."""
    entry = resolve(name)
    kind = kind_of(entry.cls)
    reuse_freed_memory()
    market = feeds if isinstance(feeds, Market) else Market.from_feeds(feeds)
    if kind == "rotation":
        out = rotation.simulate(market, combos, settings, record=record)
    elif kind == "weights":
        try:
            out = weights.simulate(market, combos, settings, entry.cls, record=record)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - the rule's error, named with its line as on Backtrader
            raise strategy_error(entry, exc) from None
    else:
        out = ratio.simulate(market, combos, settings, kind, record=record)
    first = market.first
    start_date = market.dates[first - 1] if first > 0 else market.dates[first] - pd.Timedelta(days=1)
    index = pd.DatetimeIndex([start_date, *market.dates[first:]])
    # one column per run; pandas keeps the (runs x sessions) C-ordered block as it is, so the column-wise
    # arithmetic of analyzers.stats runs on contiguous memory without a transposing copy
    equity = pd.DataFrame(out["values"].T, index=index, copy=False)
    moments = [] if blocks else None
    columns = figure_table(equity, out["book"], out["invested"], out["switches"], out["scheduled"],
                           market_riskfree(market, settings), blocks=blocks, moments=moments)
    extras = {"block sums": np.concatenate([m[1] for m in moments], axis=1).T,
              "block squares": np.concatenate([m[2] for m in moments], axis=1).T} if moments else None
    if best:
        column, count = best
        order = best_first(columns[column])
        if extras:  # one run of each distinct return series (the first): identical runs would fill the slots
            order = order[np.isin(order, stats.first_of_each(extras["block sums"], extras["block squares"]))]
        chosen = order[:max(count, 0)]
        extras = {**(extras or {}), "best rows": chosen,
                  "best excess returns": np.ascontiguousarray(excess_returns(equity.iloc[:, chosen], market, settings).T)}
    metrics = table_rows(columns) if rows or record else None
    if not record:
        return FastRun(metrics, equity if curves else None, columns=columns, extras=extras)
    return FastRun(metrics, equity, fills_frames(out["book"], market, len(combos)), out["log"], out["decisions"], columns,
                   extras)


def excess_returns(equity: pd.DataFrame, market: Market, settings: RunSettings) -> np.ndarray:
    """(sessions x runs) daily returns of equity curves (one column per run, as ``simulate`` makes them) in excess of
    ``market_riskfree``: what Sharpe and the block moments read."""
    return stats.excess_returns(stats.daily_returns(equity), market_riskfree(market, settings))


def figures(equity: pd.DataFrame, book: Book, invested: np.ndarray, switches: np.ndarray, scheduled: np.ndarray,
            riskfree: stats.Riskfree = 0.0) -> list[dict]:
    """The comparison columns for every run as one dict per run (``figure_table``)."""
    return table_rows(figure_table(equity, book, invested, switches, scheduled, riskfree))


def table_rows(table: dict[str, np.ndarray]) -> list[dict]:
    """``figure_table``'s columns as one dict per run (Python numbers: ``Rebalances`` int, the rest float)."""
    keys = list(table)
    columns = [np.asarray(table[k]) for k in keys]
    n = len(columns[0]) if columns else 0
    return [{k: (int(col[i]) if k == "Rebalances" else float(col[i])) for k, col in zip(keys, columns)} for i in range(n)]


def figure_table(equity: pd.DataFrame, book: Book, invested: np.ndarray, switches: np.ndarray,
                 scheduled: np.ndarray, riskfree: stats.Riskfree = 0.0, *, blocks: int = 0,
                 moments: list | None = None) -> dict[str, np.ndarray]:
    """The comparison columns (``COMPARISON_COLUMNS``, in order) for every run, one array each, from
    ``analyzers.stats`` on the equity curves (one column per run), ``FIGURE_BLOCK`` runs at a time
    (``figure_columns``). NaN where a figure has no value. Sharpe and Sortino in excess of ``riskfree``; with
    ``blocks``, each pass's ``stats.block_moments`` of the excess returns is appended to ``moments``."""
    n = equity.shape[1]
    if not n:
        return {k: np.empty(0, dtype=np.int64 if k == "Rebalances" else float) for k in COMPARISON_COLUMNS}
    years = stats.annual_years(equity.index[0], equity.index[-1])
    parts = [figure_columns(equity.iloc[:, lo:lo + FIGURE_BLOCK], years, riskfree, blocks=blocks, moments=moments)
             for lo in range(0, n, FIGURE_BLOCK)]
    table = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
    sessions = len(equity) - 1
    table.update({
        "Switches per year": switches / years if years else np.full(n, np.nan),
        "Rebalances": scheduled,
        "Exposure [%]": 100.0 * invested / sessions,
        "Turnover [x/yr]": book.traded / 2.0 / table["mean value"] / years if years else np.full(n, np.nan),
    })
    if not years:  # shorter than a year: no annualised figure, as in analyzers.performance
        for key in ANNUALISED:
            table[key] = np.full(n, np.nan)
    return {k: np.asarray(table[k], dtype=np.int64 if k == "Rebalances" else float) for k in COMPARISON_COLUMNS}


def figure_columns(equity: pd.DataFrame, years: float, riskfree: stats.Riskfree = 0.0, *, blocks: int = 0,
                   moments: list | None = None) -> dict[str, np.ndarray]:
    """The figures read from the equity curves of some runs (one column each), and each run's mean value. Column by
    column as in one pass over all runs (every statistic is a per-column reduction), with temporaries the size of
    this block: small enough to stay in cache and be reused from one block to the next (fresh memory is slow)."""
    returns = stats.daily_returns(equity)
    cagr = stats.cagr(equity)
    max_dd, _ = stats.max_drawdown(equity)
    months = stats.monthly_returns(equity)
    excess = pd.DataFrame(stats.excess_returns(returns, riskfree), copy=False)  # once for Sharpe, Sortino, moments
    if blocks:
        moments.append(stats.block_moments(excess.to_numpy(), blocks))
    return {
        "CAGR [%]": cagr,
        "Volatility [%]": stats.volatility(returns),
        "Sharpe": stats.sharpe(excess),
        "Sortino": stats.sortino(excess),
        "Max drawdown [%]": max_dd,
        "Calmar": stats.calmar(cagr, max_dd),
        "Monthly win rate [%]": 100.0 * (months > 0).sum().to_numpy() / len(months),
        "Final value [$]": equity.iloc[-1].to_numpy(),
        "mean value": equity.to_numpy()[1:].mean(axis=0),
    }


def fills_frames(book: Book, market: Market, n: int) -> list[pd.DataFrame]:
    """Per run, its fills as (date, symbol, side, size, price, commission), dated like the Fills analyzer."""
    rows: list[list] = [[] for _ in range(n)]
    for run, bar, feed, size, price, fee in book.fills:
        rows[run].append({"date": market.dates[bar], "symbol": TRADED[feed], "side": "buy" if size > 0 else "sell",
                          "size": abs(size), "price": price, "commission": fee})
    return [pd.DataFrame(r, columns=["date", "symbol", "side", "size", "price", "commission"]) for r in rows]


@dataclass(frozen=True)
class FastChunk:
    """One executor task: a chunk of full combinations of one strategy, run in one array pass."""

    name: str
    combos: tuple | GridSlice
    settings: RunSettings
    start: str | None = None
    end: str | None = None
    blocks: int = 0  # > 0: the chunk also sends its runs' block moments (``simulate``'s ``extras``)
    best: tuple[str, int] | None = None  # (column, n): and the excess returns of its n best runs by that column

    @property
    def label(self) -> str:
        return f"fast engine, {self.name}, {len(self.combos)} combinations from {self.combos[0]}"


def chunk_task(feeds: FeedSet, item: FastChunk) -> list[dict]:
    """Executor task: the comparison metrics of a chunk (on its window of the feeds when it has one)."""
    window = feeds.window(item.start, item.end) if item.start else feeds
    return simulate(item.name, list(item.combos), window, item.settings).metrics


def chunks(name: str, combos: list[dict], settings: RunSettings, *, size: int = CHUNK, parts: int = 1,
           start: str | None = None, end: str | None = None, validate: bool = True) -> list[FastChunk]:
    """``combos`` (validated unless ``validate`` is False) cut into equal tasks of at most ``size`` combinations, a
    multiple of ``parts`` of them when there are enough combinations (so every worker gets the same share)."""
    check_supported(name)
    full = full_params(name, combos, validate=validate)
    parts = max(parts, 1)
    rounds = -(-len(full) // (parts * size))  # tasks per worker
    step = max(1, -(-len(full) // (parts * rounds)))
    return [FastChunk(name, tuple(full[lo:lo + step]), settings, start, end) for lo in range(0, len(full), step)]


def grid_chunks(name: str, grid: Grid, base: dict, settings: RunSettings, *, size: int = CHUNK, parts: int = 1,
                start: str | None = None, end: str | None = None, blocks: int = 0,
                best: tuple[str, int] | None = None) -> list[FastChunk]:
    """The combinations of ``grid`` (on top of the fixed parameters ``base``; validated by the caller) as tasks of
    at most ``size`` consecutive combinations, equal and a multiple of ``parts`` of them when there are enough (so
    every worker gets the same share). Each task carries its ``GridSlice``, not the combinations themselves;
    ``blocks`` and ``best`` as in ``FastChunk``."""
    check_supported(name)
    fixed = tuple(base.items())
    total, parts = grid.size, max(parts, 1)
    rounds = -(-total // (parts * size))  # tasks per worker
    step = max(1, -(-total // (parts * rounds)))
    return [FastChunk(name, GridSlice(grid, lo, min(lo + step, total), fixed), settings, start, end, blocks, best)
            for lo in range(0, total, step)]


def grid_chunk_task(feeds: FeedSet, item: FastChunk) -> Chunk:
    """Executor task: the comparison columns of a ``grid_chunks`` task, as a ``Chunk`` (on its window of the feeds
    when it has one). The full parameter sets are made here, in the worker."""
    window = feeds.window(item.start, item.end) if item.start else feeds
    combos = full_params(item.name, list(item.combos), validate=False)
    run = simulate(item.name, combos, window, item.settings, rows=False, blocks=item.blocks, best=item.best)
    extras = dict(run.extras or {})
    if "best rows" in extras:
        extras["best rows"] = extras["best rows"] + item.combos.lo  # grid indexes
    return Chunk(item.combos.lo, run.columns, extras)


def run_fast(name: str, combos: list[dict], feeds: FeedSet, settings: RunSettings, *, chunk: int = CHUNK) -> list[dict]:
    """The comparison metrics of every combination of strategy ``name``, in this process, ``chunk`` at a time."""
    market = Market.from_feeds(feeds)
    out: list[dict] = []
    for item in chunks(name, combos, settings, size=chunk):
        out.extend(simulate(name, list(item.combos), market, settings).metrics)
    return out
