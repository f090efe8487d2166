"""The overfitting guard of a sweep: how much of its best is luck (``research.overfitting`` on the sweep's trials).

A sweep asked for block moments (``sweep_chunks(blocks=...)``) streams, with each chunk, its trials' per-block
moments of their excess daily returns (32 numbers a trial at 16 blocks, from the engines: never the trials'
daily-returns matrix); a ``GuardCollector`` keeps them as the chunks go by (``guarded_sweep`` does it in memory).
``guard`` then reads:

- the deflated Sharpe of the best (by the sweep's metric): the trials' Sharpe ratios (their variance) from the block
  moments; the best's skew, kurtosis and length from its own daily returns;
- PBO by CSCV over every trial, from the block moments (``overfitting.pbo``);
- Hansen's SPA p-value of the best ``top`` trials by the sweep's metric (the best among them) against buy and hold of
  the benchmark feed (``RunSettings.benchmark``, SPY by default). Only these candidates' daily returns are kept:
  each fast-engine chunk sends those of its own ``top`` best (the sweep's best are among them), a Backtrader sweep
  keeps each run's (float32) while it runs. The other
  trials rank below them on the metric; Hansen's consistent p-value recentres poorly performing models away, so
  they would move it little, but a subset chosen after seeing the data can only make the p-value smaller: it is a
  lower bound of the full-grid test's, and the output says so.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analyzers import stats
from engines.engine import (
    COMPARISON_COLUMNS,
    RunSettings,
    check_history_of_all,
    resolve,
    riskfree_returns,
)
from engines.grid import Chunk, Grid, best_first
from engines.params import ConfigError
from feeds import FeedSet

from . import overfitting as of
from .sweep import check_grid, default_limit, history_cases, sweep_chunks

DEFAULT_TOP = 20  # SPA candidates: the best trials by the sweep's metric
MAX_TOP = 1_000  # at most: 30 MB of daily returns per engine task over 2010-2024


GUARD_EXTRAS = ("block sums", "block squares", "excess returns", "best rows", "best excess returns")  # what
# ``sweep_chunks(blocks=..., best=...)`` adds for the check
KEPT_FIGURES = ("CAGR [%]", "Max drawdown [%]", "Sharpe")  # read by ``reach`` and shown for the closest trial


def check_blocks(blocks) -> int:
    """The CSCV block count: an even whole number from 2 to ``overfitting.MAX_BLOCKS`` (ConfigError otherwise)."""
    if isinstance(blocks, bool) or not isinstance(blocks, int) or not 2 <= blocks <= of.MAX_BLOCKS or blocks % 2:
        raise ConfigError(f"--pbo-blocks must be an even whole number from 2 to {of.MAX_BLOCKS}, not {blocks!r}")
    return blocks


def effective_blocks(requested: int, sessions: int) -> int:
    """The CSCV blocks a period of ``sessions`` allows: ``requested``, or on a short period the largest even number
    that leaves at least 2 sessions per block (2 at least; 0 when there are fewer than 2 sessions: no check)."""
    if sessions < 2:
        return 0
    return min(requested, max(2, (sessions // 2) // 2 * 2))


def measured_sessions(feeds: FeedSet) -> int:
    """Sessions from the first to the last measured one (the length of every run's daily returns)."""
    return int(((feeds.sessions >= feeds.start) & (feeds.sessions <= feeds.end)).sum())


class GuardCollector:
    """What the check keeps of a sweep as its chunks stream by (``add``): per trial the block sums and sums of squares
    of its excess returns (2 x blocks floats), the metric and ``KEPT_FIGURES``; the excess returns of the ``top``
    best distinct trials by the metric so far (the fast engine's chunks send their own ``top`` best distinct: the
    sweep's are among them), and on Backtrader every run's (float32). ``add`` gives the chunk back without these
    extras, for the results file."""

    def __init__(self, size: int, blocks: int, sessions: int, metric: str, top: int = DEFAULT_TOP) -> None:
        if not 2 <= blocks <= sessions:
            raise ConfigError(f"{sessions} sessions cannot be cut into {blocks} CSCV blocks")
        edges = stats.block_edges(sessions, blocks)
        self.counts = np.diff(np.append(edges, sessions))
        self.sums = np.zeros((blocks, size))
        self.squares = np.zeros((blocks, size))
        self.metric = metric
        self.figures = {k: np.full(size, np.nan) for k in dict.fromkeys([metric, *KEPT_FIGURES])}
        self.returns: dict[int, np.ndarray] = {}
        self.best: dict[int, np.ndarray] = {}  # grid index -> excess returns, the ``top`` best trials seen so far
        self.size, self.top = size, top

    def add(self, chunk: Chunk) -> Chunk:
        lo, hi = chunk.first, chunk.first + chunk.rows
        self.sums[:, lo:hi] = chunk.extras["block sums"].T
        self.squares[:, lo:hi] = chunk.extras["block squares"].T
        for key, values in self.figures.items():
            values[lo:hi] = chunk.columns[key]
        for j, row in enumerate(chunk.extras.get("excess returns", ())):
            self.returns[lo + j] = row
        for index, row in zip(chunk.extras.get("best rows", ()), chunk.extras.get("best excess returns", ())):
            self.best[int(index)] = row
        if len(self.best) > self.top:  # keep the best ``top`` distinct: the moments of every kept row are in by now
            kept = np.sort(np.fromiter(self.best, dtype=np.int64))  # grid order: ties go to the lower index
            first = kept[stats.first_of_each(self.sums[:, kept].T, self.squares[:, kept].T)]
            keep = set(first[best_first(self.figures[self.metric][first])[:self.top]].tolist())
            for index in kept:
                if int(index) not in keep:
                    del self.best[int(index)]
        return Chunk(chunk.first, chunk.columns, {k: v for k, v in chunk.extras.items() if k not in GUARD_EXTRAS})

    @property
    def moments(self) -> of.BlockMoments:
        return of.BlockMoments(self.counts, self.sums, self.squares)


@dataclass
class GuardedSweep:
    """An in-memory sweep with its check's inputs: ``table`` (as ``run_sweep``), ``collected`` (``GuardCollector``),
    the ``grid`` and the fixed ``base`` parameters."""

    table: pd.DataFrame
    collected: GuardCollector
    grid: Grid
    base: dict

    @property
    def moments(self) -> of.BlockMoments:
        return self.collected.moments


def guarded_sweep(name: str, grid: dict[str, list] | Grid, feeds: FeedSet, settings: RunSettings, *,
                  blocks: int = of.DEFAULT_BLOCKS, metric: str = "CAGR [%]", executor: str = "local",
                  jobs: int | None = None, scheduler: str | None = None, base_params: dict | None = None,
                  progress: bool = True, engine: str = "backtrader", max_combinations: int | None = None,
                  chunk: int | None = None, top: int = DEFAULT_TOP) -> GuardedSweep:
    """``run_sweep`` (the same table) whose chunks also feed a ``GuardCollector`` (keeping the excess returns of
    the ``top`` best trials by ``metric``)."""
    entry = resolve(name)
    check_blocks(blocks)
    grid = check_grid(entry.name, grid, base_params, max_combinations=max_combinations or default_limit(engine))
    check_history_of_all(entry, list(history_cases(entry.name, grid, base_params)), feeds)
    collected = GuardCollector(grid.size, effective_blocks(blocks, measured_sessions(feeds)), measured_sessions(feeds),
                               metric, top)
    chunks = sorted((collected.add(c) for c in sweep_chunks(
        entry.name, grid, feeds, settings, base_params=base_params, engine=engine, executor=executor, jobs=jobs,
        scheduler=scheduler, progress=progress, chunk=chunk, blocks=blocks, best=(metric, top))), key=lambda c: c.first)
    figures = pd.DataFrame({c: np.concatenate([part.columns[c] for part in chunks]) for c in COMPARISON_COLUMNS})
    params = pd.DataFrame(grid.combos(), columns=list(grid.keys))
    return GuardedSweep(pd.concat([params, figures], axis=1), collected, grid, dict(base_params or {}))


def candidate_returns(name: str, collected: GuardCollector, grid: Grid, base: dict, rows: np.ndarray, feeds: FeedSet,
                      settings: RunSettings) -> np.ndarray:
    """Excess daily returns (sessions x len(rows)) of the trials at ``rows``: the ones the sweep kept (its best, and
    every Backtrader run), the others re-run on the fast engine (one small array pass)."""
    kept = {**collected.best, **collected.returns}
    if all(int(i) in kept for i in rows):
        return np.column_stack([kept[int(i)] for i in rows]).astype(float)
    from engines import fast

    combos = fast.full_params(name, [{**base, **grid.combo(int(i))} for i in rows], validate=False)
    market = fast.Market.from_feeds(feeds)
    run = fast.simulate(name, combos, market, settings, curves=True, rows=False)
    return fast.excess_returns(run.equity, market, settings)


def benchmark_returns(feeds: FeedSet, settings: RunSettings) -> tuple[str, np.ndarray]:
    """The label and excess daily returns of buy and hold of the benchmark feed (``RunSettings.benchmark``): its
    total return (adjusted close to adjusted close, from the close before the first measured session), without
    costs or share rounding, in excess of the risk-free return of each session."""
    symbol = settings.benchmark
    if symbol not in feeds.bars or symbol in feeds.signal_only:
        traded = [n for n in feeds.bars if n not in feeds.signal_only]
        raise ConfigError(f"--benchmark {symbol}: not a traded feed of this data; choose one of {', '.join(traded)}")
    sessions = feeds.sessions
    first = int(sessions.searchsorted(feeds.start))
    last = int(sessions.searchsorted(feeds.end, side="right"))
    dates = sessions[max(first - 1, 0):last]
    if first == 0:
        dates = dates.insert(0, sessions[0] - pd.Timedelta(days=1))
    total = stats.close_returns(feeds.bars[symbol]["close"].reindex(dates))
    return f"buy and hold {symbol} (total return)", total - riskfree_returns(feeds, dates, settings)


def guard(name: str, collected: GuardCollector, grid: Grid, base: dict, feeds: FeedSet, settings: RunSettings, *,
          top: int | None = None, seed: int = of.SEED, reps: int = of.SPA_REPS, target: dict | None = None) -> dict:
    """The check's figures for a sweep (JSON-ready): trials, the best (by ``collected.metric``) and its deflated
    Sharpe, PBO with the distribution of the in-sample best's out-of-sample rank, the SPA p-value against the
    benchmark, the sentence, and with ``target`` whether any trial reaches it (``reach``). Deterministic: every
    bootstrap is seeded with ``seed``."""
    metric, moments = collected.metric, collected.moments
    trials = collected.size
    order = best_first(collected.figures[metric])
    best = int(order[0])
    kept = moments.distinct()  # trials with the same returns count once: N, the Sharpe variance, CSCV, SPA
    distinct = len(kept)
    candidates = order[np.isin(order, kept)][:max(1, min(collected.top if top is None else top, distinct))]
    label, bench = benchmark_returns(feeds, settings)  # a wrong --benchmark fails before any work
    excess = candidate_returns(name, collected, grid, base, candidates, feeds, settings)
    if len(bench) != excess.shape[0]:
        raise ConfigError(f"the benchmark {label} has {len(bench)} sessions, the sweep's runs {excess.shape[0]}")
    pvalues = of.spa_pvalue(bench, excess, reps=reps, seed=seed)
    identical = trials >= 2 and distinct == 1
    result = of.pbo(moments.select(kept), seed=seed) if distinct >= 2 else None  # no choice: no overfitting
    sessions = excess.shape[0]
    sharpes = moments.sharpe()  # per session, every trial
    finite = sharpes[kept][np.isfinite(sharpes[kept])]
    variance = float(np.var(finite, ddof=1)) if len(finite) > 1 else 0.0
    skew, kurtosis = of.shape_of(excess[:, 0])
    deflated = of.deflated_sharpe(float(sharpes[best]), distinct, variance, sessions, skew, kurtosis)
    root = math.sqrt(stats.TRADING_DAYS)
    out = {
        "trials": trials,
        "distinct trials": distinct,
        "metric": metric,
        "best": grid.combo(best),
        "best Sharpe": _num(sharpes[best] * root),
        "deflated Sharpe": _num(deflated),
        "expected best Sharpe of luck": _num(of.expected_max_sharpe(distinct, variance) * root),
        "Sharpe std across trials": _num(math.sqrt(variance) * root),
        "best skew": _num(skew),
        "best kurtosis": _num(kurtosis),
        "sessions": sessions,
    }
    if result is not None:
        out["PBO"] = _num(result.pbo)
        out["PBO blocks"] = result.blocks
        out["PBO splits"] = result.splits
        out["PBO all splits"] = result.all_splits
        out["OOS rank of the IS best"] = {"median": _num(float(np.median(result.ranks))), "histogram": result.rank_histogram()}
    else:
        out["PBO"] = None
    if identical:
        out["PBO note"] = (f"all {trials:,} trials have the same daily returns (no parameter of the grid changed the "
                           "run on this period): there was nothing to choose, so PBO does not apply")
    pvalues = {k: _num(v) for k, v in pvalues.items()}  # None (n/a) when a candidate's returns are not finite
    out["SPA"] = {"benchmark": label, "p-value": pvalues["consistent"], "p-values": pvalues, "candidates": len(candidates),
                  "note": f"the {_best_trials(len(candidates))} by {metric} (of {distinct:,} distinct) against {label}; chosen after "
                          "seeing the data, so the p-value is a lower bound of the whole grid's"}
    spa_p = pvalues["consistent"]
    out["sentence"] = of.verdict(trials, deflated, out["PBO"], math.nan if spa_p is None else spa_p,  # n/a: no evidence
                                 distinct=distinct)
    if target:
        def deflated_of(row: int) -> float:
            returns = candidate_returns(name, collected, grid, base, np.array([row]), feeds, settings)[:, 0]
            return of.deflated_sharpe(float(sharpes[row]), distinct, variance, sessions, *of.shape_of(returns))

        out["target"] = reach(collected.figures, target, params_of=grid.combo, deflated_of=deflated_of)
    return out


def reach(figures: dict[str, np.ndarray], target: dict, *, params_of=None, deflated_of=None) -> dict:
    """Does any trial reach ``target`` ({"CAGR [%]": 15.2, "Max drawdown [%]": -16.8}: a CAGR at least, a drawdown
    no worse than)? ``figures``: per figure, one value per trial. The number of trials that do, and the closest: the
    trial with the smallest shortfall, the sum of how far each figure falls short in percentage points (0 when it
    reaches both), its parameters (``params_of(row)``), figures and deflated Sharpe (``deflated_of(row)``)."""
    cagr = np.asarray(figures["CAGR [%]"], dtype=float)
    drawdown = np.asarray(figures["Max drawdown [%]"], dtype=float)
    short = np.maximum(target["CAGR [%]"] - cagr, 0.0) + np.maximum(target["Max drawdown [%]"] - drawdown, 0.0)
    short = np.where(np.isnan(short), np.inf, short)
    closest = int(np.argmin(short))
    shown = {k: _num(float(figures[k][closest])) for k in KEPT_FIGURES if k in figures}
    return {
        "CAGR at least [%]": target["CAGR [%]"], "max drawdown no worse than [%]": target["Max drawdown [%]"],
        "trials reaching it": int((short == 0).sum()),
        "closest": {**(params_of(closest) if params_of else {"row": closest}), **shown},
        "shortfall [pp]": _num(short[closest]),
        "closest deflated Sharpe": _num(deflated_of(closest)) if deflated_of else None,
    }


def _best_trials(count: int) -> str:
    return "best trial" if count == 1 else f"{count:,} best trials"


def _num(value) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def guard_text(out: dict) -> str:
    """The guard as lines of text for the terminal, under the ranked table."""
    distinct = out.get("distinct trials", out["trials"])
    some = f", {distinct:,} distinct" if distinct != out["trials"] else ""
    lines = [f"Luck check ({out['trials']:,} trials{some}, best by {out['metric']}):",
             f"  deflated Sharpe of the best: {_two(out['deflated Sharpe'])} (probability its true Sharpe is above 0; "
             f"its Sharpe {_two(out['best Sharpe'])}, the best of {distinct:,} lucky trials would show "
             f"{_two(out['expected best Sharpe of luck'])})"]
    if out.get("PBO") is not None:
        lines.append(f"  PBO (CSCV, {out['PBO blocks']} blocks, {out['PBO splits']:,} of {out['PBO all splits']:,} splits): "
                     f"{_two(out['PBO'])}; median out-of-sample rank of the in-sample best "
                     f"{_two(out['OOS rank of the IS best']['median'])} (1 = best, 0.5 = median)")
    spa = out["SPA"]
    lines.append(f"  SPA p-value vs {spa['benchmark']}: {_two(spa['p-value'])} ({spa['note']})")
    if out.get("target"):
        t = out["target"]
        c = t["closest"]
        lines.append(f"  target CAGR >= {t['CAGR at least [%]']}% with max drawdown >= {t['max drawdown no worse than [%]']}%: "
                     f"{t['trials reaching it']:,} trial(s) reach it; closest: "
                     + ", ".join(f"{k}={v if not isinstance(v, float) else round(v, 2)}" for k, v in c.items())
                     + f" (short by {_two(t['shortfall [pp]'])} pp; deflated Sharpe {_two(t['closest deflated Sharpe'])})")
    if out.get("PBO note"):
        lines.append(f"  note: {out['PBO note']}")
    lines.append(f"  {out['sentence']}")
    return "\n".join(lines)


def _two(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"
