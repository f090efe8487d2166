"""95% stationary-bootstrap intervals beside a comparison's figures (``research.overfitting.bootstrap_intervals``).

Every run of a comparison covers the same sessions, so one set of resampling indexes serves them all: each resample
draws the same days for every run, and the probability that the main strategy's Sharpe beats the benchmark's is
read from the same resamples. Seeded: reruns print the same intervals.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analyzers import stats
from engines.engine import RunResult, RunSettings, riskfree_returns
from feeds import FeedSet

from . import overfitting as of

FIGURES = ("CAGR [%]", "Sharpe", "Max drawdown [%]")
SIZE = 0.95


def interval_columns(figure: str) -> tuple[str, str]:
    """The low and high column names of a figure's interval, e.g. ("CAGR [%] low", "CAGR [%] high")."""
    return f"{figure} low", f"{figure} high"


def comparison_intervals(results: Sequence[RunResult], feeds: FeedSet, settings: RunSettings, *,
                         reps: int = of.BOOTSTRAP_REPS, seed: int = of.SEED,
                         block_size: int = of.MEAN_BLOCK) -> pd.DataFrame:
    """One row per run (index ``Run``): each of ``FIGURES`` as measured and its 95% interval (``<figure> low``,
    ``<figure> high``). CAGR and Sharpe intervals are NaN on a run shorter than a year (no annualised figure)."""
    rows = {}
    indices = None
    for r in results:
        row = {}
        if len(r.equity) > 2:
            returns = stats.daily_returns(r.equity).to_numpy()
            if indices is None or indices.shape[1] != len(returns):
                indices = of.resample_indices(len(returns), reps=reps, seed=seed, block_size=block_size)
            rf = riskfree_returns(feeds, r.equity.index, settings)
            years = stats.years_between(r.equity.index[0], r.equity.index[-1])
            found = of.bootstrap_intervals(returns, rf, years=years, size=SIZE, indices=indices)
            annual = stats.annualisable(r.equity.index[0], r.equity.index[-1])
            for figure in FIGURES:
                low, high = found[figure] if annual or figure == "Max drawdown [%]" else (np.nan, np.nan)
                row[figure] = r.metrics.get(figure)
                row.update(zip(interval_columns(figure), (low, high)))
        rows[r.name] = row
    columns = [c for f in FIGURES for c in (f, *interval_columns(f))]
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns).rename_axis("Run")


def benchmark_run(results: Sequence[RunResult], settings: RunSettings) -> RunResult | None:
    """The run that buys and holds the benchmark feed alone (params ``weights`` {benchmark: 1.0}), if any."""
    return next((r for r in results if r.params.get("weights") == {settings.benchmark: 1.0}), None)


def sharpe_beats(main: RunResult, other: RunResult, feeds: FeedSet, settings: RunSettings, *,
                 reps: int = of.BOOTSTRAP_REPS, seed: int = of.SEED, block_size: int = of.MEAN_BLOCK) -> float | None:
    """The probability that ``main``'s Sharpe is above ``other``'s: the share of stationary-bootstrap resamples (the
    same days for both) where it is. None when the runs do not cover the same sessions."""
    if len(main.equity) < 3 or not main.equity.index.equals(other.equity.index):
        return None
    rf = riskfree_returns(feeds, main.equity.index, settings)
    return of.prob_sharpe_beats(stats.daily_returns(main.equity).to_numpy(), stats.daily_returns(other.equity).to_numpy(),
                                rf, reps=reps, seed=seed, block_size=block_size)


def intervals_note(reps: int = of.BOOTSTRAP_REPS, block_size: int = of.MEAN_BLOCK, seed: int = of.SEED) -> str:
    """How the intervals were made, for under the table."""
    return (f"{SIZE:.0%} intervals: percentiles of {reps:,} stationary-bootstrap resamples of each run's daily returns "
            f"(mean block {block_size} sessions, the same days for every run, seed {seed}); they show how much a figure "
            "could move on another draw of the same kind of market")
