"""The figures read as a quant reads them: dates on the x-axis, a title naming the run, a marker set on every
traded feed, panels sized by what they show. Short periods keep these fast."""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from feeds import prepare_feeds
from runner.engine import RunSettings, build_run, execute
from runner.plots import backtrader_figure, backtrader_title, date_ticks

START, END = "2019-06-01", "2021-06-30"


@pytest.fixture(scope="module")
def feeds():
    return prepare_feeds(START, END)


def _figure(name: str, feeds):
    entry, params, cerebro = build_run(name, feeds, RunSettings(start=START, end=END), for_plot=True)
    strategy = execute(entry, cerebro)
    title = backtrader_title(name, params, feeds.start, feeds.end)
    fig = backtrader_figure(cerebro, start=feeds.start.date(), title=title)
    traded = {o.data._name for o in strategy._orders if o.executed.size}  # Backtrader's own order book
    return fig, traded, params


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
def test_backtrader_plot_has_dates_title_and_a_marker_set_per_traded_feed(name, feeds):
    fig, traded, params = _figure(name, feeds)
    try:
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
    finally:
        plt.close(fig)


def test_backtrader_plot_panels_are_sized_by_kind(feeds):
    fig, _, _ = _figure("ratio-pair", feeds)
    try:
        heights = {}
        for ax in fig.axes:
            legend = ax.get_legend()
            key = (legend.get_title().get_text() or legend.get_texts()[0].get_text().split(" close")[0]) if legend else None
            heights[key] = ax.get_position().height * fig.get_figheight()
        assert heights["Portfolio value"] >= 2.5  # inches: a value panel one can read
        assert heights["SPY"] >= 2.0 and heights["IWM"] >= 2.0
        assert heights["SGOV"] < heights["SPY"] / 2  # the cash sleeve is small
        assert heights["SPY/IWM ratio"] >= 1.4  # level labels 1.95 / 2.13 / 2.35 do not collide
        assert "VIX" not in heights  # the signal-only feed gets no panel
        legend_labels = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        assert not any("BuySell" in s or "(None)" in s or "\n" in s for s in legend_labels)
    finally:
        plt.close(fig)


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
    assert labels[:3] == ["2011", "2012", "2013"] and len(labels) == 14
    assert all(days[p].year != days[p - 1].year for p in positions)
    short = pd.bdate_range("2021-01-04", "2021-06-30")
    _, labels = date_ticks(short)
    assert labels == ["2021-02", "2021-03", "2021-04", "2021-05", "2021-06"]


def test_backend_is_not_switched_by_the_backtrader_import():
    before = matplotlib.get_backend()
    from runner.plots import import_backtrader_plot

    import_backtrader_plot()
    assert matplotlib.get_backend() == before
