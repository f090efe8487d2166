"""report.html: self-contained (plotly.js inlined, nothing fetched), the tables right, and, in headless Chromium,
no console error, every chart drawn with its traces, a screenshot that is not blank.

The browser tests run where a Chromium is found (``.ci/run`` installs Debian's ``chromium``); elsewhere they are
skipped with the reason printed by ``pytest -ra``.
"""
from __future__ import annotations

import contextlib
import io
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
    assert "Plotly.newPlot" in html and len(html) > 3_000_000  # plotly.js itself is inlined
    assert not list(reports[kind].parent.glob(".*tmp*"))  # written atomically


def test_compare_report_tables_and_charts(reports, raw_csv):
    html = reports["compare"].read_text(encoding="utf-8")
    traces = _traces(html)
    assert set(traces) == {"equity", "drawdown", "allocation", "ratio"}
    assert traces["equity"] == 3  # one line per run
    assert traces["drawdown"] == 2  # the main strategy and the benchmark shown; ratio-pair one click away
    assert traces["allocation"] >= 2
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


@needs_chromium
@pytest.mark.parametrize("kind", ["compare", "sweep", "walkforward"])
def test_report_renders_in_headless_chromium(reports, kind, tmp_path):
    result = probe(CHROMIUM, reports[kind], tmp_path)
    assert result["errors"] == [], result["errors"]
    console = [line for line in result["stderr"].splitlines() if ":CONSOLE" in line]
    assert not console, console
    assert result["plotly"] == "object"
    expected = _traces(reports[kind].read_text(encoding="utf-8"))
    assert set(result["charts"]) == set(expected) and expected
    for name, chart in result["charts"].items():
        assert chart["svg"] >= 1 and chart["height"] > 200, (name, chart)
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
