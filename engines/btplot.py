"""Backtrader's own plot of one finished run: its observers (fills as markers, portfolio value), the panel layout,
readable date ticks and titles. Headless (Agg). Made in the process that ran the Cerebro, which is why it lives
with the engine."""
from __future__ import annotations

import re
import textwrap
from pathlib import Path

import backtrader as bt
import matplotlib
import matplotlib.ticker
import pandas as pd

from feeds.atomic import atomic_write

from .money import money_label, money_ticks


def import_backtrader_plot() -> None:
    """Import ``backtrader.plot`` without letting it change the backend.

    Backtrader trap: importing it calls ``matplotlib.use("TkAgg")``, which succeeds quietly and then fails at the
    first figure on a machine without a screen. The backend in force before the import is restored.
    """
    before = matplotlib.get_backend()
    import backtrader.plot  # noqa: F401

    matplotlib.use(before, force=True)


def save_png(fig, path: Path, dpi: int = 110) -> Path:
    """``fig`` written as a PNG at ``path`` atomically (no half-written file)."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))


class TradeMarkers(bt.observers.BuySell):
    """Backtrader's BuySell observer with a plain legend: a "buy" marker under the bar of each buy fill and a
    "sell / short" marker over the bar of each sell fill (short sales included), added once per feed."""

    plotinfo = dict(plotname="fills")
    plotlines = dict(buy=dict(_name="buy", markersize=7.0, color="#00a000"),
                     sell=dict(_name="sell / short", markersize=7.0, color="#d00000"))
    params = (("barplot", True),)

    def _plotlabel(self) -> list:
        return []


class PortfolioValue(bt.observers.Value):
    """Backtrader's Value observer, labelled for a reader."""

    plotinfo = dict(plotname="Portfolio value")
    plotlines = dict(value=dict(color="#1f3a93", linewidth=1.2, _name="value"))

    def _plotlabel(self) -> list:
        return []


class PortfolioDrawdown(bt.Observer):
    """The portfolio's drawdown [%] from its running peak value (0 at a new high), in its own panel, shaded."""

    lines = ("drawdown",)
    plotinfo = dict(plot=True, subplot=True, plotname="Drawdown [%]", plotymargin=0.05)
    plotlines = dict(drawdown=dict(color="#b22222", linewidth=0.8, _name="drawdown", _fill_lt=(0, "#b22222")))

    def start(self) -> None:
        self._peak = float("-inf")

    def next(self) -> None:
        value = self._owner.broker.getvalue()
        self._peak = max(self._peak, value)
        self.lines.drawdown[0] = 100.0 * (value / self._peak - 1.0) if self._peak > 0 else 0.0

    def _plotlabel(self) -> list:
        return []


def add_plot_observers(cerebro) -> None:
    """The observers Backtrader's plot shows: the portfolio value and its drawdown on top, fill markers on every feed."""
    cerebro.addobserver(PortfolioValue)
    cerebro.addobserver(PortfolioDrawdown)
    cerebro.addobservermulti(TradeMarkers)


# Backtrader's PlotScheme settings: plain lines, no volume, legible text. The panels are laid out afterwards.
PLOT_SCHEME = dict(style="line", volume=False, rowsmajor=1, rowsminor=1, subtxtsize=8, linevalues=True,
                   valuetags=False, tickrotation=0, grid=True)


# Height of each kind of panel, in inches.
PANEL_INCHES = {"value": 2.6, "drawdown": 1.2, "traded": 2.4, "small": 1.1, "indicator": 1.5}
# A price or value panel whose highest value is more than this times its lowest is drawn on a log scale.
LOG_SCALE_RATIO = 2.0
BOTTOM_INCHES, GAP_INCHES = 0.45, 0.12


def backtrader_title(name: str, params: dict, start, end, width_chars: int = 150) -> str:
    """"name: k=v, ... | first .. last session", wrapped to ``width_chars``."""
    shown = ", ".join(f"{k}={v}" for k, v in params.items() if not k.startswith("_"))
    period = f"{pd.Timestamp(start).date()} .. {pd.Timestamp(end).date()}"
    return textwrap.fill(f"{name}  |  {period}  |  {shown or 'default parameters'}", width_chars)


def date_ticks(dates: pd.DatetimeIndex, max_ticks: int = 14) -> tuple[list[int], list[str]]:
    """Tick positions (bar indices): the first session, labelled with its date, then the first session of each
    month/quarter/year (the finest step giving at most ``max_ticks`` ticks), labelled "YYYY" for yearly steps
    and "YYYY-MM" for shorter ones; a boundary too close to the first session to be read beside it is left out."""
    dates = pd.DatetimeIndex(dates)
    if not len(dates):
        return [], []
    months = dates.year * 12 + dates.month - 1
    near = max(1, int(0.04 * len(dates)))
    for step in (1, 3, 6, 12, 24, 60, 120):
        bucket = months // step
        positions = [i for i in range(1, len(dates)) if bucket[i] != bucket[i - 1]]
        if len(positions) <= max_ticks:
            fmt = "%Y" if step >= 12 else "%Y-%m"
            positions = [i for i in positions if i >= near]
            return [0, *positions], [dates[0].strftime("%Y-%m-%d"), *(dates[i].strftime(fmt) for i in positions)]
    return [0], [dates[0].strftime("%Y-%m-%d")]


