"""A self-contained ``report.html`` per run: tables and interactive plotly charts, plotly.js inlined once.

The page opens offline from the output folder with no file beside it: no ``<script src>``, no stylesheet, no
font or image fetched. Every chart is a ``div.chart`` whose ``data-traces`` attribute says how many traces it draws
(the browser test checks that many were rendered).
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from engines.params import format_param
from feeds.atomic import atomic_write_text

from .tables import format_cell

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1600px;
       padding: 0 16px; color: #1b1b1b; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.8em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
tr.highlight td { font-weight: 600; background: #fff8e6; }
details { margin: 0.4em 0; } summary { cursor: pointer; font-weight: 600; }
.scroll { max-height: 420px; overflow: auto; display: inline-block; max-width: 100%; }
.wide { overflow-x: auto; max-width: 100%; }
.chart { width: 100%; margin: 0.5em 0 1.2em 0; }
.note { color: #555; font-size: 0.9em; }
"""


def _text(value) -> str:
    return html.escape(str(value))


def html_table(table: pd.DataFrame, *, index: bool = True, highlight: Sequence[str] = (), scroll: bool = False,
               param_columns: Sequence[str] = ()) -> str:
    """An HTML table of ``table`` with cells formatted as the terminal table (``report.format_cell``; parameter
    columns as ``report.format_param``, None as "off")."""
    head = ([_text(table.index.name or "")] if index else []) + [_text(c) for c in table.columns]
    rows = []
    for key, row in table.iterrows():
        cells = ([f"<td>{_text(key)}</td>"] if index else []) + [
            f"<td>{_text(format_param(value) if column in param_columns else _cell(column, value))}</td>"
            for column, value in row.items()
        ]
        marked = ' class="highlight"' if index and str(key) in highlight else ""
        rows.append(f"<tr{marked}>{''.join(cells)}</tr>")
    body = f"<table><thead><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="{"scroll" if scroll else "wide"}">{body}</div>'


def _cell(column, value) -> str:
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else str(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(column, v)}" for k, v in value.items())
    if isinstance(value, float) and not math.isnan(value) and column in ("size", "iwm_return", "spy_return"):
        return f"{value:.4f}" if column != "size" else f"{value:,.0f}"
    if isinstance(value, float) and column in ("value", "price") and not math.isnan(value):
        return f"{value:,.2f}"
    return format_cell(str(column), value)


def chart(fig, div_id: str, height: int = 420) -> str:
    """A plotly figure as a ``div.chart`` (no script tag for plotly.js itself: the page inlines it once).
    ``data-traces``: the traces drawn when the page opens (those hidden until their legend entry is clicked not
    counted)."""
    fig.update_layout(height=height, margin=dict(l=70, r=20, t=50, b=40), template="plotly_white",
                      hovermode=fig.layout.hovermode or "x unified", legend=dict(x=1.01, y=1, xanchor="left", yanchor="top"))
    inner = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                        config={"displaylogo": False, "responsive": True})
    shown = sum(1 for trace in fig.data if trace.visible in (None, True))  # "legendonly" traces are not drawn
    return f'<div class="chart" data-chart="{div_id}" data-traces="{shown}">{inner}</div>'


def page(title: str, meta: str, sections: Sequence[str]) -> str:
    """A whole HTML document: ``sections`` (HTML fragments) after a heading, plotly.js inlined in the head."""
    from plotly.offline import get_plotlyjs

    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_text(title)}</title>"
        f"<style>{STYLE}</style><script type=\"text/javascript\">{get_plotlyjs()}</script></head>\n<body>"
        f"<h1>{_text(title)}</h1><p class=\"meta\">{meta}</p>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def write_report(folder: str | Path, document: str) -> Path:
    """``report.html`` in ``folder``, written atomically."""
    return atomic_write_text(Path(folder) / "report.html", document)


def _section(heading: str, *parts: str) -> str:
    return f"<h2>{_text(heading)}</h2>\n" + "\n".join(p for p in parts if p)


def _line_style(name: str, standout: set[str]) -> dict:
    return dict(width=2.2) if name in standout else dict(width=1.0)


