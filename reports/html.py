"""The building blocks of every report.html: tables, plotly charts and the page that packs them.

The page opens offline from anywhere with no file beside it: no ``<script src>``, no stylesheet, no font or image
fetched. plotly.js and the charts' data are inlined once, gzip-compressed and base64-encoded, and unpacked by the
browser (``DecompressionStream``); long tables are packed the same way and put in place when first opened. Every
chart is a ``div.chart`` whose ``data-traces`` attribute says how many traces it draws (the browser test checks that
many were rendered); the page sets ``body[data-ready]`` once every chart is drawn.
"""
from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import html
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from engines.money import money_label, money_ticks
from engines.params import format_param
from feeds.atomic import atomic_write_text

from .tables import format_cell

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1600px;
       padding: 0 16px; color: #1b1b1b; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
h3 { font-size: 1em; margin: 1.1em 0 0.3em 0; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: separate; border-spacing: 0; font-size: 0.8em; margin: 0.6em 0; }
th, td { border-right: 1px solid #ddd; border-bottom: 1px solid #ddd; padding: 2px 6px; text-align: right; }
tr > :first-child { border-left: 1px solid #ddd; } thead th { border-top: 1px solid #ddd; }
td { white-space: nowrap; }
th { background: #f3f3f3; white-space: normal; vertical-align: bottom; min-width: 3.5em; max-width: 9em; }
td:first-child, th:first-child { text-align: left; } td:first-child { white-space: nowrap; }
.pin td:first-child, .pin th:first-child { position: sticky; left: 0; z-index: 1; background: #fff; }
.pin th:first-child { background: #f3f3f3; }
tr.highlight td { font-weight: 600; background: #fff8e6; } .pin tr.highlight td:first-child { background: #fff8e6; }
details { margin: 0.4em 0; } summary { cursor: pointer; font-weight: 600; }
.scroll { max-height: 420px; overflow: auto; max-width: 100%; }
.wide { overflow-x: auto; max-width: 100%; }
.chart { width: 100%; margin: 0.2em 0 1.0em 0; min-width: 0; }
.chart h3 { margin-bottom: 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 560px), 1fr)); gap: 0 24px; }
.note { color: #555; font-size: 0.9em; }
"""

# Unpacks the inlined data (gzip + base64, ``DecompressionStream``), runs plotly.js, draws every div.chart from
# its figure, fills a <details data-lazy> with its table when first opened, then sets body[data-ready].
LOADER = """<script>
(function () {
  function unpack(id) {
    var text = atob(document.getElementById(id).textContent.trim()), bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).text();
  }
  var data;
  unpack('plotly-js').then(function (code) {
    var script = document.createElement('script'); script.textContent = code; document.head.appendChild(script);
    return unpack('report-data');
  }).then(function (text) {
    data = JSON.parse(text);
    document.querySelectorAll('details[data-lazy]').forEach(function (d) {
      d.addEventListener('toggle', function () {
        var box = d.querySelector('.lazy');
        if (d.open && !box.hasChildNodes()) box.innerHTML = data['html:' + d.getAttribute('data-lazy')];
      });
    });
    var drawn = [];
    document.querySelectorAll('div.chart').forEach(function (c) {
      var fig = data['fig:' + c.getAttribute('data-chart')], div = c.querySelector('.plotly-graph-div');
      fig.layout.template = data.template;
      drawn.push(Plotly.newPlot(div, fig.data, fig.layout, {displaylogo: false, responsive: true}));
    });
    return Promise.all(drawn);
  }).then(function () { document.body.setAttribute('data-ready', 'yes'); })
    .catch(function (e) { console.error('report: ' + e); });
})();
</script>"""
_PAYLOAD = re.compile(r'<script type="application/json" data-payload="([^"]+)">(.*?)</script>', re.S)


def _text(value) -> str:
    return html.escape(str(value))


def _json(value) -> str:
    """JSON safe inside a <script> element (no "</")."""
    return json.dumps(value, separators=(",", ":"), default=str).replace("</", "<\\/")


def html_table(table: pd.DataFrame, *, index: bool = True, highlight: Sequence[str] = (), scroll: bool = False,
               param_columns: Sequence[str] = (), pin: bool | None = None) -> str:
    """An HTML table of ``table`` with cells formatted as the terminal table (``report.format_cell``; parameter
    columns as ``report.format_param``, None as "off"). Headers wrap; ``pin`` (default: when the index is shown)
    keeps the first column in view while the table scrolls sideways."""
    head = ([_text(table.index.name or "")] if index else []) + [_text(c) for c in table.columns]
    rows = []
    for key, row in table.astype(object).iterrows():  # object: a row of ints and floats keeps its ints
        cells = ([f"<td>{_text(key)}</td>"] if index else []) + [
            f"<td>{_text(format_param(value) if column in param_columns else _cell(column, value))}</td>"
            for column, value in row.items()
        ]
        marked = ' class="highlight"' if index and str(key) in highlight else ""
        rows.append(f"<tr{marked}>{''.join(cells)}</tr>")
    body = f"<table><thead><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    pinned = " pin" if (index if pin is None else pin) else ""
    return f'<div class="{"scroll" if scroll else "wide"}{pinned}">{body}</div>'


def _cell(column, value) -> str:
    if isinstance(value, pd.Timestamp):
        return str(value.date()) if value == value.normalize() else str(value)
    if value is pd.NaT:
        return "n/a"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_cell(column, v)}" for k, v in value.items())
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):,}"
    if isinstance(value, float) and not math.isnan(value) and column in ("size", "Size", "iwm_return", "spy_return"):
        return f"{value:.4f}" if column not in ("size", "Size") else f"{value:,.0f}"
    if isinstance(value, float) and not math.isnan(value) and str(column).endswith(("[sessions]", "[days]", "Days")):
        return f"{value:,.0f}"
    if isinstance(value, float) and column in ("value", "price") and not math.isnan(value):
        return f"{value:,.2f}"
    return format_cell(str(column), value)


def chart(fig, div_id: str, height: int = 420, *, title: str | None = None, legend: bool | str = True) -> str:
    """A plotly figure as a ``div.chart``: its title an HTML heading above it (never under plotly's toolbar), the
    legend in a row below it (``legend="above"``: above the plot on the left, clear of the toolbar on the right,
    for charts whose x labels are tall), the figure's JSON put in the page's packed data by ``page`` (plotly.js itself is
    inlined once, packed). ``data-traces``: the traces drawn when the page opens (those hidden until their legend
    entry is clicked not counted)."""
    title = title if title is not None else (fig.layout.title.text or "")
    place = (dict(orientation="h", x=0, xanchor="left", y=1.01, yanchor="bottom")
             if legend == "above" else dict(orientation="h", x=0, xanchor="left", y=-0.08, yanchor="top"))
    fig.update_layout(title=None, height=height, margin=dict(l=70, r=20, t=28, b=40), template="plotly_white",
                      hovermode=fig.layout.hovermode or "x unified", showlegend=bool(legend), legend=place)
    figure = json.loads(fig.to_json())
    figure["layout"].pop("template", None)  # one copy for the page (``page``)
    shown = sum(1 for trace in fig.data if trace.visible in (None, True))  # "legendonly" traces are not drawn
    heading = f"<h3>{_text(title)}</h3>" if title else ""
    return (f'<div class="chart" data-chart="{div_id}" data-traces="{shown}">{heading}'
            f'<div id="{div_id}" class="plotly-graph-div" style="height:{height}px; width:100%;"></div>'
            f'<script type="application/json" data-payload="fig:{div_id}">{_json(figure)}</script></div>')


def lazy(summary: str, inner: str, key: str | None = None) -> str:
    """A collapsed ``<details>`` whose content (``inner``, HTML) is packed with the page's data and put in place when
    first opened: long tables cost nothing until read."""
    key = key or hashlib.md5((summary + inner).encode("utf-8")).hexdigest()[:12]
    return (f'<details data-lazy="{key}"><summary>{_text(summary)}</summary><div class="lazy"></div>'
            f'<script type="application/json" data-payload="html:{key}">{_json(inner)}</script></details>')


def _packed(data: bytes) -> str:
    return base64.b64encode(gzip.compress(data, 9, mtime=0)).decode("ascii")


@functools.lru_cache(maxsize=1)
def _packed_plotlyjs() -> str:
    from plotly.offline import get_plotlyjs

    return _packed(get_plotlyjs().encode("utf-8"))


def page(title: str, meta: str, sections: Sequence[str]) -> str:
    """A whole HTML document: ``sections`` (HTML fragments) after a heading. plotly.js and the charts' data are
    inlined packed (gzip, base64) and unpacked by the browser (``LOADER``): one self-contained file, nothing fetched."""
    import plotly.graph_objects as go

    body = "\n".join(sections)
    payload: list[str] = []
    body = _PAYLOAD.sub(lambda m: payload.append(f"{json.dumps(m.group(1))}:{m.group(2)}") or "", body)
    template = json.loads(go.Figure(layout=dict(template="plotly_white")).to_json())["layout"]["template"]
    payload.append(f'"template":{_json(template)}')
    data = "{" + ",".join(payload) + "}"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_text(title)}</title>"
        f"<style>{STYLE}</style>\n"
        f'<script id="plotly-js" type="application/gzip+base64">{_packed_plotlyjs()}</script>\n'
        f'<script id="report-data" type="application/gzip+base64">{_packed(data.encode("utf-8"))}</script>\n'
        f"</head>\n<body><h1>{_text(title)}</h1><p class=\"meta\">{meta}</p>\n{body}\n{LOADER}\n</body></html>\n"
    )


def write_report(folder: str | Path, document: str) -> Path:
    """``report.html`` in ``folder``, written atomically."""
    return atomic_write_text(Path(folder) / "report.html", document)


def section(heading: str, *parts: str) -> str:
    """An ``<h2>`` section of the non-empty ``parts``."""
    return f"<h2>{_text(heading)}</h2>\n" + "\n".join(p for p in parts if p)


_section = section


def screen_points(series: pd.Series, buckets: int = 400) -> pd.Series:
    """``series`` thinned to what a screen can show: per bucket of consecutive points, its first, lowest, highest
    and last point (in date order), so every peak and trough stays exact; unchanged when already short."""
    if len(series) <= 2 * buckets:
        return series
    values = series.to_numpy(dtype=float)
    edges = np.linspace(0, len(values), buckets + 1).astype(int)
    keep = set()
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi <= lo:
            continue
        chunk = values[lo:hi]
        if np.isnan(chunk).all():
            keep.update((lo, hi - 1))
            continue
        keep.update((lo, hi - 1, lo + int(np.nanargmin(chunk)), lo + int(np.nanargmax(chunk))))
    return series.iloc[sorted(keep)]


def money_axis(low: float, high: float, title: str = "Portfolio value (log)") -> dict:
    """A plotly log y-axis from ``low`` to ``high`` labelled in money ($80k, $100k, $200k; ``money.money_ticks``)."""
    ticks = money_ticks(low, high)
    return dict(type="log", title=title, tickvals=ticks, ticktext=[money_label(t) for t in ticks])


