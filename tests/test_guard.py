"""The sweep's luck check, the comparison's intervals and the walk-forward's fall, against independent computations:
block moments from plain pandas on a Backtrader run and the raw CSVs, SPA from a direct arch call, intervals from
the bootstrap on independently computed returns."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import SPA

from cli.main import main
from engines.engine import RunSettings, run_one
from reports.tables import claims_table
from research import overfitting as of
from research.guard import guard, guarded_sweep, reach
from research.intervals import comparison_intervals, sharpe_beats
from research.sweep import run_sweep
from research.walkforward import run_walkforward

SETTINGS = RunSettings(start="2018-01-01", end="2019-12-31")
GRID = {"lookback": [21, 63], "allocation": [0.5, 1.0]}


@pytest.fixture(scope="module")
def feeds():
    from feeds import prepare_feeds

    return prepare_feeds(SETTINGS.start, SETTINGS.end)


@pytest.fixture(scope="module")
def cash(raw_csv):
    """The cash sleeve's daily returns from the raw CSVs (BIL to SGOV's first day 2020-06-01, SGOV after)."""
    bil = raw_csv("BIL")["Adj Close"].loc[:"2020-06-01"].pct_change()
    sgov = raw_csv("SGOV")["Adj Close"].loc["2020-06-01":].pct_change().iloc[1:]
    return pd.concat([bil, sgov])


@pytest.fixture(scope="module")
def swept(feeds):
    return guarded_sweep("rotation", GRID, feeds, SETTINGS, engine="fast", jobs=1, progress=False, blocks=4)


def excess_of_run(feeds, cash, params) -> np.ndarray:
    equity = run_one("rotation", feeds, SETTINGS, params).equity  # the Backtrader engine
    returns = equity.pct_change().iloc[1:]
    return (returns - cash.reindex(returns.index)).to_numpy()


def test_guarded_sweep_table_and_block_moments(feeds, cash, swept):
    pd.testing.assert_frame_equal(swept.table, run_sweep("rotation", GRID, feeds, SETTINGS, engine="fast", jobs=1, progress=False))
    excess = excess_of_run(feeds, cash, {"lookback": 63, "allocation": 0.5})  # combination 3 of the grid
    blocks = np.array_split(excess, 4)
    np.testing.assert_array_equal(swept.moments.counts, [len(b) for b in blocks])
    np.testing.assert_allclose(swept.moments.sums[:, 2], [b.sum() for b in blocks], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(swept.moments.squares[:, 2], [(b ** 2).sum() for b in blocks], rtol=1e-7)
    bt = guarded_sweep("rotation", {"lookback": [63], "allocation": [0.5]}, feeds, SETTINGS, jobs=1, progress=False, blocks=4)
    np.testing.assert_allclose(bt.moments.sums[:, 0], swept.moments.sums[:, 2], rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(bt.collected.returns[0], excess, rtol=1e-5, atol=1e-9)  # float32


def test_guard_figures_equal_independent_ones(feeds, cash, swept, raw_csv):
    out = guard("rotation", swept.collected, swept.grid, swept.base, feeds, SETTINGS, top=4)
    assert out["trials"] == 4
    order = swept.table["CAGR [%]"].sort_values(ascending=False, kind="stable").index
    combos = [dict(zip(GRID, (swept.table.loc[i, "lookback"], swept.table.loc[i, "allocation"]))) for i in order]
    assert out["best"] == {k: (int(v) if k == "lookback" else float(v)) for k, v in combos[0].items()}
    candidates = np.column_stack([excess_of_run(feeds, cash, {k: (int(v) if k == "lookback" else float(v)) for k, v in c.items()})
                                  for c in combos])
    sharpes = swept.moments.sharpe()
    best = candidates[:, 0]
    skew = ((best - best.mean()) ** 3).mean() / best.std() ** 3
    kurt = ((best - best.mean()) ** 4).mean() / best.std() ** 4
    expected = of.deflated_sharpe(best.mean() / best.std(ddof=1), 4, float(np.var(sharpes, ddof=1)), len(best), skew, kurt)
    assert out["deflated Sharpe"] == pytest.approx(expected, abs=1e-6)
    assert out["PBO"] == of.pbo(swept.moments).pbo and out["PBO blocks"] == 4 and out["PBO splits"] == 6
    spy = raw_csv("SPY")["Adj Close"]
    bench = (spy.pct_change() - cash).loc["2018-01-02":"2019-12-31"].to_numpy()
    direct = SPA(-bench, -candidates, block_size=21, reps=1000, seed=19)
    direct.compute()
    assert out["SPA"]["p-value"] == pytest.approx(direct.pvalues["consistent"], abs=0.05)  # own draws: MC error
    assert out["sentence"].startswith("best of 4 trials; deflated Sharpe ")
    again = guard("rotation", swept.collected, swept.grid, swept.base, feeds, SETTINGS, top=4)
    assert json.dumps(again) == json.dumps(out)  # seeded: byte-identical


def test_sweep_keeps_the_returns_of_its_best_trials(feeds, cash):
    """Chunks of 3 combinations send their own 2 best; the collector keeps the sweep's 2 best (ties in grid order)
    with the returns a fresh run gives, and the guard re-runs nothing for them."""
    from engines.grid import best_first
    from research.guard import GuardCollector, candidate_returns

    grid = {"lookback": [21, 42, 63, 84], "allocation": [0.5, 1.0], "vix_level": [30.0, 99.0]}
    swept = guarded_sweep("rotation", grid, feeds, SETTINGS, engine="fast", jobs=1, progress=False, blocks=4, chunk=3,
                          top=2, metric="Sharpe")
    sharpe = swept.table["Sharpe"].to_numpy()
    figures = swept.table.drop(columns=list(grid)).round(12).astype(str).agg("|".join, axis=1)
    first = set(figures.drop_duplicates().index)  # one run per distinct set of figures: the same returns
    expected = [i for i in sorted(range(len(sharpe)), key=lambda i: (-sharpe[i], i)) if i in first][:2]
    assert len(first) < len(sharpe)  # the grid has runs with the same returns: the kept two are distinct
    assert sorted(swept.collected.best) == sorted(expected)
    assert [i for i in best_first(sharpe) if i in first][:2] == expected
    for row in expected:
        np.testing.assert_allclose(swept.collected.best[row], excess_of_run(feeds, cash, swept.grid.combo(row)), rtol=1e-9, atol=1e-13)
    empty = GuardCollector(swept.collected.size, 4, int(swept.moments.counts.sum()), "Sharpe", top=2)
    resimulated = candidate_returns("rotation", empty, swept.grid, swept.base, np.array(expected), feeds, SETTINGS)
    np.testing.assert_array_equal(np.column_stack([swept.collected.best[r] for r in expected]), resimulated)


def test_collector_keeps_the_global_best_whatever_the_order_of_chunks():
    from engines.grid import Chunk
    from research.guard import GuardCollector

    values = np.array([0.5, 2.0, 2.0, np.nan, 1.0, 2.0, 3.0, -1.0, 2.0])  # ties at 2.0: rows 1, 2, 5, 8
    collector = GuardCollector(len(values), 2, 20, "Sharpe", top=3)
    for lo, hi in ((6, 9), (0, 3), (3, 6)):  # out of order
        part = values[lo:hi]
        own = np.lexsort((np.arange(hi - lo), -np.where(np.isnan(part), -np.inf, part)))[:3]
        columns = {k: part for k in ("Sharpe", "CAGR [%]", "Max drawdown [%]")}
        rows = np.arange(lo, hi, dtype=float)[:, None] * np.ones((1, 2))  # every trial's returns differ
        extras = {"block sums": rows, "block squares": rows ** 2,
                  "best rows": own + lo, "best excess returns": np.full((len(own), 20), float(lo))}
        collector.add(Chunk(lo, columns, extras))
    assert sorted(collector.best) == [1, 2, 6]  # 3.0, then the first two 2.0s in grid order
    same = GuardCollector(len(values), 2, 20, "Sharpe", top=3)  # now rows 1, 2, 5 and 8 have the same returns
    for lo, hi in ((6, 9), (0, 3), (3, 6)):
        part = values[lo:hi]
        own = np.lexsort((np.arange(hi - lo), -np.where(np.isnan(part), -np.inf, part)))[:3]
        rows = np.array([[7.0, 7.0] if i in (1, 2, 5, 8) else [i, i] for i in range(lo, hi)], dtype=float)
        same.add(Chunk(lo, {k: part for k in ("Sharpe", "CAGR [%]", "Max drawdown [%]")},
                       {"block sums": rows, "block squares": rows, "best rows": own + lo,
                        "best excess returns": np.full((len(own), 20), float(lo))}))
    assert sorted(same.best) == [1, 4, 6]  # 3.0, the first of the 2.0s, then 1.0: one run per return series


def test_reach_finds_the_closest_trial():
    table = pd.DataFrame({"lookback": [21, 63, 126], "CAGR [%]": [16.0, 14.0, 9.0],
                          "Max drawdown [%]": [-20.0, -15.0, -10.0], "Sharpe": [0.9, 0.8, 0.5]})
    figures = {k: table[k].to_numpy() for k in ("CAGR [%]", "Max drawdown [%]", "Sharpe")}
    out = reach(figures, {"CAGR [%]": 15.2, "Max drawdown [%]": -16.8}, params_of=lambda row: {"lookback": int(table["lookback"][row])})
    assert out["trials reaching it"] == 0
    assert out["closest"]["lookback"] == 63 and out["shortfall [pp]"] == pytest.approx(1.2)  # 15.2 - 14.0, no DD gap
    assert reach(figures, {"CAGR [%]": 13.0, "Max drawdown [%]": -16.8})["trials reaching it"] == 1


def test_comparison_intervals_and_claims(feeds, cash, raw_csv):
    results = [run_one(n, feeds, SETTINGS) for n in ("rotation", "buy-hold-spy")]
    table = comparison_intervals(results, feeds, SETTINGS, reps=400)
    spy = results[1]
    returns = spy.equity.pct_change().iloc[1:]
    years = (spy.equity.index[-1] - spy.equity.index[0]).days / 365.25
    expected = of.bootstrap_intervals(returns.to_numpy(), cash.reindex(returns.index).to_numpy(), years=years, reps=400)
    for figure, (low, high) in expected.items():
        assert table.loc["buy-hold-spy", f"{figure} low"] == pytest.approx(low, rel=1e-9)
        assert table.loc["buy-hold-spy", f"{figure} high"] == pytest.approx(high, rel=1e-9)
        assert low <= table.loc["buy-hold-spy", figure] <= high or figure == "Max drawdown [%]"
    beats = sharpe_beats(results[0], spy, feeds, SETTINGS, reps=400)
    assert 0.0 <= beats <= 1.0
    claims = claims_table(results[0], SETTINGS, {"CAGR [%]": (1.0, 15.0), "Max drawdown [%]": (-30.0, -10.0)})
    assert claims.loc["CAGR [%]", "Published inside?"] == "no"  # 15.2 > 15.0
    assert claims.loc["Max drawdown [%]", "Published inside?"] == "yes"
    assert claims.loc["Monthly win rate [%]", "Published inside?"] == "n/a"


def test_walkforward_reports_the_fall_and_the_grid_median(feeds):
    settings = RunSettings(start="2016-01-01", end="2019-12-31")
    from feeds import prepare_feeds

    wide = prepare_feeds(settings.start, settings.end)
    table, _ = run_walkforward("rotation", GRID, wide, settings, in_sample_years=2, engine="fast", progress=False, jobs=1)
    for _, row in table.iterrows():
        oos_start, oos_end = row["out-of-sample"].split("..")
        grid = run_sweep("rotation", GRID, wide.window(oos_start, oos_end), settings, engine="fast", jobs=1, progress=False)
        median = grid["CAGR [%]"].median()
        assert row["grid median out-of-sample CAGR [%]"] == pytest.approx(median, rel=1e-12)
        chosen = grid[(grid["lookback"] == row["lookback"]) & (grid["allocation"] == row["allocation"])]["CAGR [%]"].iloc[0]
        assert row["beat the grid median"] == ("yes" if chosen > median else "no")
        assert row["fall CAGR [%]"] == pytest.approx(row["in-sample CAGR [%]"] - row["out-of-sample CAGR [%]"])


def test_sweep_command_prints_and_writes_the_luck_check(tmp_path, capsys):
    args = ["sweep", "--engine", "fast", "--start", "2019-01-01", "--end", "2024-12-31", "--grid",
            "allocation=0.01,0.05,0.25,0.5,1", "--metric", "Sharpe", "--jobs", "1", "--pbo-blocks", "8", "--target", "card"]
    assert main([*args, "--output", str(tmp_path / "a")]) == 0
    printed = capsys.readouterr().out
    assert "Luck check (5 trials, best by Sharpe)" in printed and "best of 5 trials; deflated Sharpe" in printed
    document = json.loads((tmp_path / "a" / "sweep.json").read_text())
    luck = document["luck check"]
    assert luck["trials"] == 5 and luck["PBO blocks"] == 8 and luck["PBO splits"] == math.comb(8, 4)
    assert luck["target"]["CAGR at least [%]"] == 15.2 and luck["target"]["trials reaching it"] == 0
    assert pd.read_csv(tmp_path / "a" / "sweep.csv")["Sharpe"].max() < 1.0  # 99% T-bills no longer score a Sharpe near 9
    assert main([*args, "--output", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "sweep.json").read_text())["luck check"] == luck
    assert "How much of this best is luck" in (tmp_path / "a" / "report.html").read_text()
    assert main([*args[:-4], "--pbo-blocks", "7", "--output", str(tmp_path / "c")]) == 2
    assert "--pbo-blocks must be an even whole number" in capsys.readouterr().err
    for blocks in ("66", "100000"):
        assert main([*args[:-4], "--pbo-blocks", blocks, "--output", str(tmp_path / "d")]) == 2
        assert "--pbo-blocks must be an even whole number from 2 to 64" in capsys.readouterr().err
    for target in ("nan,-10", "15,inf"):
        assert main([*args[:-1], target, "--output", str(tmp_path / "d")]) == 2
        assert "CAGR and max drawdown must be finite numbers" in capsys.readouterr().err
    for top in ("0", "1001"):
        assert main([*args[:-4], "--spa-top", top, "--output", str(tmp_path / "d")]) == 2
        assert "--spa-top must be a whole number from 1 to 1,000" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_identical_trials_have_no_pbo(tmp_path, capsys):
    """Levels the ratio never reaches in 2012-2013: every trial holds the cash sleeve, the same returns. Nothing was
    chosen, so no overfitting figure (CSCV would count the tied median ranks as 'overfit': PBO 1.00)."""
    args = ["sweep", "--strategy", "ratio-pair", "--engine", "fast", "--start", "2012-01-01", "--end", "2013-12-31",
            "--grid", "zone_low=5,6", "--grid", "zone_high=7,8", "--grid", "stop=9", "--grid", "target=1", "--jobs", "1",
            "--output", str(tmp_path / "flat")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "flat" / "sweep.csv")
    assert table["Final value [$]"].nunique() == 1 and table["Rebalances"].max() == 1  # independently: all the same
    luck = json.loads((tmp_path / "flat" / "sweep.json").read_text())["luck check"]
    assert luck["PBO"] is None and luck["PBO note"].startswith("all 4 trials have the same daily returns")
    assert "this best cannot be told apart from luck" in luck["sentence"] and "PBO" not in luck["sentence"]
    assert "note: all 4 trials have the same daily returns" in printed
    assert "PBO: all 4 trials have the same daily returns" in (tmp_path / "flat" / "report.html").read_text()


def test_trials_with_the_same_returns_count_once(feeds, cash, raw_csv):
    """VIX never reached 60 in 2017-2019 (independently: the raw CSV), so vix_level 60 and 70 change nothing:
    4 trials, 2 distinct. N and the Sharpe variance of the deflated Sharpe are the 2 distinct ones' (Backtrader runs)."""
    assert raw_csv("VIX").loc["2017-01-01":"2019-12-31", ["Open", "Close"]].max().max() < 60
    grid = {"lookback": [21, 63], "vix_level": [60.0, 70.0]}
    swept = guarded_sweep("rotation", grid, feeds, SETTINGS, engine="fast", jobs=1, progress=False, blocks=4)
    out = guard("rotation", swept.collected, swept.grid, swept.base, feeds, SETTINGS)
    assert out["trials"] == 4 and out["distinct trials"] == 2 and "(2 distinct)" in out["sentence"]
    runs = {lb: excess_of_run(feeds, cash, {"lookback": lb, "vix_level": 60.0}) for lb in (21, 63)}
    sharpes = {lb: r.mean() / r.std(ddof=1) for lb, r in runs.items()}
    best_lb = out["best"]["lookback"]
    best = runs[best_lb]
    skew = ((best - best.mean()) ** 3).mean() / best.std() ** 3
    kurt = ((best - best.mean()) ** 4).mean() / best.std() ** 4
    expected = of.deflated_sharpe(sharpes[best_lb], 2, float(np.var(list(sharpes.values()), ddof=1)), len(best), skew, kurt)
    assert out["deflated Sharpe"] == pytest.approx(expected, abs=1e-6)
    assert out["SPA"]["candidates"] == 2 and out["PBO splits"] > 0
