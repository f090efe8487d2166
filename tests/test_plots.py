"""The figures read as a quant reads them: dates on the x-axis, a title naming the run, a marker set on every
traded feed, panels sized by what they show. Short periods keep these fast."""
from __future__ import annotations

import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from feeds import prepare_feeds
from engines.engine import RunSettings, build_run, execute, feed_labels
from engines.btplot import backtrader_figure, backtrader_title, date_ticks

START, END = "2019-06-01", "2021-06-30"


@pytest.fixture(scope="module")
def feeds():
    return prepare_feeds(START, END)


@pytest.fixture(scope="module")
def figures(feeds):
    """Backtrader's figure of a run (built once per module), the feeds Backtrader filled orders on, the params."""
    made: dict[str, tuple] = {}

    def make(name: str):
        if name not in made:
            entry, params, cerebro = build_run(name, feeds, RunSettings(start=START, end=END), for_plot=True)
            strategy = execute(entry, cerebro)
            title = backtrader_title(name, params, feeds.start, feeds.end)
            fig = backtrader_figure(cerebro, start=feeds.start.date(), title=title, **feed_labels(feeds))
            made[name] = (fig, {o.data._name for o in strategy._orders if o.executed.size}, params)  # Backtrader's own order book
        return made[name]

    yield make
    for fig, _, _ in made.values():
        plt.close(fig)


def _marker_sets(fig) -> dict[str, set[str]]:
    """Per panel (its first legend entry), the markers drawn with at least one point."""
    found: dict[str, set[str]] = {}
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        name = legend.get_texts()[0].get_text()
        for line in ax.get_lines():
            ys = pd.Series(line.get_ydata(), dtype=float)
            if line.get_marker() in ("^", "v") and ys.notna().any():
                found.setdefault(name, set()).add(line.get_marker())
    return found


@pytest.mark.parametrize("name", ["ratio-pair", "rotation"])
def test_backtrader_plot_has_dates_title_and_a_marker_set_per_traded_feed(name, feeds, figures):
    fig, traded, params = figures(name)
    assert fig._suptitle is not None
    title = fig._suptitle.get_text()
    assert name in title and f"{feeds.start.date()} .. {feeds.end.date()}" in title
    assert all(f"{k}={v}" in title.replace("\n", " ") for k, v in params.items())
    bottom = min(fig.axes, key=lambda ax: ax.get_position().y0)
    labels = [t.get_text() for t in bottom.get_xticklabels() if t.get_text()]
    assert len(labels) >= 4
    dates = pd.to_datetime(labels, format="mixed")
    assert dates.is_monotonic_increasing
    assert pd.Timestamp(START) <= dates[0] and dates[-1] <= pd.Timestamp(END)
    fig.canvas.draw()
    shown = [ax for ax in fig.axes if any(t.get_visible() and t.get_text() for t in ax.xaxis.get_ticklabels())]
    assert shown == [bottom]  # only the bottom panel shows the dates
    markers = _marker_sets(fig)
    panels = {label.split(" close")[0]: marks for label, marks in markers.items()}
    assert set(panels) == traded, (panels, traded)
    if name == "ratio-pair":  # the pair shorts SPY: its sell markers must show
        assert {"^", "v"} <= panels["SPY"] and traded == {"IWM", "SPY", "SGOV"}


def test_backtrader_plot_panels_are_sized_by_kind(figures):
    fig, _, _ = figures("ratio-pair")
    heights = {}
    for ax in fig.axes:
        legend = ax.get_legend()
        title = legend.get_title().get_text() if legend else ""
        key = (title if title and not title.startswith("cash sleeve") else legend.get_texts()[0].get_text().split(" close")[0]) if legend else None
        heights[key] = ax.get_position().height * fig.get_figheight()
    assert heights["Portfolio value"] >= 2.5  # inches: a value panel one can read
    assert heights["SPY"] >= 2.0 and heights["IWM"] >= 2.0
    assert heights["SGOV"] < heights["SPY"] / 2  # the cash sleeve is small
    assert heights["SPY/IWM ratio"] >= 1.4  # level labels 1.95 / 2.13 / 2.35 do not collide
    assert "VIX" not in heights  # the signal-only feed gets no panel where it plays no part
    legend_labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert not any("BuySell" in s or "(None)" in s or "\n" in s for s in legend_labels)


