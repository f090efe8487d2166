"""report.html: self-contained (plotly.js inlined, nothing fetched), the tables right, and, in headless Chromium,
no console error, every chart drawn with its traces, a screenshot that is not blank.

The browser tests run where a Chromium is found (``.ci/run`` installs Debian's ``chromium``); elsewhere they are
skipped with the reason printed by ``pytest -ra``.
"""
from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import re
import sys
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest

from cli.main import main

sys.path.insert(0, str(Path(__file__).parent))
from browser import find_chromium, probe, screenshot  # noqa: E402

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on PATH: the report.html browser test is skipped (apt-get install chromium)")
RUNS = ["rotation", "ratio-pair", "buy-hold-spy"]


def _run(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(argv) == 0


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """report.html of a compare, a sweep and a walk-forward, each in its own output folder."""
    root = tmp_path_factory.mktemp("reports")
    _run(["compare", "--start", "2019-06-01", "--end", "2021-06-30", "--strategies", ",".join(RUNS),
          "--output", str(root / "compare"), "--no-plots", "--jobs", "1"])
    _run(["sweep", "--start", "2019-01-01", "--end", "2020-12-31", "--grid", "lookback=21,63", "--grid", "vix_level=30,off",
          "--metric", "Sharpe", "--output", str(root / "sweep"), "--jobs", "1"])
    _run(["walkforward", "--start", "2018-01-01", "--end", "2020-12-31", "--grid", "lookback=21,63", "--in-sample", "1",
          "--output", str(root / "walkforward"), "--jobs", "1"])
    return {kind: root / kind / "report.html" for kind in ("compare", "sweep", "walkforward")}


def _traces(html: str) -> dict[str, int]:
    return {m.group(1): int(m.group(2)) for m in re.finditer(r'data-chart="([^"]+)" data-traces="(\d+)"', html)}


@pytest.mark.parametrize("kind", ["compare", "sweep", "walkforward"])
def test_report_is_self_contained(reports, kind):
    html = reports[kind].read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", html), "a script loaded from elsewhere"
    assert not re.search(r"<link[^>]*\bhref=", html), "a stylesheet loaded from elsewhere"
    assert not re.search(r"<img[^>]*\bsrc=", html)
    packed = re.search(r'<script id="plotly-js" type="application/gzip\+base64">([^<]+)</script>', html)
    plotly_js = gzip.decompress(base64.b64decode(packed.group(1))).decode()  # plotly.js itself is inlined, packed
    assert "Plotly.newPlot" in html and plotly_js.startswith("/**") and "plotly.js" in plotly_js[:200] and len(plotly_js) > 3_000_000
    assert not list(reports[kind].parent.glob(".*tmp*"))  # written atomically


def _packed_data(html: str) -> dict:
    packed = re.search(r'<script id="report-data" type="application/gzip\+base64">([^<]+)</script>', html)
    return json.loads(gzip.decompress(base64.b64decode(packed.group(1))))


def test_compare_report_tables_and_charts(reports, raw_csv):
    html = reports["compare"].read_text(encoding="utf-8")
    traces = _traces(html)
    assert {"equity", "allocation", "ratio", "underwater", "yearly", "monthly-distribution"} <= set(traces)
    assert {f"monthly-{i}" for i in range(len(RUNS))} <= set(traces)  # a heatmap per run
    assert {"rolling-sharpe-126", "rolling-sharpe-252", "rolling-vol-126", "rolling-vol-252"} <= set(traces)
    assert traces["equity"] == traces["underwater"] == traces["rolling-sharpe-252"] == 3  # every run, none hidden
    assert traces["allocation"] >= 2
    for title in ("Monthly returns", "Yearly returns", "Rolling Sharpe", "Worst drawdowns", "Round-trip trades"):
        assert f"<h2>{title}</h2>" in html
    data = _packed_data(html)
    # one colour per run, the palette's, in every chart
    from reports.palette import run_colour

    for name in ("equity", "underwater", "rolling-sharpe-126"):
        assert {t["name"]: t["line"]["color"] for t in data[f"fig:{name}"]["data"]} == {n: run_colour(n) for n in RUNS}
    # the ratio chart marks only the ratio strategies' fills
    assert all("ratio-pair" in t["name"] for t in data["fig:ratio"]["data"][1:])
    table = pd.read_csv(reports["compare"].parent / "comparison.csv", index_col="Run")
    # buy and hold SPY's final value, independently from the CSV: whole shares at the first adjusted open
    spy = raw_csv("SPY").loc["2019-06-01":"2021-06-30"]
    factor = spy["Adj Close"] / spy["Close"]
    shares = int(100_000 * 0.999 / (spy["Open"].iloc[0] * factor.iloc[0]))
    final = 100_000 - shares * spy["Open"].iloc[0] * factor.iloc[0] + shares * spy["Adj Close"].iloc[-1]
    assert table.loc["buy-hold-spy", "Final value [$]"] == pytest.approx(final, rel=1e-9)
    assert f"<td>{final:,.0f}</td>" in html
    assert "Published (2010-2024)" in html and "not like for like" in html  # claims vs measured, with the caveat
    spy_run = re.search(r"<summary>buy-hold-spy: (\d+) fills, (\d+) decisions</summary>", html)
    assert spy_run and spy_run.group(1) == "1"  # one purchase of SPY, nothing else
    assert "bundled:SPY.csv" in html  # the data sources
    # tear-sheet figures as shown, independently from the CSV: buy and hold SPY's 2020 return and worst drawdown
    close = spy["Adj Close"]
    curve = pd.concat([pd.Series([100_000 - shares * spy["Open"].iloc[0] * factor.iloc[0] + shares * c for c in close],
                                 index=close.index)])
    year_2020 = curve.loc["2020-12-31"] / curve.loc["2019-12-31"] - 1
    yearly = re.search(r"<h2>Yearly returns</h2>.*?</table>", html, re.S).group(0)
    assert f"<td>2020</td>" in yearly and f"<td>{100 * year_2020:.2f}</td>" in yearly
    worst = (curve / curve.cummax() - 1).min()
    drawdowns = re.search(r"<h2>Worst drawdowns</h2>.*?</table>", html, re.S).group(0)
    assert f"<td>{100 * worst:.2f}</td>" in drawdowns


@needs_chromium
@pytest.mark.parametrize("kind", ["compare", "sweep", "walkforward"])
def test_report_renders_in_headless_chromium(reports, kind, tmp_path):
    result = probe(CHROMIUM, reports[kind], tmp_path)
    assert result["errors"] == [], result["errors"]
    assert result["ready"] == "yes"  # the packed data unpacked and every chart drawn
    console = [line for line in result["stderr"].splitlines() if ":CONSOLE" in line]
    assert not console, console
    assert result["plotly"] == "object"
    expected = _traces(reports[kind].read_text(encoding="utf-8"))
    assert set(result["charts"]) == set(expected) and expected
    for name, chart in result["charts"].items():
        assert chart["svg"] >= 1 and chart["height"] > 120, (name, chart)
        assert chart["traces"] == expected[name] >= 1 and chart["data"] >= expected[name], (name, chart)


@needs_chromium
def test_report_screenshot_is_not_blank(reports, tmp_path):
    image = mpimg.imread(screenshot(CHROMIUM, reports["compare"], tmp_path))
    assert image.shape[0] >= 2000 and image.shape[1] >= 1300
    pixels = image[..., :3]
    assert float(pixels.std()) > 0.05
    assert float((pixels.mean(axis=2) < 0.9).mean()) > 0.03  # ink: text, lines and areas, not a white page
    colours = {tuple(px) for px in (pixels[::9, ::9] * 255).astype(int).reshape(-1, 3)}
    assert len(colours) > 50


@needs_chromium
def test_probe_catches_a_broken_page(tmp_path):
    """The probe itself can fail: a page with a script error and a chart that never draws is reported."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><script src="https://cdn.example.org/plotly.js"></script></head><body>'
                    '<div class="chart" data-chart="x" data-traces="2"><div class="plotly-graph-div"></div></div>'
                    '<script>Plotly.newPlot("x", []);</script></body></html>')
    work = tmp_path / "work"
    work.mkdir()
    result = probe(CHROMIUM, page, work)
    assert any("failed to load" in e for e in result["errors"]) and any("Plotly" in e for e in result["errors"])
    assert result["charts"]["x"]["traces"] == 0


@needs_chromium
@pytest.mark.parametrize("width", [900, 1400])
def test_report_reads_at_900_and_1400_px(reports, tmp_path, width):
    """No chart title or axis label under plotly's toolbar; a table wider than the window scrolls with its first
    column pinned; at 1,400 px the comparison table fits."""
    result = probe(CHROMIUM, reports["compare"], tmp_path, width=width)
    assert result["width"] == width and result["ready"] == "yes"
    assert {name: chart["overlaps"] for name, chart in result["charts"].items() if chart["overlaps"]} == {}
    cut = [t for t in result["tables"] if t["cut"]]
    assert all(t["scrolls"] and t["pinned"] for t in cut), cut
    if width == 1400:
        assert not [t for t in cut if t["head"] == "Run"]


def test_report_stays_small(reports):
    """The default comparison (8 runs, 15 years) is checked by hand (README); here a short one: packed charts stay
    small next to plotly.js."""
    html = reports["compare"].read_text(encoding="utf-8")
    packed = re.search(r'<script id="report-data" type="application/gzip\+base64">([^<]+)</script>', html).group(1)
    assert len(packed) < 400_000 and len(html) < 3_000_000
