"""Walk-forward: choose parameters in-sample, run them on the next out-of-sample window, stitch the results.

    run_backtest.py walkforward --strategy rotation --grid lookback=21:252:21 --in-sample 5 --out-of-sample 1

Reports each window's in-sample best next to what those parameters then did out of sample, and the stitched
out-of-sample equity curve, so overfitting shows.
"""
from __future__ import annotations

import math
from contextlib import closing, nullcontext
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from analyzers import stats
from engines.engine import COMPARISON_COLUMNS, RunItem, RunResult, RunSettings, check_history_of_all, resolve, run_item
from engines.executors import Progress, run_tasks
from engines.grid import Chunk
from engines.params import ConfigError, format_param
from feeds import FeedSet

from .sweep import DEFAULT_METRIC, check_grid, default_limit, evaluate, history_cases, sweep_chunks


# Besides the choosing metric, each window's table row gives these figures in-sample (the chosen combination's) and
# out of sample, side by side.
WINDOW_FIGURES = ("CAGR [%]", "Sharpe", "Max drawdown [%]")


@dataclass(frozen=True)
class Window:
    """One step: in-sample ``is_start..is_end`` chooses, out-of-sample ``oos_start..oos_end`` tests."""

    is_start: pd.Timestamp
    is_end: pd.Timestamp
    oos_start: pd.Timestamp
    oos_end: pd.Timestamp