def test_rotation_shows_vix_small_with_its_filter_level(figures):
    fig, traded, _ = figures("rotation")
    vix = next(ax for ax in fig.axes if ax.get_legend() and ax.get_legend().get_texts()[0].get_text().startswith("VIX"))
    spy = next(ax for ax in fig.axes if ax.get_legend() and ax.get_legend().get_texts()[0].get_text().startswith("SPY"))
    assert vix.get_position().height < spy.get_position().height / 2 and "VIX" not in traded
    level = [line for line in vix.get_lines() if line.get_label() == "VIX filter 30"]
    assert level and set(pd.Series(level[0].get_ydata()).dropna()) == {30.0}


def test_rotation_relative_strength_panel_is_the_return_spread(feeds, raw_csv):
    entry, params, cerebro = build_run("rotation", feeds, RunSettings(start=START, end=END))
    strategy = execute(entry, cerebro)
    line = strategy.spread.lines.spread
    spread_last = line[0]
    # independently from the CSVs: 63-session total returns, IWM minus SPY, in percent
    adj = {s: raw_csv(s)["Adj Close"] for s in ("IWM", "SPY")}
    sessions = adj["SPY"].loc[:END].index
    last = sessions[-1]
    ret = {s: adj[s].loc[last] / adj[s].loc[sessions[-64]] - 1 for s in adj}
    assert spread_last == pytest.approx(100 * (ret["IWM"] - ret["SPY"]), rel=1e-9)
    assert type(strategy.spread).plotinfo.plothlines == [0.0]


def test_date_ticks_pick_calendar_boundaries():
    days = pd.bdate_range("2010-01-01", "2024-12-31")
    positions, labels = date_ticks(days)
    assert labels[:3] == ["2010-01-01", "2011", "2012"] and labels[-1] == "2024" and len(labels) == 15
    assert positions[0] == 0 and all(days[p].year != days[p - 1].year for p in positions[1:])
    short = pd.bdate_range("2021-01-04", "2021-06-30")
    _, labels = date_ticks(short)
    assert labels == ["2021-01-04", "2021-02", "2021-03", "2021-04", "2021-05", "2021-06"]
    # a boundary right after the first session is left out, not printed over it
    positions, labels = date_ticks(pd.bdate_range("2010-12-28", "2012-06-30"))
    assert labels[0] == "2010-12-28" and "2011-01" not in labels and positions[1] > 10


def test_backend_is_not_switched_by_the_backtrader_import():
    before = matplotlib.get_backend()
    from engines.btplot import import_backtrader_plot

    import_backtrader_plot()
    assert matplotlib.get_backend() == before


@pytest.fixture(scope="module")
def results(feeds):
    from engines.compare import compare

    return compare(["rotation", "ratio-pair", "buy-hold-spy", "ratio-rotation"], feeds, RunSettings(start=START, end=END),
                   jobs=1, progress=lambda line: None)


