"""The runner end to end: comparison table and files, claims vs measured, reproducibility from the output folder,
the current-signal card, the plots and the user-strategy example (the notebook: tests/test_readme.py)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest

from cli.main import main
from engines.engine import COMPARISON_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
PERIOD = ["--start", "2019-01-01", "--end", "2021-12-31"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare")
    argv = ["compare", *PERIOD, "--strategies", "rotation,ratio-pair,buy-hold-spy", "--output", str(out), "--jobs", "2"]
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(argv)
    return code, stdout.getvalue(), out


def test_compare_prints_both_tables_and_writes_files(compared, raw_csv):
    code, text, out = compared
    assert code == 0
    assert "CAGR [%]" in text and "Switches per year" in text and "Published (2010-2024)" in text
    assert "not like for like" in text  # the period differs from the published one
    for name in ("comparison.csv", "comparison.json", "comparison.md", "config.toml", "claims.csv", "equity.csv",
                 "comparison.png", "spy_iwm_ratio.png", "plots/rotation.png", "plots/ratio-pair.png"):
        assert (out / name).is_file(), name
    table = pd.read_csv(out / "comparison.csv", index_col="Run")
    assert list(table.index) == ["rotation", "ratio-pair", "buy-hold-spy"]
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    # buy-and-hold SPY, computed independently from the CSV: whole shares at the first adjusted open
    spy = raw_csv("SPY").loc["2019-01-02":"2021-12-31"]
    factor = spy["Adj Close"] / spy["Close"]
    open_adj = spy["Open"].iloc[0] * factor.iloc[0]
    shares = math.trunc(100_000 * 0.999 / open_adj)
    final = 100_000 - shares * open_adj + shares * spy["Adj Close"].iloc[-1]
    assert table.loc["buy-hold-spy", "Final value [$]"] == pytest.approx(final, rel=1e-9)
    document = json.loads((out / "comparison.json").read_text())
    assert document["data sources"]["SPY"] == "bundled:SPY.csv"
    assert document["claims vs measured"]["CAGR [%]"]["Published (2010-2024)"] == "15.2"
    assert not list(out.glob("**/.*.tmp*"))  # no half-written files left behind


def test_output_folder_reproduces_the_run(compared, tmp_path):
    _, _, out = compared
    again = tmp_path / "again"
    assert main(["compare", "--config", str(out / "config.toml"), "--output", str(again), "--no-plots", "--jobs", "1"]) == 0
    first = pd.read_csv(out / "comparison.csv", index_col="Run")
    second = pd.read_csv(again / "comparison.csv", index_col="Run")
    pd.testing.assert_frame_equal(first, second)


def _real_png(path: Path) -> None:
    assert path.stat().st_size > 20_000, path
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
    assert float(image[..., :3].std()) > 0.05
    colours = {tuple(px) for px in (image[::7, ::7, :3] * 255).astype(int).reshape(-1, 3)}
    assert len(colours) > 20, path


def test_plots_are_real_images(compared):
    _, _, out = compared
    for name in ("comparison.png", "spy_iwm_ratio.png", "plots/rotation.png", "plots/ratio-pair.png"):
        _real_png(out / name)


def test_signal_card_matches_independent_pandas(capsys, raw_csv):
    assert main(["signal", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)["rotation"]
    iwm, spy = raw_csv("IWM")["Adj Close"], raw_csv("SPY")["Adj Close"]
    r_iwm, r_spy = iwm.iloc[-1] / iwm.iloc[-64] - 1, spy.iloc[-1] / spy.iloc[-64] - 1
    assert card["as of"] == "2024-12-31" and card["next rebalance"] == "2025-01-02"
    assert card["IWM return [%]"] == round(100 * r_iwm, 2) and card["SPY return [%]"] == round(100 * r_spy, 2)
    assert card["VIX"] == 17.35 and card["VIX filter on"] is False
    held = card["asset at the next rebalance"]
    assert held == ("IWM" if r_iwm > r_spy else "SPY") and card["allocation at the next rebalance"] == {held: 1.0}
    assert main(["signal", "--end", "2020-03-31"]) == 0
    text = capsys.readouterr().out
    assert "2020-03-31" in text and "VIX filter on" in text and "2020-04-01" in text


def test_user_strategy_example_runs_through_the_cli(tmp_path, capsys):
    code = main(["--module", str(ROOT / "examples" / "my_strategy.py"), "--strategies", "spy-in-winter,buy-hold-spy",
                 *PERIOD, "--output", str(tmp_path), "--no-plots", "--jobs", "1"])
    assert code == 0
    table = pd.read_csv(tmp_path / "comparison.csv", index_col="Run")
    assert list(table.index) == ["spy-in-winter", "buy-hold-spy"]
    assert table.loc["spy-in-winter", "Switches per year"] == pytest.approx(2.0, abs=0.4)


def test_serial_and_parallel_give_identical_results(feedset):
    from engines.compare import compare
    from engines.engine import RunSettings

    settings = RunSettings()
    names = ["rotation", "mix-50-50"]
    serial = compare(names, feedset, settings, jobs=1, progress=lambda line: None)
    parallel = compare(names, feedset, settings, jobs=2, progress=lambda line: None)
    for a, b in zip(serial, parallel):
        assert a.metrics == b.metrics
        pd.testing.assert_series_equal(a.equity, b.equity)


def test_comparison_lists_the_rotation_first_then_ratio_runs_then_benchmarks_in_a_fresh_process():
    import subprocess
    import sys

    code = "from engines.compare import default_names; print(','.join(default_names()))"
    names = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip().split(",")
    assert names == ["rotation", "ratio-rotation", "ratio-z-rotation", "ratio-pair", "ratio-z-pair",
                     "buy-hold-spy", "buy-hold-iwm", "mix-50-50"]
