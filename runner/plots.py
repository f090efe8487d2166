"""Figures: Backtrader's own plot per run, one comparison figure, and the SPY/IWM ratio chart. Headless (Agg)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

from feeds import FeedSet
from feeds.atomic import atomic_write

from .engine import RunResult

NEWSLETTER_LEVELS = {"zone low 2.13": 2.13, "zone high / stop 2.35": 2.35, "target 1.95": 1.95}


def import_backtrader_plot() -> None:
    """Import ``backtrader.plot`` without letting it change the backend.

    Backtrader trap: importing it calls ``matplotlib.use("TkAgg")``, which succeeds quietly and then fails at the
    first figure on a machine without a screen. The backend in force before the import is restored.
    """
    before = matplotlib.get_backend()
    import backtrader.plot  # noqa: F401

    matplotlib.use(before, force=True)


def _save(fig, path: Path, dpi: int = 110) -> Path:
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))


def save_backtrader_plot(cerebro, path: str | Path, *, start=None, width: float = 16, height: float = 10) -> Path:
    """Backtrader's own plot of a finished Cerebro (trades, indicators, panels) from ``start`` (e.g. after the
    warm-up), saved as PNG."""
    import_backtrader_plot()
    import matplotlib.pyplot as plt

    figures = cerebro.plot(iplot=False, volume=False, style="line", start=start)
    fig = figures[0][0]
    fig.set_size_inches(width, height)
    try:
        return _save(fig, Path(path))
    finally:
        plt.close("all")


def comparison_figure(results: Sequence[RunResult], path: str | Path | None = None, *, allocation_of: str = "rotation", show: bool = False):
    """Equity curves (log scale), drawdowns underneath, and the allocation over time of ``allocation_of``."""
    import matplotlib.pyplot as plt

    with_alloc = any(r.name == allocation_of for r in results)
    rows = 3 if with_alloc else 2
    fig, axes = plt.subplots(rows, 1, figsize=(13, 4 + 2.8 * rows), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1.5, 1.5][:rows]})
    for r in results:
        if len(r.equity):
            axes[0].plot(r.equity.index, r.equity.values, label=r.name, linewidth=1.1)
            drawdown = r.equity / r.equity.cummax() - 1
            axes[1].plot(drawdown.index, 100 * drawdown.values, linewidth=0.9)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("Portfolio value (log)")
    axes[0].legend(loc="upper left", fontsize=8, ncol=2)
    axes[0].set_title("Equity curves")
    axes[1].set_ylabel("Drawdown [%]")
    if with_alloc:
        weights = next(r for r in results if r.name == allocation_of).weights
        weights = weights.loc[:, (weights.abs() > 1e-9).any()]
        if len(weights.columns):
            axes[2].stackplot(weights.index, *[100 * weights[c].clip(lower=0).values for c in weights.columns],
                              labels=list(weights.columns), alpha=0.8)
            axes[2].legend(loc="upper left", fontsize=8, ncol=len(weights.columns))
        axes[2].set_ylabel("Allocation [%]")
        axes[2].set_title(f"{allocation_of}: allocation over time")
        axes[2].set_ylim(0, 105)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _finish(fig, path, show)


def ratio_figure(feeds: FeedSet, path: str | Path | None = None, *, show: bool = False):
    """SPY/IWM ratio on raw closes with the newsletter's levels."""
    import matplotlib.pyplot as plt

    spy, iwm = feeds.bars["SPY"]["raw_close"], feeds.bars["IWM"]["raw_close"]
    ratio = (spy / iwm).loc[feeds.start:feeds.end]
    fig, ax = plt.subplots(figsize=(13, 5))
    ax.plot(ratio.index, ratio.values, color="black", linewidth=1, label="SPY / IWM (raw closes)")
    colours = ("tab:green", "tab:red", "tab:blue")
    for (label, level), colour in zip(NEWSLETTER_LEVELS.items(), colours):
        ax.axhline(level, color=colour, linestyle="--", linewidth=1, label=f"{label}")
    ax.axhspan(2.13, 2.35, color="tab:green", alpha=0.08)
    ax.set_title("SPY/IWM price ratio and the newsletter's levels")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _finish(fig, path, show)


def _finish(fig, path, show: bool):
    import matplotlib.pyplot as plt

    if path is not None:
        _save(fig, Path(path))
    if show:
        plt.show()
    if path is not None:
        plt.close(fig)
    return fig