def test_comparison_figure_reads(results, feeds):
    from reports.plots import comparison_figure

    fig = comparison_figure(results)
    try:
        top = fig.axes[0]
        assert f"{feeds.start.date()} .. {feeds.end.date()}" in top.get_title(loc="left")  # the measured period
        from reports.palette import run_colour

        lines = {line.get_label(): line for line in top.get_lines()}
        assert len({line.get_linewidth() for line in lines.values()}) == 1  # every run drawn alike
        assert {name: matplotlib.colors.to_hex(line.get_color()) for name, line in lines.items()} == \
            {r.name: run_colour(r.name) for r in results}  # the palette shared with report.html
        fig.canvas.draw()
        ticks = [t.get_text() for t in top.get_yticklabels() if t.get_text()]
        assert len(ticks) >= 4 and all(re.fullmatch(r"\$[\d.]+[kM]?", t) for t in ticks)  # money on the log axis
        assert _gaps_inches(fig) < 1.0  # no empty band between panels or at the bottom
        drawdowns = [ax for ax in fig.axes if ax.get_ylabel() == "DD [%]" or "max drawdown" in ax.get_title(loc="left")]
        assert len(drawdowns) == len(results)  # small multiples, one per run
        spy = next(r for r in results if r.name == "buy-hold-spy")
        worst = 100 * (spy.equity / spy.equity.cummax() - 1).min()
        assert f"buy-hold-spy: max drawdown {worst:.1f}%" in " ".join(ax.get_title(loc="left") for ax in drawdowns)
        allocation = fig.axes[-1]
        legend = allocation.get_legend()
        assert legend.get_bbox_to_anchor().x0 >= allocation.get_window_extent().x1 - 1  # outside the bands
        labels = [t.get_text() for t in legend.get_texts()]
        assert "SGOV + cash" in labels and "cash" not in labels
    finally:
        plt.close(fig)


def _gaps_inches(fig) -> float:
    """The tallest vertical stretch of the figure (in inches) that no axes covers, below the top axes."""
    spans = sorted((ax.get_position().y0, ax.get_position().y1) for ax in fig.axes)
    covered, worst = 0.0, 0.0
    for y0, y1 in spans:
        worst = max(worst, y0 - covered)
        covered = max(covered, y1)
    return worst * fig.get_figheight()


def test_comparison_figure_without_rotation_has_no_allocation_band(results):
    from reports.plots import comparison_figure

    fig = comparison_figure([r for r in results if r.name != "rotation"])
    try:
        assert not [ax for ax in fig.axes if "allocation" in ax.get_title(loc="left")]
        assert _gaps_inches(fig) < 1.0
    finally:
        plt.close(fig)


def test_ratio_figure_marks_entries_and_exits_from_the_trades(feeds, results):
    from reports.plots import ratio_figure

    fig = ratio_figure(feeds, results=results)
    try:
        ax = fig.axes[0]
        assert ax.get_ylabel() and ax.get_xlabel() == "date"
        # independently: the fixed-level runs' entry sessions, read off their fills
        pair = next(r for r in results if r.name == "ratio-pair").trades
        entries = sorted(pd.DatetimeIndex(pair.loc[pair["reason"] == "entry", "date"]).unique())
        assert entries, "the period must contain ratio entries"
        scatter = {c.get_label(): c for c in ax.collections if c.get_label().startswith("entry")}
        label = next(k for k in scatter if "ratio-pair" in k)
        assert "ratio-rotation" in label  # identical signals share one marker set
        xs = sorted(matplotlib.dates.num2date(x).replace(tzinfo=None) for x, _ in scatter[label].get_offsets())
        assert [pd.Timestamp(x) for x in xs] == list(entries)
        exits = [c for c in ax.collections if not c.get_label().startswith(("entry", "_"))]
        assert exits and sum(len(c.get_offsets()) for c in exits) >= len(entries) - 1
    finally:
        plt.close(fig)


def test_heatmap_labels_off_two_decimals_and_metric_title():
    from reports.sweep_plots import heatmap_figure

    cells = np.array([[0.671, 0.6923], [0.7049, 0.7412]])  # rows: vix_level 30, off; columns: lookback 21, 63
    fig = heatmap_figure(cells, [21, 63], [30.0, None], "lookback", "vix_level", "Sharpe", aggregated="the best over cash_rule")
    try:
        ax = fig.axes[0]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["30", "off"]
        assert [t.get_text() for t in ax.get_xticklabels()] == ["21", "63"]
        assert sorted(t.get_text() for t in ax.texts) == ["0.67", "0.69", "0.70", "0.74"]
        assert "Sharpe" in ax.get_title("left") and "each cell: the best over cash_rule" in ax.get_title("left")
        assert fig.get_size_inches()[0] * fig.dpi >= 700
    finally:
        plt.close(fig)