def backtrader_figure(cerebro, *, strategy=None, start=None, title: str = "", width: float = 16,
                      feed_notes: dict[str, str] | None = None, feed_marks: dict[str, list] | None = None):
    """Backtrader's own plot of a finished Cerebro's ``strategy`` (default: its first) from ``start`` (e.g. after the
    warm-up), as a Figure.

    Backtrader draws the panels (value, drawdown, each plotted feed with its fill markers, indicators with their
    level lines); then the panels are resized by kind (value and traded feeds tall; the cash sleeve and feeds never
    traded small), prices and values spanning more than ``LOG_SCALE_RATIO`` put on a log scale with round ticks,
    dates put on the x-axis from the first session, legend values formatted, level lines named, fill markers sized
    to their density and kept whole, and ``title`` added. ``feed_notes`` titles a feed's panel (e.g. what the cash
    sleeve holds when); ``feed_marks`` draws dated vertical marks on a feed's panel ((date, text) pairs).
    """
    import_backtrader_plot()
    from backtrader import plot as btplot

    strategy = strategy if strategy is not None else cerebro.runstrats[0][0]
    for data in strategy.datas:  # a feed the strategy read through its accessors gets a panel (e.g. VIX)
        if data._name in getattr(strategy, "feeds_read", ()):
            data.plotinfo.plot = True
    plotter = btplot.Plot(**PLOT_SCHEME)
    import matplotlib.pyplot as plt

    # Backtrader draws into pyplot figure number ``figid``, reusing it if open: take a free number
    figid = max(plt.get_fignums(), default=0) + 1
    fig = plotter.plot(strategy, figid=figid, numfigs=1, iplot=False, start=start)[0]
    panels = [(obj, ax, _panel_kind(obj, strategy)) for obj, ax in plotter.pinf.daxis.items()]
    _layout(fig, panels, width, title)
    dates = pd.DatetimeIndex([bt.num2date(x) for x in plotter.pinf.xreal])
    positions, labels = date_ticks(dates)
    bottom = panels[-1][1]
    notes, marks = feed_notes or {}, feed_marks or {}
    for obj, ax, kind in panels:
        ax.set_xticks(positions)
        ax.tick_params(axis="x", labelbottom=ax is bottom)
        is_data = isinstance(obj, bt.AbstractDataBase)
        _tidy_legend(ax, notes.get(obj._name) if is_data else obj.plotinfo.plotname)
        if is_data:  # Backtrader fixes the price range before the fill markers are drawn: let them in
            marked = _size_markers(fig, ax)
            ax.relim()
            ax.set_ymargin(0.12 if kind == "traded" else 0.3 if marked else 0.05)  # a small panel keeps markers whole
            ax.autoscale(enable=True, axis="y", tight=False)
            for day, text in marks.get(obj._name, ()):
                _mark(ax, dates, day, text)
        if kind in ("value", "traded"):  # prices and value compound: a log scale when they span a lot
            _log_if_wide(ax, money=kind == "value")
        elif kind == "indicator":
            _name_levels(ax, obj)
        if kind == "small" and ax.get_yscale() == "linear":
            ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(3))
    bottom.set_xticklabels(labels)
    pad = max(2.0, 0.012 * len(dates))  # a marker on the first or last bar stays whole
    bottom.set_xlim(-pad, len(dates) - 1 + pad)
    return fig


def _log_if_wide(ax, money: bool) -> None:
    """Log scale with round ticks (money on the value panel) when the panel's lines span more than LOG_SCALE_RATIO."""
    import numpy as np

    drawn = [line for line in ax.get_lines() if not line.get_label().startswith("_")]  # "_child": Backtrader's helpers
    values = np.concatenate([np.asarray(line.get_ydata(), dtype=float) for line in drawn] or [np.array([])])
    values = values[np.isfinite(values)]
    if not len(values) or values.min() <= 0 or values.max() / values.min() <= LOG_SCALE_RATIO:
        if money:
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: money_label(v)))
        return
    low, high = ax.get_ylim()
    ax.set_yscale("log")
    ax.set_ylim(max(low, values.min() * 0.9), high)
    ticks = money_ticks(*ax.get_ylim(), min_ticks=4, max_ticks=7)
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
        (lambda v, _: money_label(v)) if money else (lambda v, _: f"{v:,.4g}")))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_ylabel("log scale", fontsize=7, color="#555555")
    ax.yaxis.set_label_position("right")


