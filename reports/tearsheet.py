"""The tear-sheet sections of the comparison's report.html: monthly and yearly returns, rolling Sharpe, worst
drawdowns with the underwater chart, round-trip trades, and risk and benchmark statistics.

Every figure comes from ``analyzers`` (calendar_returns, rolling, drawdowns, roundtrips, relative, distribution);
this module only lays them out (``html.chart``, ``html.html_table``).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analyzers.calendar_returns import MONTHS, monthly_table, yearly_returns
from analyzers.distribution import distribution_figures
from analyzers.drawdowns import underwater, worst_drawdowns
from analyzers.relative import relative_figures
from analyzers.rolling import WINDOWS, rolling_figures
from analyzers.roundtrips import round_trips, trade_stats
from analyzers.stats import monthly_returns

from .html import chart, html_table, lazy, screen_points, section
from .palette import run_colour

TOP_DRAWDOWNS = 5


def _dates(index) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.DatetimeIndex(index)]


def _values(series: pd.Series, digits: int) -> list:
    return [None if v != v else round(float(v), digits) for v in series.to_numpy(dtype=float)]


def _line(go, series: pd.Series, name: str, digits: int = 3, **extra):
    shown = screen_points(series)
    return go.Scatter(x=_dates(shown.index), y=_values(shown, digits), name=name, mode="lines",
                      line=dict(color=run_colour(name), width=1.6), legendgroup=name, **extra)


def benchmark_curves(results, feeds, symbol: str) -> dict[str, pd.Series]:
    """Per run, buy and hold of ``symbol``'s total-return close on the run's equity dates (None when not a feed)."""
    if symbol not in feeds.bars:
        return {}
    close = feeds.bars[symbol]["close"]
    return {r.name: close.reindex(r.equity.index, method="ffill") for r in results if len(r.equity) > 1}


def monthly_section(results) -> str:
    """"Monthly returns": a heatmap per run (years x months, %) and the distribution of monthly returns."""
    import plotly.graph_objects as go

    shown = [r for r in results if len(r.equity) > 1]
    maps = []
    for r in shown:
        grid = monthly_table(r.equity)
        columns = list(MONTHS) + ["Year"]
        z = grid[columns].to_numpy(dtype=float)
        text = [["" if v != v else f"{v:.1f}".replace("-0.0", "0.0") for v in row] for row in z]
        months = z.copy()
        months[:, -1] = np.nan  # the year's column is written, not coloured on the months' scale
        limit = float(np.nanmax(np.abs(months[:, :-1]))) if np.isfinite(months[:, :-1]).any() else 1.0
        fig = go.Figure(go.Heatmap(
            z=[[None if v != v else round(v, 2) for v in row] for row in months], x=columns, y=[str(y) for y in grid.index],
            text=text, texttemplate="%{text}", textfont=dict(size=10), colorscale="RdYlGn", zmid=0, zmin=-limit, zmax=limit,
            hovertemplate="%{y} %{x}: %{text}%<extra></extra>", showscale=False, xgap=1, ygap=1))
        fig.update_layout(xaxis=dict(type="category"), yaxis=dict(type="category", autorange="reversed"),
                          hovermode="closest", showlegend=False)
        maps.append(chart(fig, f"monthly-{len(maps)}", 60 + 22 * max(4, len(grid)), title=f"{r.name}: monthly returns [%]",
                          legend=False))
    box = go.Figure()
    for r in shown:
        months = 100 * monthly_returns(r.equity)
        box.add_trace(go.Box(y=_values(months, 3), name=r.name, marker=dict(color=run_colour(r.name), size=3),
                             line=dict(width=1.2), boxpoints="all", jitter=0.4, pointpos=0,
                             hovertemplate="%{y:.2f}%<extra>" + r.name + "</extra>"))
    box.update_layout(yaxis=dict(title="Monthly return [%]", zeroline=True), showlegend=False, hovermode="closest")
    return section("Monthly returns", '<div class="grid">' + "".join(maps) + "</div>",
                   chart(box, "monthly-distribution", 380, title="Distribution of monthly returns [%] (box: quartiles, "
                         "whiskers: 1.5 x IQR, dots: every month)", legend=False))


def yearly_section(results, benchmarks: dict, symbol: str) -> str:
    """"Yearly returns": each calendar year's return of every run and of buy and hold of the benchmark feed."""
    import plotly.graph_objects as go

    shown = [r for r in results if len(r.equity) > 1]
    if not shown:
        return ""
    table = pd.DataFrame({r.name: yearly_returns(r.equity) for r in shown})
    bench_name = f"{symbol} buy and hold"
    first = benchmarks.get(shown[0].name)
    if first is not None:
        table.insert(0, bench_name, yearly_returns(first))
    table.index.name = "Year"
    fig = go.Figure()
    for r in shown:
        fig.add_trace(go.Bar(x=[str(y) for y in table.index], y=_values(table[r.name], 2), name=r.name,
                             marker=dict(color=run_colour(r.name))))
    if first is not None:
        fig.add_trace(go.Scatter(x=[str(y) for y in table.index], y=_values(table[bench_name], 2), name=bench_name,
                                 mode="markers", marker=dict(symbol="line-ew-open", size=28, color="black",
                                                             line=dict(width=3, color="black"))))
    fig.update_layout(barmode="group", xaxis=dict(type="category"), yaxis=dict(title="Return [%]"), hovermode="x unified")
    shown_table = table.map(lambda v: v)  # numbers, formatted by html_table
    return section("Yearly returns",
                   chart(fig, "yearly", 420, title=f"Calendar-year returns [%] against buy and hold of {symbol} "
                         "(black bar: the benchmark)"),
                   html_table(shown_table, pin=True),
                   f'<p class="note">Each year from the previous year\'s last close (the first year from the starting '
                   f'value); {_escape(bench_name)}: the total-return close of {_escape(symbol)}.</p>')