def test_heatmap_of_a_big_grid_stays_readable():
    """10,000 x 40 cells: at most 2,000 px wide, no printed cells, thinned ticks, columns grouped into their best."""
    from reports.sweep_plots import MAX_CELLS_X, MAX_WIDTH_PX, heatmap_figure

    cells = np.arange(40 * 10_000, dtype=float).reshape(40, 10_000)
    cells[3, :] = np.nan
    fig = heatmap_figure(cells, list(range(10_000)), [i / 40 for i in range(40)], "lookback", "allocation", "CAGR [%]",
                         aggregated="the best over vix_level")
    try:
        ax = fig.axes[0]
        assert fig.get_size_inches()[0] * fig.dpi <= MAX_WIDTH_PX
        assert not ax.texts  # cells too small to print
        shown = ax.get_images()[0].get_array()
        assert shown.shape == (40, MAX_CELLS_X) and shown.mask[3].all()
        size = 10_000 // MAX_CELLS_X
        assert shown[0, 1] == cells[0, 2 * size - 1]  # each column the best of its group of adjacent values
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert 5 <= len(labels) <= 70 and labels[0] == f"0..{size - 1}"
        assert len(ax.get_yticklabels()) <= 40
        assert "groups of 25 adjacent values" in ax.get_xlabel() and "values in the colour bar only" in ax.get_title("left")
    finally:
        plt.close(fig)


def test_walkforward_figure_has_benchmark_windows_and_ticks(feeds):
    from research.walkforward import buy_and_hold
    from reports.plots import walkforward_figure

    index = feeds.sessions[(feeds.sessions >= "2020-01-01") & (feeds.sessions <= "2021-06-30")]
    stitched = pd.Series([100_000 * 1.0004 ** i for i in range(len(index))], index=index)
    table = pd.DataFrame({"in-sample": ["2019-06-01..2019-12-31", "2019-06-01..2020-12-31"],
                          "out-of-sample": ["2020-01-01..2020-12-31", "2021-01-01..2021-06-30"],
                          "lookback": [21, 63], "chosen params": ["lookback=21", "lookback=63"],
                          "in-sample CAGR [%]": [12.0, 9.0], "out-of-sample CAGR [%]": [5.0, -3.0]})
    benchmark = buy_and_hold(feeds, "SPY", index, 100_000)
    spy = feeds.bars["SPY"]["close"]
    assert benchmark.iloc[-1] == pytest.approx(100_000 * spy.loc[index[-1]] / spy.loc[index[0]])
    fig = walkforward_figure(stitched, table, "CAGR [%]", benchmark, strategy="rotation", grid={"lookback": [21, 63]})
    try:
        top = fig.axes[0]
        title = fig._suptitle.get_text().replace("\n", " ")
        assert "rotation" in title and "lookback=21,63" in title and "CAGR [%]" in title  # strategy, grid, metric
        bars = fig.axes[1]
        assert [t.get_text() for t in bars.get_xticklabels()] == ["2020\nlookback=21", "2021\nlookback=63"]  # chosen
        assert "buy and hold SPY (total return)" in [line.get_label() for line in top.get_lines()]
        fig.canvas.draw()
        assert len([t for t in top.get_yticklabels() if t.get_text()]) >= 4
        shaded = [p for p in top.patches]
        assert len(shaded) == len(table) + 1  # each out-of-sample window and the first in-sample one
        assert [t.get_text() for t in top.texts] == ["OOS 2020", "OOS 2021"]
    finally:
        plt.close(fig)


def _panel(fig, text: str):
    return next(ax for ax in fig.axes if ax.get_legend() and (text in (ax.get_legend().get_title().get_text() or "")
                                                            or ax.get_legend().get_texts()[0].get_text().startswith(text)))