def _size_markers(fig, ax) -> bool:
    """Fill markers drawn over the lines and sized to their density: at most 7 pt, smaller where many markers
    share the width (mix-50-50's monthly rebalances), so neighbours stay apart instead of merging into a band.
    True when the panel has a marker."""
    import numpy as np

    markers = [line for line in ax.get_lines() if line.get_marker() in ("^", "v")]
    count = sum(int(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).sum()) for line in markers)
    if not count:
        return False
    width_px = ax.get_position().width * fig.get_figwidth() * fig.dpi
    spacing_pt = width_px / max(count, 1) * 72.0 / fig.dpi
    size = float(min(7.0, max(3.0, 0.8 * spacing_pt)))
    for line in markers:
        line.set_markersize(size)
        line.set_zorder(5)
        line.set_markeredgewidth(0.0 if size < 5 else 0.5)
    return True


def _name_levels(ax, indicator) -> None:
    """Y ticks spread over the panel (not only at the levels) and each level line named at the panel's right end:
    the indicator's ``plotinfo.hline_names`` ({level: name}), else the level's value."""
    levels = list(getattr(indicator.plotinfo, "plothlines", None) or [])
    if not levels:
        return
    ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5))
    names = dict(getattr(indicator.plotinfo, "hline_names", None) or {})
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, min(levels)), max(high, max(levels)))
    for level in sorted(set(levels)):
        ax.annotate(names.get(level, f"{level:g}"), xy=(1.0, level), xycoords=("axes fraction", "data"),
                    xytext=(-4, 2), textcoords="offset points", ha="right", va="bottom", fontsize=7, color="#444444",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.8))


def _mark(ax, dates: pd.DatetimeIndex, day, text: str) -> None:
    """A dotted vertical line at ``day`` (the first session on or after it) with ``text`` at its top."""
    position = int(dates.searchsorted(pd.Timestamp(day)))
    if 0 < position < len(dates):
        ax.axvline(position, color="#666666", linestyle=":", linewidth=1)
        ax.annotate(text, xy=(position, 1.0), xycoords=("data", "axes fraction"), xytext=(4, -3),
                    textcoords="offset points", ha="left", va="top", fontsize=7, color="#444444")


def save_backtrader_plot(cerebro, path: str | Path, *, strategy=None, start=None, title: str = "", width: float = 16,
                         feed_notes: dict[str, str] | None = None, feed_marks: dict[str, list] | None = None) -> Path:
    """``backtrader_figure`` saved as PNG (atomically)."""
    import matplotlib.pyplot as plt

    try:
        return save_png(backtrader_figure(cerebro, strategy=strategy, start=start, title=title, width=width,
                                          feed_notes=feed_notes, feed_marks=feed_marks), Path(path))
    finally:
        plt.close("all")


def _panel_kind(obj, strategy) -> str:
    if isinstance(obj, PortfolioDrawdown):
        return "drawdown"
    if isinstance(obj, bt.Observer):
        return "value"
    if isinstance(obj, bt.AbstractDataBase):
        traded = any(
            o.data is obj and any(x == x for line in (o.lines.buy, o.lines.sell) for x in line.array)
            for o in strategy.getobservers() if isinstance(o, bt.observers.BuySell)
        )
        return "small" if getattr(obj.p, "cash", False) or not traded else "traded"
    return "indicator"


def _layout(fig, panels, width: float, title: str) -> None:
    """Stack the panels top to bottom with heights by kind; twin axes follow their panel."""
    heights = [PANEL_INCHES[kind] for _, _, kind in panels]
    title_inches = 0.2 + 0.22 * (title.count("\n") + 1) if title else 0.15
    total = title_inches + BOTTOM_INCHES + sum(heights) + GAP_INCHES * (len(panels) - 1)
    fig.set_size_inches(width, total)
    twins = {ax: [a for a in fig.axes if a is not ax and a.get_position().bounds == ax.get_position().bounds]
             for _, ax, _ in panels}
    top = total - title_inches
    for (_, ax, _), height in zip(panels, heights):
        bounds = (0.04, (top - height) / total, 0.90, height / total)
        for a in (ax, *twins[ax]):
            a.set_position(bounds)
        top -= height + GAP_INCHES
    if title:
        fig.suptitle(title, x=0.04, y=1 - 0.12 / total, ha="left", va="top", fontsize=11)


def _tidy_legend(ax, title: str | None) -> None:
    """One legend entry per line that has data, titled with the panel's name: Backtrader's "name\\n" prefixes
    dropped, "IWM (1 Day) C:219.24" read as "IWM close 219.24"."""
    handles, labels = ax.get_legend_handles_labels()
    seen: dict[str, object] = {}
    for handle, label in zip(handles, labels):
        if hasattr(handle, "get_ydata") and not pd.Series(handle.get_ydata(), dtype=float).notna().any():
            continue  # e.g. "sell" markers on a feed that was only bought
        label = re.sub(r" \(\d+ \w+\) C:", " close ", label.split("\n")[-1])
        label = re.sub(r"(-?\d+\.\d+)$", lambda m: _number(float(m.group(1))), label)  # "value 312,756.68"
        seen.setdefault(label, handle)
    if seen:
        ax.legend(list(seen.values()), list(seen), loc="best", fontsize=8, framealpha=0.85, ncol=len(seen),
                  title=title, title_fontsize=8, alignment="left")




def _number(value: float) -> str:
    """A legend value: thousands separated, 2 decimals (0 from 10,000 up)."""
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:,.2f}"
