"""A self-contained ``report.html`` per command: the comparison (with the tear sheet), the sweep, the walk-forward.

Built from ``reports.html``'s blocks (tables, charts, the packed page); the tear-sheet sections come from
``reports.tearsheet``.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.colors
import numpy as np
import pandas as pd

from engines.params import format_param

from .html import _section, _text, chart, format_cell, html_table, lazy, money_axis, page, section, write_report  # noqa: F401


# -- the comparison -----------------------------------------------------------------------------------------------
def compare_report(results, settings, feeds, claims: pd.DataFrame | None = None, caveat: str | None = None,
                   *, allocation_of: str = "rotation", intervals: tuple | None = None) -> str:
    """The comparison's report: tables, equity/allocation/ratio charts, the tear-sheet sections (``tearsheet``),
    each run's fills and decisions, data sources and notes. Every run is drawn alike, in its own colour
    (``palette.run_colour``, as in the PNGs). ``intervals``: (the figures beside their intervals as a table, the
    note saying how they were made, (main, benchmark, probability that main's Sharpe beats the benchmark's) or None)."""
    import plotly.graph_objects as go

    from .palette import holding_colour, run_colour
    from .plots import NEWSLETTER_LEVELS, allocation_frame, event_styles, signal_events, spy_iwm_ratio, standout_runs
    from .tables import claims_display, comparison_table
    from .html import screen_points
    from .tearsheet import tearsheet_sections

    standout = standout_runs(results, allocation_of)
    table = comparison_table(results)
    sections = [section("Comparison", html_table(table, highlight=sorted(standout)),
                        '<p class="note">Highlighted: the main strategy and the benchmarks.</p>')]
    if intervals is not None:
        interval_table, note, beats = intervals
        sentence = (f"<p>Probability that {_text(beats[0])}'s Sharpe beats {_text(beats[1])}'s: "
                    f"<strong>{beats[2]:.2f}</strong> (share of the same resamples).</p>") if beats else ""
        sections.append(section("How sure are these figures", html_table(interval_table), sentence,
                                f'<p class="note">{_text(note)}.</p>'))
    if claims is not None:
        sections.append(section("Rotation: published claims vs measured", html_table(claims_display(claims)),
                                f'<p class="note">{_text(caveat)}</p>' if caveat else ""))

    equity = go.Figure()
    shown = [r for r in results if len(r.equity)]
    for r in shown:
        points = screen_points(r.equity)
        equity.add_trace(go.Scatter(x=[d.strftime("%Y-%m-%d") for d in points.index], y=points.round(0).tolist(),
                                    name=r.name, mode="lines", line=dict(color=run_colour(r.name), width=1.6),
                                    legendgroup=r.name))
    if shown:
        low = min(float(r.equity.min()) for r in shown)
        high = max(float(r.equity.max()) for r in shown)
        equity.update_layout(yaxis=money_axis(low, high))
    charts = [chart(equity, "equity", 480, title="Equity (log scale)")]

    main = next((r for r in results if r.name == allocation_of), None)
    if main is not None and len(main.weights):
        weights = allocation_frame(main.weights)
        weights = weights.loc[weights.diff().abs().sum(axis=1).ne(0) | (weights.index == weights.index[-1])]  # changes only
        allocation = go.Figure()
        for column in weights.columns:
            allocation.add_trace(go.Scatter(x=[d.strftime("%Y-%m-%d") for d in weights.index],
                                            y=weights[column].round(2).tolist(), name=str(column), stackgroup="weights",
                                            mode="lines", line=dict(width=0.5, shape="hv", color=holding_colour(str(column)))))
        allocation.update_layout(yaxis=dict(title="Weight [%]", range=[0, 105]))
        charts.append(chart(allocation, "allocation", 340, title=f"{allocation_of}: allocation over time"))

    ratio = spy_iwm_ratio(feeds)
    thin = screen_points(ratio)
    ratio_fig = go.Figure(go.Scatter(x=[d.strftime("%Y-%m-%d") for d in thin.index], y=thin.round(4).tolist(),
                                     name="SPY / IWM (raw closes)", line=dict(color="black", width=1)))
    for label, level in NEWSLETTER_LEVELS.items():
        ratio_fig.add_hline(y=level, line=dict(dash="dash", width=1, color="grey"), annotation_text=label,
                            annotation_position="top left")
    symbols = {"^": "triangle-up", "v": "triangle-down", "X": "x", "s": "square", "D": "diamond", "P": "cross"}
    for (label, _, dates, _), (marker, colour) in zip(events := signal_events(results), event_styles(events)):
        points = ratio.reindex(dates)
        ratio_fig.add_trace(go.Scatter(x=[d.strftime("%Y-%m-%d") for d in points.index], y=points.round(4).tolist(),
                                       mode="markers", name=label,
                                       marker=dict(symbol=symbols[marker], size=10, color=matplotlib.colors.to_hex(colour),
                                                   line=dict(width=0.5, color="black"))))
    ratio_fig.update_layout(yaxis=dict(title="SPY / IWM"))
    charts.append(chart(ratio_fig, "ratio", 420, title="SPY/IWM price ratio, the newsletter's levels and the ratio "
                        "strategies' signals"))
    sections.append(section("Charts", *charts))
    sections.extend(tearsheet_sections(results, feeds, settings.benchmark))

    runs = []
    for r in results:
        params = ", ".join(f"{k}={v}" for k, v in r.params.items()) or "defaults"
        trades = html_table(r.trades, index=False, scroll=True) if len(r.trades) else "<p>No fills.</p>"
        decisions = html_table(r.decisions, index=False, scroll=True) if len(r.decisions) else "<p>No decisions recorded.</p>"
        runs.append(lazy(f"{r.name}: {len(r.trades)} fills, {len(r.decisions)} decisions",
                         f"<p class=\"note\">Parameters: {_text(params)}</p><h3>Fills</h3>{trades}<h3>Decisions</h3>{decisions}",
                         key=f"run-{len(runs)}"))
    sections.append(section("Trades and decisions", *runs))
    sections.append(_data_section(feeds, results))
    meta = (f"{feeds.start.date()} .. {feeds.end.date()}, starting cash {settings.cash:,.0f}, commission "
            f"{settings.commission}, per share {settings.commission_per_share}, slippage {settings.slippage}, "
            f"source {_text(settings.source)}")
    return page("Strategy comparison", meta, sections)


def _data_section(feeds, results=()) -> str:
    coverage = html_table(feeds.coverage().astype(str))
    sources = "".join(f"<li>{_text(k)}: {_text(v)}</li>" for k, v in feeds.sources.items())
    notes = list(dict.fromkeys([*feeds.notes, *(n for r in results for n in r.notes)]))
    return _section("Data sources and notes", coverage, f"<ul>{sources}</ul>",
                    f"<ul>{''.join(f'<li>{_text(n)}</li>' for n in notes)}</ul>" if notes else "")


# -- sweep and walk-forward ---------------------------------------------------------------------------------------
HTML_CELLS = (120, 60)  # heatmap cells in the page at most (x, y): more values are grouped, as in the PNG
HTML_ANNOTATED_CELLS = 400  # cells printed in the page's heatmap only up to this many
TOP_SHOWN = 50  # rows of the ranked table in the page


def sweep_report(summary, strategy: str, settings, feeds, *, engine: str = "backtrader",
                 verified: pd.DataFrame | None = None, files: Sequence[str] = (), guard: dict | None = None) -> str:
    """The sweep's report, its size bounded whatever the grid's: the ``TOP_SHOWN`` best combinations (the rest are
    in the results ``files``, linked), the interactive heatmap of the metric over ``summary.x``/``summary.y`` (grouped
    like the PNG beyond ``HTML_CELLS``), the parameter-stability charts, the best re-run on Backtrader when
    ``verified`` is given and the overfitting guard's figures when ``guard`` is. ``summary``:
    ``research.results.SweepSummary``."""
    import plotly.graph_objects as go

    from engines.engine import COMPARISON_COLUMNS

    from .sweep_plots import group_labels, grouped

    metric, grid = summary.metric, summary.grid
    params = list(grid.keys)
    links = ", ".join(f'<a href="{_text(f)}">{_text(f)}</a>' for f in files)
    shown = summary.top.head(TOP_SHOWN).drop(columns=["combination"], errors="ignore")
    shown = shown[[c for c in shown.columns if c in params or c in COMPARISON_COLUMNS]].reset_index(drop=True)
    shown.index = shown.index + 1
    shown.index.name = "rank"
    sections = [_section(f"The {len(shown)} best of {summary.count:,} combinations by {metric}",
                         html_table(shown, scroll=True, param_columns=params),
                         f'<p class="note">Every combination is in {links} (one row each, in grid order).</p>'
                         if links else "")]
    if guard:
        sections.insert(0, luck_section(guard))
    if summary.cells is not None:
        x, y = summary.x, summary.y
        values, x_size = grouped(summary.cells, 1, HTML_CELLS[0])
        values, y_size = grouped(values, 0, HTML_CELLS[1])
        x_labels = group_labels(list(grid.values[grid.keys.index(x)]), x_size)
        y_labels = group_labels(list(grid.values[grid.keys.index(y)]), y_size)
        z = [[None if v != v else round(float(v), 4) for v in row] for row in values]
        annotate = values.size <= HTML_ANNOTATED_CELLS
        trace = dict(z=z, x=x_labels, y=y_labels, colorscale="Viridis", colorbar=dict(title=metric),
                     hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{metric}=%{{z:.2f}}<extra></extra>")
        if annotate:
            trace.update(text=[[format_cell(metric, v) for v in row] for row in values], texttemplate="%{text}")
        grouping = [f"{k} in groups of {n}" for k, n in ((x, x_size), (y, y_size)) if n > 1]
        fig = go.Figure(go.Heatmap(**trace))
        fig.update_layout(title=f"{strategy}: {metric} over {x} and {y}; each cell {summary.aggregated}"
                          + (f" ({', '.join(grouping)})" if grouping else ""),
                          xaxis=dict(title=x, type="category"), yaxis=dict(title=y, type="category", autorange="reversed"),
                          hovermode="closest")
        sections.append(_section("Heatmap", chart(fig, "heatmap", 160 + 22 * max(12, min(len(y_labels), 30)))))
    stability = []
    for spread in summary.spreads:
        labels = group_labels(list(spread.values), 1)
        q = [[None if v != v else round(float(v), 4) for v in spread.quantiles[:, j]] for j in range(spread.quantiles.shape[1])]
        best = [None if v != v else round(float(v), 4) for v in spread.best]
        fig = go.Figure()
        if not bool(np.all(spread.count <= 1)):
            fig.add_trace(go.Scatter(x=labels, y=q[0], mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=labels, y=q[4], mode="lines", line=dict(width=0), fill="tonexty",
                                     fillcolor="rgba(31,119,180,0.15)", name="5-95th percentile"))
            fig.add_trace(go.Scatter(x=labels, y=q[1], mode="lines", line=dict(width=0), showlegend=False, hoverinfo="skip"))
            fig.add_trace(go.Scatter(x=labels, y=q[3], mode="lines", line=dict(width=0), fill="tonexty",
                                     fillcolor="rgba(31,119,180,0.3)", name="25-75th percentile"))
            fig.add_trace(go.Scatter(x=labels, y=q[2], mode="lines", line=dict(color="rgb(31,119,180)"), name="median"))
        fig.add_trace(go.Scatter(x=labels, y=best, mode="lines+markers" if len(labels) <= 40 else "lines",
                                 line=dict(color="black", width=1), name="best"))
        fig.update_layout(title=f"{spread.key}: {metric} over all other parameters, per value", hovermode="x unified",
                          xaxis=dict(type="category"), yaxis=dict(title=metric))  # the heading names the key
        stability.append(chart(fig, f"stability-{len(stability)}", 300))
    sections.append(_section("Parameter stability", *stability,
                             '<p class="note">Per value of each parameter, the spread of the metric over every '
                             "combination of the other parameters (percentiles within 1/1,024 of the metric's range). "
                             "A robust choice has its whole band high, not only its best.</p>"))
    if verified is not None:
        sections.append(_section(f"The {len(verified)} best re-run on the Backtrader engine",
                                 html_table(verified, index=False, param_columns=params)))
    sections.append(_data_section(feeds))
    return page(f"Sweep of {strategy}", f"{feeds.start.date()} .. {feeds.end.date()}, {summary.count:,} combinations, "
                f"metric {_text(metric)}, {_text(engine)} engine, starting cash {settings.cash:,.0f}", sections)


def luck_section(luck: dict) -> str:
    """How much of the sweep's best is luck: the sentence, the figures and the out-of-sample rank distribution."""
    import plotly.graph_objects as go

    spa = luck["SPA"]
    rows = [("Trials", f"{luck['trials']:,}"),
            ("Distinct trials (different daily returns)", f"{luck.get('distinct trials', luck['trials']):,}"),
            (f"Best by {luck['metric']}", ", ".join(f"{k}={format_param(v)}" for k, v in luck["best"].items())),
            ("Sharpe of the best (annualised, excess)", _two(luck["best Sharpe"])),
            ("Best Sharpe expected from luck alone", _two(luck["expected best Sharpe of luck"])),
            ("Deflated Sharpe (probability the true Sharpe > 0)", _two(luck["deflated Sharpe"]))]
    if luck.get("PBO") is not None:
        rows.append((f"PBO (CSCV, {luck['PBO blocks']} blocks, {luck['PBO splits']:,} of {luck['PBO all splits']:,} splits)",
                     _two(luck["PBO"])))
        rows.append(("Median out-of-sample rank of the in-sample best (1 = best)", _two(luck["OOS rank of the IS best"]["median"])))
    else:
        rows.append(("PBO (CSCV)", "n/a"))
    rows.append((f"SPA p-value vs {spa['benchmark']} ({spa['candidates']} candidates)", _two(spa["p-value"])))
    target = luck.get("target")
    if target:
        closest = target["closest"]
        figures = ("CAGR [%]", "Max drawdown [%]", "Sharpe")
        rows.append((f"Trials reaching CAGR >= {target['CAGR at least [%]']}% and drawdown >= {target['max drawdown no worse than [%]']}%",
                     f"{target['trials reaching it']:,}"))
        rows.append(("Closest trial", ", ".join(f"{k}={format_param(v)}" for k, v in closest.items() if k not in figures)))
        rows.append(("Closest trial: CAGR / max drawdown / deflated Sharpe",
                     f"{_two(closest['CAGR [%]'])}% / {_two(closest['Max drawdown [%]'])}% / {_two(target['closest deflated Sharpe'])}"))
    table = pd.DataFrame(rows, columns=["Figure", "Value"]).set_index("Figure")
    parts = [f"<p><strong>{_text(luck['sentence'])}</strong></p>", html_table(table),
             f'<p class="note">SPA: {_text(spa["note"])}. Definitions in the README, "How much of a best is luck".</p>']
    if luck.get("PBO note"):
        parts.append(f'<p class="note">PBO: {_text(luck["PBO note"])}.</p>')
    if luck.get("PBO") is not None:
        bins = luck["OOS rank of the IS best"]["histogram"]
        fig = go.Figure(go.Bar(x=[f"{b['from']:.1f}-{b['to']:.1f}" for b in bins], y=[round(100 * b["share"], 2) for b in bins],
                               marker_color=["#c0392b" if b["to"] <= 0.5 else "#2e86c1" for b in bins]))
        fig.update_layout(xaxis=dict(title="relative rank out of sample (1 = best)", type="category"),
                          yaxis=dict(title="share of splits [%]"))
        parts.append(chart(fig, "pbo-ranks", 320, title="Out-of-sample rank of the in-sample best (red: at or below the median)",
                           legend=False))
    return section("How much of this best is luck", *parts)