# -- the comparison -----------------------------------------------------------------------------------------------
def compare_report(results, settings, feeds, claims: pd.DataFrame | None = None, caveat: str | None = None,
                   *, allocation_of: str = "rotation") -> str:
    """The comparison's report: tables, equity/drawdown/allocation/ratio charts, each run's trades and decisions,
    data sources and notes."""
    import matplotlib.colors
    import plotly.graph_objects as go

    from .plots import NEWSLETTER_LEVELS, allocation_frame, event_styles, signal_events, spy_iwm_ratio, standout_runs
    from .tables import claims_display, comparison_table

    standout = standout_runs(results, allocation_of)
    table = comparison_table(results)
    sections = [_section("Comparison", html_table(table, highlight=sorted(standout)),
                         '<p class="note">Highlighted: the main strategy and the benchmarks.</p>')]
    if claims is not None:
        sections.append(_section("Rotation: published claims vs measured", html_table(claims_display(claims)),
                                 f'<p class="note">{_text(caveat)}</p>' if caveat else ""))

    equity, drawdown = go.Figure(), go.Figure()
    for r in results:
        if not len(r.equity):
            continue
        style = _line_style(r.name, standout)
        opacity = 1.0 if r.name in standout else 0.55
        equity.add_trace(go.Scatter(x=r.equity.index, y=r.equity.round(2), name=r.name, line=style, opacity=opacity,
                                    legendgroup=r.name))
        dd = 100 * (r.equity / r.equity.cummax() - 1)
        drawdown.add_trace(go.Scatter(x=dd.index, y=dd.round(3), name=r.name, line=style, opacity=opacity,
                                      visible=True if r.name in standout else "legendonly"))
    equity.update_layout(title="Equity (log scale)", yaxis=dict(type="log", title="Portfolio value"))
    drawdown.update_layout(title="Drawdown from the running peak (click a name in the legend to show or hide a run)",
                           yaxis=dict(title="Drawdown [%]"))
    charts = [chart(equity, "equity", 480), chart(drawdown, "drawdown", 380)]

    main = next((r for r in results if r.name == allocation_of), None)
    if main is not None and len(main.weights):
        weights = allocation_frame(main.weights)
        allocation = go.Figure()
        for column in weights.columns:
            allocation.add_trace(go.Scatter(x=weights.index, y=weights[column].round(2), name=str(column),
                                            stackgroup="weights", mode="lines", line=dict(width=0.5, shape="hv")))
        allocation.update_layout(title=f"{allocation_of}: allocation over time", yaxis=dict(title="Weight [%]", range=[0, 105]))
        charts.append(chart(allocation, "allocation", 340))

    ratio = spy_iwm_ratio(feeds)
    ratio_fig = go.Figure(go.Scatter(x=ratio.index, y=ratio.round(4), name="SPY / IWM (raw closes)", line=dict(color="black", width=1)))
    for label, level in NEWSLETTER_LEVELS.items():
        ratio_fig.add_hline(y=level, line=dict(dash="dash", width=1, color="grey"), annotation_text=label,
                            annotation_position="top left")
    symbols = {"^": "triangle-up", "v": "triangle-down", "X": "x", "s": "square", "D": "diamond", "P": "cross"}
    for (label, _, dates, _), (marker, colour) in zip(events := signal_events(results), event_styles(events)):
        points = ratio.reindex(dates)
        ratio_fig.add_trace(go.Scatter(x=points.index, y=points.round(4), mode="markers", name=label,
                                       marker=dict(symbol=symbols[marker], size=10, color=matplotlib.colors.to_hex(colour),
                                                   line=dict(width=0.5, color="black"))))
    ratio_fig.update_layout(title="SPY/IWM price ratio, the newsletter's levels and the ratio strategies' signals",
                            yaxis=dict(title="SPY / IWM"))
    charts.append(chart(ratio_fig, "ratio", 420))
    sections.append(_section("Charts", *charts))

    runs = []
    for r in results:
        params = ", ".join(f"{k}={v}" for k, v in r.params.items()) or "defaults"
        trades = html_table(r.trades, index=False, scroll=True) if len(r.trades) else "<p>No fills.</p>"
        decisions = html_table(r.decisions, index=False, scroll=True) if len(r.decisions) else "<p>No decisions recorded.</p>"
        runs.append(f"<details><summary>{_text(r.name)}: {len(r.trades)} fills, {len(r.decisions)} decisions</summary>"
                    f"<p class=\"note\">Parameters: {_text(params)}</p><h3>Trades</h3>{trades}<h3>Decisions</h3>{decisions}</details>")
    sections.append(_section("Trades and decisions", *runs))
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
def sweep_report(table: pd.DataFrame, strategy: str, metric: str, x: str | None, y: str | None, settings, feeds,
                 *, engine: str = "backtrader", verified: pd.DataFrame | None = None) -> str:
    """The sweep's report: the interactive heatmap of ``metric`` over ``x``/``y``, the best combinations re-run on
    Backtrader when ``verified`` is given, and the full results table."""
    import plotly.graph_objects as go

    from research.sweep import heatmap_grid

    sections = []
    if x and y:
        grid = heatmap_grid(table, x, y, metric)
        fig = go.Figure(go.Heatmap(z=grid.to_numpy(dtype=float), x=list(grid.columns), y=list(grid.index),
                                   text=[[format_cell(metric, v) for v in row] for row in grid.to_numpy(dtype=float)],
                                   texttemplate="%{text}", colorscale="Viridis", colorbar=dict(title=metric),
                                   hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{metric}=%{{z:.2f}}<extra></extra>"))
        fig.update_layout(title=f"{strategy}: {metric} over {x} and {y}", xaxis=dict(title=x, type="category"),
                          yaxis=dict(title=y, type="category", autorange="reversed"), hovermode="closest")
        sections.append(_section("Heatmap", chart(fig, "heatmap", 120 + 40 * max(6, len(grid.index)))))
    from engines.engine import COMPARISON_COLUMNS

    ranked = table.sort_values(metric, ascending=False).reset_index(drop=True)
    ranked.index = ranked.index + 1
    ranked.index.name = "rank"
    params = [c for c in table.columns if c not in COMPARISON_COLUMNS]
    if verified is not None:
        sections.append(_section(f"The {len(verified)} best re-run on the Backtrader engine",
                                 html_table(verified, index=False, param_columns=params)))
    sections.append(_section(f"All {len(table)} combinations, best {metric} first",
                             html_table(ranked, scroll=True, param_columns=params)))
    sections.append(_data_section(feeds))
    return page(f"Sweep of {strategy}", f"{feeds.start.date()} .. {feeds.end.date()}, metric {_text(metric)}, "
                f"{_text(engine)} engine, starting cash {settings.cash:,.0f}", sections)


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
    equity.update_layout(title="Stitched out-of-sample equity (shaded: alternate out-of-sample windows)",
                         yaxis=dict(type="log", title="Portfolio value"))
    years = [(p.split("..")[0][:4], p.split("..")[1][:4]) for p in table["out-of-sample"]]
    windows = [first if first == last else f"{first}-{last}" for first, last in years]
    bars = go.Figure([
        go.Bar(x=windows, y=table[f"in-sample {metric}"], name="in-sample best"),
        go.Bar(x=windows, y=table[f"out-of-sample {metric}"], name="out of sample"),
    ])
    bars.update_layout(title=f"{metric}: in-sample best vs out of sample, per window", barmode="group",
                       xaxis=dict(title="out-of-sample window", type="category"), yaxis=dict(title=metric))
    summary = pd.DataFrame({"value": facts}).rename_axis("summary")
    sections = [
        _section("Summary", html_table(summary)),
        _section("Charts", chart(equity, "equity", 460), chart(bars, "windows", 360)),
        _section("Windows", html_table(table, index=False, param_columns=[
            c for c in table.columns if c not in ("in-sample", "out-of-sample", "chosen params")
            and not str(c).startswith(("in-sample ", "out-of-sample "))])),
        _data_section(feeds),
    ]
    return page(f"Walk-forward of {strategy}", f"{feeds.start.date()} .. {feeds.end.date()}, metric {_text(metric)}, "
                f"in-sample search: {_text(engine)} engine, out-of-sample runs: backtrader engine, "
                f"starting cash {settings.cash:,.0f}", sections)