def rolling_section(results) -> str:
    """"Rolling Sharpe": 6- and 12-month Sharpe and volatility per run."""
    import plotly.graph_objects as go

    shown = [r for r in results if len(r.equity) > 1]
    figures = {r.name: rolling_figures(r.equity) for r in shown}
    charts = []
    for kind, unit in (("Sharpe", "Sharpe"), ("Volatility [%]", "Volatility [%]")):
        for label, sessions in WINDOWS.items():
            fig = go.Figure()
            for r in shown:
                series = figures[r.name][f"{kind} {label}"].dropna()
                if len(series):
                    fig.add_trace(_line(go, series, r.name, 2))
            if not fig.data:  # every run shorter than the window: nothing to draw
                continue
            fig.update_layout(yaxis=dict(title=unit))
            charts.append(chart(fig, f"rolling-{'sharpe' if kind == 'Sharpe' else 'vol'}-{sessions}", 360,
                                title=f"Rolling {label} ({sessions} sessions) {kind.lower() if kind != 'Sharpe' else 'Sharpe'}"))
    if not charts:
        charts.append(f'<p class="note">Every run is shorter than the shortest window ({min(WINDOWS.values())} '
                      'sessions): no rolling figure.</p>')
    return section("Rolling Sharpe", '<div class="grid">' + "".join(charts) + "</div>",
                   '<p class="note">Sharpe: mean / standard deviation of session returns x sqrt(252) over the trailing '
                   'window (no risk-free rate); volatility: that standard deviation x sqrt(252).</p>')