def _two(value) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def walkforward_report(table: pd.DataFrame, stitched: pd.Series, benchmark: pd.Series, facts: dict, strategy: str,
                       metric: str, settings, feeds, *, engine: str = "backtrader") -> str:
    """The walk-forward's report: stitched out-of-sample equity against buy and hold, in/out-of-sample bars per
    window, the windows table and the summary."""
    import plotly.graph_objects as go

    equity = go.Figure([
        go.Scatter(x=stitched.index, y=stitched.round(2), name=f"{strategy}, stitched out of sample", line=dict(width=2)),
        go.Scatter(x=benchmark.index, y=benchmark.round(2), name=str(benchmark.name), line=dict(width=1.2, color="grey")),
    ])
    for i, period in enumerate(table["out-of-sample"]):
        first, last = period.split("..")
        if i % 2 == 0:
            equity.add_vrect(x0=first, x1=last, fillcolor="#4c72b0", opacity=0.06, line_width=0)
    low = min(float(stitched.min()), float(benchmark.min()))
    high = max(float(stitched.max()), float(benchmark.max()))
    equity.update_layout(title="Stitched out-of-sample equity (shaded: alternate out-of-sample windows)",
                         yaxis=money_axis(low, high))
    years = [(p.split("..")[0][:4], p.split("..")[1][:4]) for p in table["out-of-sample"]]
    windows = [first if first == last else f"{first}-{last}" for first, last in years]
    if "chosen params" in table.columns:  # each window with the parameters chosen for it
        windows = [f"{w}<br>" + "<br>".join(_text(p).split(", ")) for w, p in zip(windows, table["chosen params"])]
    bars = go.Figure([
        go.Bar(x=windows, y=table[f"in-sample {metric}"], name="in-sample best"),
        go.Bar(x=windows, y=table[f"out-of-sample {metric}"], name="out of sample"),
    ])
    bars.update_layout(title=f"{metric}: in-sample best vs out of sample, per window, with the parameters chosen", barmode="group",
                       xaxis=dict(title="out-of-sample window and chosen parameters", type="category", tickangle=0,
                                  tickfont=dict(size=10)), yaxis=dict(title=metric))
    summary = pd.DataFrame({"value": facts}).rename_axis("summary")
    sections = [
        _section("Summary", html_table(summary)),
        _section("Charts", chart(equity, "equity", 460), chart(bars, "windows", 420, legend="above")),
        _section("Windows", html_table(table, index=False, pin=True, param_columns=[
            c for c in table.columns if c not in ("in-sample", "out-of-sample", "chosen params")
            and not str(c).startswith(("in-sample ", "out-of-sample "))])),
        _data_section(feeds),
    ]
    return page(f"Walk-forward of {strategy}", f"{feeds.start.date()} .. {feeds.end.date()}, metric {_text(metric)}, "
                f"in-sample search: {_text(engine)} engine, out-of-sample runs: backtrader engine, "
                f"starting cash {settings.cash:,.0f}", sections)