def test_backtrader_plot_drawdown_log_scales_legend_values_and_named_levels(figures, feeds):
    fig, _, _ = figures("ratio-pair")
    value = _panel(fig, "Portfolio value")
    line = next(l for l in value.get_lines() if not l.get_label().startswith("_"))
    values = pd.Series(line.get_ydata(), dtype=float).dropna()
    # the drawdown panel: independently, the value line's fall from its running peak, in percent
    drawdown = _panel(fig, "Drawdown [%]")
    dd = pd.Series(next(l for l in drawdown.get_lines() if not l.get_label().startswith("_")).get_ydata(), dtype=float).dropna()
    assert len(dd) == len(values) and abs(dd.min() - 100 * (values / values.cummax() - 1).min()) < 1e-6
    assert drawdown.get_position().height < value.get_position().height
    # legend values formatted: "value 116,688" style, never "value 116688.01"
    label = value.get_legend().get_texts()[0].get_text()
    assert re.fullmatch(r"value [\d,]+(\.\d\d)?", label) and ("," in label or float(label.split()[1]) < 1000)
    # traded prices spanning more than x2 are on a log scale with round ticks
    iwm = _panel(fig, "IWM")
    prices = feeds.bars["IWM"]["close"].loc[feeds.start:feeds.end]
    assert prices.max() / prices.min() > 2 and iwm.get_yscale() == "log"
    fig.canvas.draw()
    assert len([t for t in iwm.get_yticklabels() if t.get_text()]) >= 4
    # the ratio panel: ticks spread over the panel, every level line named
    ratio = _panel(fig, "SPY/IWM ratio")
    assert len(ratio.get_yticks()) >= 4 and not set(ratio.get_yticks()) <= {1.95, 2.13, 2.35}
    names = {t.get_text() for t in ratio.texts}
    assert {"target 1.95", "zone low 2.13", "zone high / stop 2.35"} <= names
    # the cash panel says what it holds (BIL before SGOV's first bar, SGOV after)
    assert "BIL" in _panel(fig, "cash sleeve").get_legend().get_title().get_text()


def test_dense_fill_markers_shrink_and_stay_apart():
    """mix-50-50 rebalances monthly: over 15 years its markers shrink so that neighbours do not merge."""
    from engines.btplot import _size_markers

    fig, ax = plt.subplots(figsize=(16, 3))
    try:
        x = list(range(0, 3600, 20))  # 180 markers
        sparse, = ax.plot([10, 2000], [1, 1], marker="^", linestyle="", markersize=7)
        dense, = ax.plot(x, [2] * len(x), marker="v", linestyle="", markersize=7)
        _size_markers(fig, ax)
        size = dense.get_markersize()
        width_pt = ax.get_position().width * fig.get_figwidth() * 72
        assert 3.0 <= size < 7.0 and size < width_pt / 182  # less than the room per marker
        assert sparse.get_zorder() > 2  # drawn over the price line
    finally:
        plt.close(fig)


def test_a_feed_the_strategy_reads_gets_a_panel(feeds, clean_registry):
    """A user's strategy that reads VIX through the safe accessors gets a VIX panel (no declaration needed)."""
    from strategies import PortfolioStrategy, register

    @register("vix-reader-test", description="SPY when VIX < 25, else cash")
    class VixReader(PortfolioStrategy):
        def next_open(self) -> None:
            if self.is_rebalance_day():
                self.rebalance({"SPY": 1.0} if self.last_close("VIX") < 25 else {"SGOV": 1.0})

    entry, params, cerebro = build_run("vix-reader-test", feeds, RunSettings(start=START, end=END), for_plot=True)
    execute(entry, cerebro)
    fig = backtrader_figure(cerebro, start=feeds.start.date())
    try:
        assert _panel(fig, "VIX")
    finally:
        plt.close(fig)