def drawdown_section(results) -> str:
    """"Worst drawdowns": the deepest drawdowns of each run and the underwater chart."""
    import plotly.graph_objects as go

    shown = [r for r in results if len(r.equity) > 1]
    fig = go.Figure()
    for r in shown:
        fig.add_trace(_line(go, underwater(r.equity), r.name, 2, fill=None))
    fig.update_layout(yaxis=dict(title="Drawdown [%]"))
    frames = []
    for r in shown:
        table = worst_drawdowns(r.equity, TOP_DRAWDOWNS)
        if len(table):
            frames.append(table.reset_index().assign(Run=r.name))
    if frames:
        table = pd.concat(frames, ignore_index=True)
        table = table[["Run", "rank", "Start", "Trough", "Recovery", "Depth [%]", "Length [sessions]", "Recovery [sessions]", "Days"]]
        table = table.assign(Recovery=[("not yet" if pd.isna(v) else v) for v in table["Recovery"]]).set_index("Run")
        listing = html_table(table, pin=True, scroll=True)
    else:
        listing = "<p>No drawdown.</p>"
    return section("Worst drawdowns", chart(fig, "underwater", 380, title="Underwater: drawdown from the running peak [%]"),
                   f"<h3>The {TOP_DRAWDOWNS} deepest drawdowns of each run</h3>", listing,
                   '<p class="note">Start: the peak; Recovery: the first close back at the peak; Length: sessions from the '
                   'peak to the recovery (to the last session while under water); Days: calendar days.</p>')


def trades_section(results, feeds) -> str:
    """"Round-trip trades": each run's fills matched into round trips (FIFO), with trade statistics."""
    stats, listings = {}, []
    for r in results:
        if not len(r.equity):
            continue
        last = r.equity.index[-1]
        prices = {s: float(feeds.bars[s]["close"].reindex([last], method="ffill").iloc[0])
                  for s in (set(r.trades["symbol"]) if len(r.trades) else ()) if s in feeds.bars}
        trips = round_trips(r.trades, prices, last) if len(r.trades) else round_trips([])
        stats[r.name] = trade_stats(trips)
        if len(trips):
            shown = trips.assign(Open=trips["Open"].map({True: "open", False: ""}))
            listings.append(lazy(f"{r.name}: {stats[r.name]['Trades']} round trips, {stats[r.name]['Open trades']} open",
                                 html_table(shown, index=False, scroll=True)))
    table = pd.DataFrame.from_dict(stats, orient="index").rename_axis("Run")
    return section("Round-trip trades", html_table(table, pin=True),
                   '<p class="note">Fills matched first in, first out per symbol: a sell closes the oldest open buys '
                   '(a buy the oldest shorts); commissions shared by shares. Open positions are marked at the last close '
                   '(total-return price) and left out of the statistics. Profit factor: gross profit / gross loss.</p>',
                   *listings)


def statistics_section(results, benchmarks: dict, symbol: str) -> str:
    """Risk and benchmark statistics: alpha, beta, information ratio, correlation, VaR/CVaR, skew, kurtosis, best and
    worst day and month; one column per run."""
    rows = {}
    for r in results:
        if len(r.equity) < 3:
            continue
        figures = {}
        bench = benchmarks.get(r.name)
        if bench is not None:
            figures.update(relative_figures(r.equity, bench))
        figures.update(distribution_figures(r.equity))
        rows[r.name] = figures
    if not rows:
        return ""
    table = pd.DataFrame(rows)
    table.index.name = "Statistic"
    return section("Risk and benchmark statistics", html_table(table, pin=True),
                   f'<p class="note">Against buy and hold of {_escape(symbol)} (total return), on session returns: beta '
                   'and alpha (annualised intercept, no risk-free rate) from the least-squares line, information ratio = '
                   'mean / std of the return difference x sqrt(252). VaR and CVaR: historical, one session at 95% '
                   '(the 5% quantile of session returns and the mean of those at or below it). Kurtosis: excess '
                   '(0 for a normal).</p>')


def _escape(text) -> str:
    import html

    return html.escape(str(text))


def tearsheet_sections(results: Sequence, feeds, benchmark: str) -> list[str]:
    """The tear-sheet sections in reading order."""
    benchmarks = benchmark_curves(results, feeds, benchmark)
    return [s for s in (
        monthly_section(results),
        yearly_section(results, benchmarks, benchmark),
        rolling_section(results),
        drawdown_section(results),
        trades_section(results, feeds),
        statistics_section(results, benchmarks, benchmark),
    ) if s]