def make_windows(start, end, in_sample_years: int, out_of_sample_years: int, anchored: bool = False) -> list[Window]:
    """Calendar-year windows: rolling (fixed-length in-sample) or anchored (in-sample always from ``start``).

    The first out-of-sample window starts ``in_sample_years`` after ``start``; the last is cut at ``end``.
    """
    for name, value in (("in-sample years", in_sample_years), ("out-of-sample years", out_of_sample_years)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a whole number >= 1, not {value!r}")
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    windows = []
    oos_start = start + pd.DateOffset(years=in_sample_years)
    while oos_start <= end:
        oos_end = min(oos_start + pd.DateOffset(years=out_of_sample_years) - pd.Timedelta(days=1), end)
        is_start = start if anchored else oos_start - pd.DateOffset(years=in_sample_years)
        windows.append(Window(is_start, oos_start - pd.Timedelta(days=1), oos_start, oos_end))
        oos_start = oos_start + pd.DateOffset(years=out_of_sample_years)
    if not windows:
        raise ConfigError(f"walk-forward: {start.date()}..{end.date()} is shorter than the {in_sample_years}-year in-sample window plus one out-of-sample day")
    return windows


def oos_task(feeds: FeedSet, item: RunItem) -> RunResult:
    """Executor task: one out-of-sample run, whole (metrics, equity, trades, decisions, weights)."""
    return run_item(feeds, item)


def stitch(curves: list[pd.Series], start_value: float) -> pd.Series:
    """Chain equity curves into one starting at ``start_value``. Each curve starts with its own starting value (the
    close before its first session), which is dropped after the first curve so no date appears twice."""
    pieces, level = [], start_value
    for i, curve in enumerate(curves):
        scaled = curve / curve.iloc[0] * level
        pieces.append(scaled if i == 0 else scaled.iloc[1:])
        level = scaled.iloc[-1]
    return pd.concat(pieces)


def run_walkforward(*args, **kwargs) -> tuple[pd.DataFrame, pd.Series]:
    """Per-window table and stitched out-of-sample equity (``walkforward_runs`` without the runs themselves)."""
    table, stitched, _ = walkforward_runs(*args, **kwargs)
    return table, stitched


def walkforward_runs(
    name: str,
    grid: dict[str, list],
    feeds: FeedSet,
    settings: RunSettings,
    *,
    in_sample_years: int = 5,
    out_of_sample_years: int = 1,
    anchored: bool = False,
    metric: str = DEFAULT_METRIC,
    executor: str = "local",
    jobs: int | None = None,
    scheduler: str | None = None,
    base_params: dict | None = None,
    progress: bool = True,
    engine: str = "backtrader",
    max_combinations: int | None = None,
    chunk: int | None = None,
) -> tuple[pd.DataFrame, pd.Series, list[RunResult]]:
    """Per-window table (periods, chosen params, in-sample and out-of-sample metric, then ``WINDOW_FIGURES`` in-sample
    and out of sample, the fall from one to the other, the grid's median out of sample and whether the chosen combination beat it),
    the stitched OOS equity and
    the out-of-sample runs (named "STRATEGY OOS_START..OOS_END").

    The grid's out-of-sample median: every combination is also run on each out-of-sample window on ``engine`` (in
    the same batch as the in-sample search, so the search costs twice as many runs); the chosen combination is
    compared with the median from that same evaluation.

    ``base_params`` are fixed parameters (from --param and the config) applied to every run, the grid on top.
    ``engine`` searches the in-sample windows ("fast": the fast engine, ``chunk`` combinations per task at most);
    every out-of-sample run is Backtrader's."""
    entry = resolve(name)
    base = dict(base_params or {})
    windows = make_windows(settings.start, settings.end, in_sample_years, out_of_sample_years, anchored)
    grid = check_grid(entry.name, grid, base, max_combinations=max_combinations or default_limit(engine),
                      runs_per_combination=len(windows), jobs=jobs if executor == "local" else None)
    check_history_of_all(entry, list(history_cases(entry.name, grid, base)), feeds)  # the first window starts with the feeds
    periods = [(str(w.is_start.date()), str(w.is_end.date())) for w in windows]
    oos_periods = [(str(w.oos_start.date()), str(w.oos_end.date())) for w in windows]
    if engine == "fast":  # streamed: per window only the best combination is kept, whatever the grid's size
        found = [best_in(sweep_chunks(entry.name, grid, feeds, settings, base_params=base, engine=engine,
                                      executor=executor, jobs=jobs, scheduler=scheduler, progress=progress,
                                      chunk=chunk, window=period), metric) for period in periods]
        # the grid out of sample: one value of the metric per combination and window (8 bytes each)
        oos_values = [metric_values(sweep_chunks(entry.name, grid, feeds, settings, base_params=base, engine=engine,
                                                 executor=executor, jobs=jobs, scheduler=scheduler, progress=progress,
                                                 chunk=chunk, window=period), grid.size, metric) for period in oos_periods]
    else:
        combos = grid.combos()
        evaluated = evaluate(entry.name, [{**base, **combo} for combo in combos], feeds, settings, engine=engine,
                             executor=executor, jobs=jobs, scheduler=scheduler, progress=progress,
                             windows=periods + oos_periods)
        in_sample, oos_grid = evaluated[:len(windows)], evaluated[len(windows):]
        found = [best_in([Chunk.of_rows(0, rows, COMPARISON_COLUMNS)], metric) for rows in in_sample]
        oos_values = [Chunk.of_rows(0, rows, COMPARISON_COLUMNS).columns[metric] for rows in oos_grid]
    bar = Progress(len(windows), "out-of-sample runs (backtrader)", enabled=progress)
    chosen, best_rows = [], []
    for i, result in enumerate(found):
        if result is None:
            raise ConfigError(f"walk-forward window {i + 1}: no combination has a value for {metric}")
        best_score, index, figures = result
        median = _median(oos_values[i])
        own = float(oos_values[i][index])
        beat = None if median is None or math.isnan(own) else bool(own > median)
        chosen.append((grid.combo(index), best_score, median, beat))
        best_rows.append(figures)
    oos_items = [
        RunItem(entry.name, {**base, **params}, settings, str(w.oos_start.date()), str(w.oos_end.date()))
        for w, (params, *_) in zip(windows, chosen)
    ]
    out = run_tasks(oos_task, oos_items, feeds, executor=executor, jobs=jobs, scheduler=scheduler, progress=bar)
    out = [replace(r, name=f"{entry.name} {w.oos_start.date()}..{w.oos_end.date()}") for r, w in zip(out, windows)]
    rows = []
    others = [f for f in WINDOW_FIGURES if f != metric]
    for w, (params, score, median, beat), metrics, best in zip(windows, chosen, (r.metrics for r in out), best_rows):
        oos = metrics[metric]
        rows.append({
            "in-sample": f"{w.is_start.date()}..{w.is_end.date()}",
            "out-of-sample": f"{w.oos_start.date()}..{w.oos_end.date()}",
            **params,
            "chosen params": ", ".join(f"{k}={format_param(v)}" for k, v in params.items()) or "(defaults)",
            f"in-sample {metric}": score,
            f"out-of-sample {metric}": oos,
            f"fall {metric}": None if oos is None else score - oos,
            f"grid median out-of-sample {metric}": median,
            "beat the grid median": "n/a" if beat is None else ("yes" if beat else "no"),
            **{f"{side} {f}": source.get(f) for f in others for side, source in (("in-sample", best), ("out-of-sample", metrics))},
        })
    stitched = stitch([r.equity for r in out], settings.cash)
    return pd.DataFrame(rows), stitched, out


def best_in(chunks, metric: str) -> tuple[float, int, dict] | None:
    """(value, grid index, every figure) of the combination with the highest ``metric`` in a stream of ``Chunk``s
    (any order), the highest index among equal values; None when no combination has a value. Memory: one chunk."""
    best = None
    with closing(chunks) if hasattr(chunks, "close") else nullcontext(chunks) as stream:
        for chunk in stream:
            values = np.asarray(chunk.columns[metric], dtype=float)
            if np.isnan(values).all():
                continue
            top = np.nanmax(values)
            j = int(np.flatnonzero(values == top)[-1])
            if best is None or (float(top), chunk.first + j) > best[:2]:
                best = (float(top), chunk.first + j, {k: _plain(v[j]) for k, v in chunk.columns.items()})
    return best


def _plain(value):
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and math.isnan(value) else value


def summary(table: pd.DataFrame, stitched: pd.Series, metric: str) -> dict:
    """In-sample best (mean over windows) next to the stitched out-of-sample result."""
    annual = stats.annualisable(stitched.index[0], stitched.index[-1])
    cagr = stats.cagr(stitched) if annual else float("nan")  # n/a when the stitched period is shorter than a year
    drawdown, _ = stats.max_drawdown(stitched)
    beats = table["beat the grid median"] if "beat the grid median" in table.columns else pd.Series([], dtype=object)
    known = beats[beats != "n/a"]
    return {
        f"mean in-sample best {metric}": float(table[f"in-sample {metric}"].mean()),
        f"mean out-of-sample {metric}": float(table[f"out-of-sample {metric}"].mean()),
        f"fall in-sample to out-of-sample {metric} (mean over windows)":
            float(table[f"in-sample {metric}"].mean() - table[f"out-of-sample {metric}"].astype(float).mean()),
        "share of windows where the choice beat the grid's out-of-sample median [%]":
            float(100.0 * (known == "yes").mean()) if len(known) else float("nan"),
        "stitched out-of-sample CAGR [%]": float(cagr),
        "stitched out-of-sample max drawdown [%]": float(drawdown),
        "stitched out-of-sample final value [$]": float(stitched.iloc[-1]),
    }


def _median(values: np.ndarray) -> float | None:
    """The median of the values that are numbers (None when none is)."""
    values = np.asarray(values, dtype=float)
    finite = values[~np.isnan(values)]
    return float(np.median(finite)) if len(finite) else None


def metric_values(chunks, size: int, metric: str) -> np.ndarray:
    """``metric`` of every combination of a grid of ``size``, in grid order, from its streamed ``chunks``."""
    values = np.full(size, np.nan)
    for chunk in chunks:
        values[chunk.first:chunk.first + chunk.rows] = chunk.columns[metric]
    return values


def buy_and_hold(feeds: FeedSet, symbol: str, index: pd.DatetimeIndex, start_value: float) -> pd.Series:
    """``symbol``'s total-return close over ``index`` (sessions missing in the feed carried forward), scaled to
    start at ``start_value``: the buy-and-hold line the stitched equity is read against."""
    if symbol not in feeds.bars:
        raise ConfigError(f"benchmark {symbol!r} is not a feed; feeds are {', '.join(feeds.bars)}")
    close = feeds.bars[symbol]["close"].reindex(index, method="ffill")
    return (close / close.iloc[0] * start_value).rename(f"buy and hold {symbol} (total return)")


