"""SPY/IWM ratio strategies: synthetic paths crossing each level, the bundled-data trades against an independent
pandas computation, pair neutrality, re-arm rules, no look-ahead, parameter validation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from feeds import FeedSet, nyse_sessions, prepare_feeds
from engines.engine import RunError, RunSettings, build_run, execute
from signals import ratio as sig

WARMUP_FROM, START, END = "2018-06-01", "2019-01-02", "2019-12-31"


def synthetic_feeds(path: dict[int, float], base: float = 1.8) -> tuple[FeedSet, pd.DatetimeIndex]:
    """IWM flat at 100, SPY = ratio x 100; ``path`` maps a measured-session number to the ratio from then on."""
    sessions = nyse_sessions(WARMUP_FROM, END)
    measured = sessions[sessions >= START]
    ratio = pd.Series(base, index=sessions)
    for k, value in sorted(path.items()):
        ratio.loc[measured[k]:] = value

    def bars(close: pd.Series, volume: float = 1e6) -> pd.DataFrame:
        return pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": volume, "raw_close": close})

    frames = {"IWM": bars(pd.Series(100.0, index=sessions)), "SPY": bars(100.0 * ratio),
              "VIX": bars(pd.Series(20.0, index=sessions), 0.0), "SGOV": bars(pd.Series(100.0, index=sessions))}
    fs = FeedSet(frames, measured[0], measured[-1], {k: "synthetic" for k in frames})
    return fs, measured


def run_on(fs: FeedSet, cls_name: str = "ratio-rotation", **params):
    entry, _, cerebro = build_run(cls_name, fs, RunSettings(start=str(fs.start.date()), end=str(fs.end.date())), params)
    return execute(entry, cerebro)


# Ratio path by measured session: entry zone at 10 (trade at 11), target at 20 (exit 21), zone at 30 (entry 31),
# stop at 40 (exit 41), exactly the zone top 2.35 at 45, inside at 50, below target at 60, zone again at 70.
PATH = {10: 2.2, 20: 1.9, 30: 2.2, 40: 2.4, 45: 2.35, 50: 2.3, 60: 1.9, 70: 2.2}


@pytest.mark.parametrize("mode", ["rotation", "pair"])
def test_entries_exits_and_stops_on_exact_bars(mode):
    fs, s = synthetic_feeds(PATH)
    strategy = run_on(fs, f"ratio-{mode}")
    d = lambda k: s[k].date()  # noqa: E731
    assert strategy.trades_log == [(d(11), d(21), "target"), (d(31), d(41), "stop"), (d(51), d(61), "target"), (d(71), None, "end")]
    assert strategy.rejected_orders == []
    weights = strategy.analyzers.getbyname("equity").get_analysis()["weights"]
    if mode == "rotation":
        assert weights.loc[s[11], "IWM"] == pytest.approx(1.0, abs=0.01) and weights.loc[s[10], "SPY"] == pytest.approx(1.0, abs=0.01)
    else:
        long, short = weights.loc[s[11], "IWM"], weights.loc[s[11], "SPY"]
        assert long == pytest.approx(0.5, abs=0.01) and short == pytest.approx(-0.5, abs=0.01)
        assert abs(long + short) <= 0.01 * long  # dollar-neutral within 1%
        assert weights.loc[s[21], ["IWM", "SPY"]].abs().sum() == 0.0


@pytest.mark.parametrize(
    "rearm, trades",
    [
        ("below_zone_top", [(11, 21, "target"), (31, 41, "stop"), (51, 61, "target"), (71, None, "end")]),
        ("immediate", [(11, 21, "target"), (31, 41, "stop"), (46, 61, "target"), (71, None, "end")]),
        ("below_target", [(11, 21, "target"), (31, 41, "stop"), (71, None, "end")]),
    ],
)
def test_rearm_rules_after_a_stop(rearm, trades):
    fs, s = synthetic_feeds(PATH)
    strategy = run_on(fs, "ratio-rotation", rearm=rearm)
    expected = [(s[a].date(), s[b].date() if b is not None else None, why) for a, b, why in trades]
    assert strategy.trades_log == expected


def test_zscore_variant_enters_beyond_band_and_exits_at_mean():
    fs, s = synthetic_feeds({5: 1.9, 100: 1.8})  # a jump up (z >> 1.5), later back down (z < 0)
    strategy = run_on(fs, "ratio-z-rotation", lookback=60)
    assert strategy.trades_log[0] == (s[6].date(), s[101].date(), "exit")


def test_pure_levels_validation():
    with pytest.raises(ValueError, match="target < zone_low < zone_high <= stop"):
        sig.Levels(target=2.2, zone_low=2.13)
    assert sig.step_levels(sig.TradeState(), 2.2, sig.Levels()) == (sig.TradeState(True, True), "entry")


def independent_fixed_level_trades(raw_csv, start="2010-01-04", end="2024-12-31"):
    """The newsletter's rule from the CSVs with plain pandas: step on the previous close, trade at the next open."""
    spy, iwm = raw_csv("SPY")["Close"], raw_csv("IWM")["Close"]
    ratio = (spy / iwm).loc[:end]
    dates = ratio.index
    first = dates.get_loc(pd.Timestamp(start))
    in_trade, armed, trades, entry = False, True, [], None
    for i in range(first, len(dates)):
        r = ratio.iloc[i - 1]
        today = dates[i].date()
        if in_trade:
            if r > 2.35:
                in_trade, armed = False, False
                trades.append((entry, today, "stop"))
            elif r <= 1.95:
                in_trade = False
                trades.append((entry, today, "target"))
        else:
            if not armed and r < 2.35:
                armed = True
            if armed and 2.13 <= r <= 2.35:
                in_trade, entry = True, today
    if in_trade:
        trades.append((entry, None, "end"))
    return trades


@pytest.fixture(scope="module")
def bundled_runs(feedset):
    return {name: run_on(feedset, name) for name in ("ratio-rotation", "ratio-pair")}


def test_bundled_trades_equal_independent_computation(bundled_runs, raw_csv):
    expected = independent_fixed_level_trades(raw_csv)
    assert len(expected) == 10
    for strategy in bundled_runs.values():
        assert strategy.trades_log == expected
        assert strategy.rejected_orders == []


def test_no_look_ahead(bundled_runs):
    cut = pd.Timestamp("2023-06-30")
    short = run_on(prepare_feeds("2010-01-01", str(cut.date())), "ratio-rotation")
    full = bundled_runs["ratio-rotation"].trades_log
    closed_before = [t for t in full if t[1] is not None and pd.Timestamp(t[1]) <= cut]
    assert [t for t in short.trades_log if t[2] != "end"] == closed_before
    assert [e[:2] for e in short.rebalance_log] == [e[:2] for e in bundled_runs["ratio-rotation"].rebalance_log if e[0] <= cut]


def test_short_cost_is_charged(feedset):
    free = run_on(feedset, "ratio-pair").broker.getvalue()
    costly = run_on(feedset, "ratio-pair", short_cost=0.02).broker.getvalue()
    assert costly < free


def test_analyzers_work_unchanged_on_ratio_strategies(feedset):
    for name in ("ratio-pair", "ratio-z-rotation"):
        entry, _, cerebro = build_run(name, feedset, RunSettings())
        strategy = execute(entry, cerebro)
        perf = strategy.analyzers.getbyname("performance").get_analysis()
        equity = strategy.analyzers.getbyname("equity").get_analysis()["equity"]
        assert perf["Final value"] == pytest.approx(strategy.broker.getvalue())
        assert perf["Final value"] == pytest.approx(equity.iloc[-1])
        assert strategy.analyzers.getbyname("winrate").get_analysis()["Months"] == 180
        assert strategy.analyzers.getbyname("switches").get_analysis()["Switches"] >= 2 * len(strategy.trades_log) - 1


@pytest.mark.parametrize(
    "name, param, value, message",
    [("ratio-rotation", "zone_low", 2.5, "target < zone_low < zone_high <= stop"),
     ("ratio-rotation", "stop", 2.2, "target < zone_low < zone_high <= stop"),
     ("ratio-rotation", "rearm", "never", "rearm must be one of"),
     ("ratio-pair", "pair_size", 0, "pair_size must be > 0"),
     ("ratio-pair", "short_cost", -0.01, "short_cost must be >= 0"),
     ("ratio-rotation", "mode", "short", "mode must be one of"),
     ("ratio-rotation", "price", "close", "price must be one of"),
     ("ratio-z-rotation", "lookback", 1, "lookback must be >= 2"),
     ("ratio-z-rotation", "stop_z", 1.0, "stop_z must be > 1.5")],
)
def test_bad_parameters(feedset, name, param, value, message):
    with pytest.raises(RunError, match=name) as info:
        run_on(feedset, name, **{param: value})
    assert message in str(info.value)


def independent_zscore_trades(raw_csv, start="2010-01-04", end="2024-12-31", lookback=252, entry=1.5, exit_=0.0):
    """The rolling rule from the CSVs with plain numpy: z of log(SPY/IWM) over the last ``lookback`` closes up to
    the previous session (population std), enter at z >= entry, exit at z <= exit_, trade at the next open."""
    spy, iwm = raw_csv("SPY")["Close"], raw_csv("IWM")["Close"]
    logs = np.log((spy / iwm).loc[:end].dropna())
    dates = logs.index
    first = dates.get_loc(pd.Timestamp(start))
    in_trade, trades, entry_day = False, [], None
    for i in range(first, len(dates)):
        window = logs.iloc[i - lookback:i].to_numpy()
        z = (window[-1] - window.mean()) / window.std()
        today = dates[i].date()
        if in_trade and z <= exit_:
            in_trade = False
            trades.append((entry_day, today, "exit"))
        elif not in_trade and z >= entry:
            in_trade, entry_day = True, today
    if in_trade:
        trades.append((entry_day, None, "end"))
    return trades


def test_bundled_zscore_trades_equal_independent_computation(feedset, raw_csv):
    expected = independent_zscore_trades(raw_csv)
    assert len(expected) >= 5
    for name in ("ratio-z-rotation", "ratio-z-pair"):
        strategy = run_on(feedset, name)
        assert strategy.trades_log == expected, name
        assert strategy.rejected_orders == []


@pytest.mark.parametrize("column", ["Close", "Adj Close"])
def test_vectorised_zscores_are_bitwise_zscore_last_bar_by_bar(raw_csv, column):
    """``zscores_to_previous_close`` gives exactly the floats of ``zscore_last(np.log(window))`` per bar on the
    bundled raw and adjusted closes, for several lookbacks (including ones around numpy's pairwise block of 128)."""
    both = pd.concat([raw_csv("SPY")[column], raw_csv("IWM")[column]], axis=1, join="inner").to_numpy()
    spy, iwm = both[:, 0], both[:, 1]
    for lookback in (2, 3, 20, 63, 128, 129, 252, 600):
        expected = np.full(len(spy), np.nan)
        for bar in range(lookback, len(spy)):
            expected[bar] = sig.zscore_last(np.log(spy[bar - lookback:bar] / iwm[bar - lookback:bar]))
        got = sig.zscores_to_previous_close(spy, iwm, lookback)
        assert np.array_equal(got, expected, equal_nan=True), lookback
        assert np.isnan(got[:lookback]).all() and not np.isnan(got[lookback:]).any(), lookback
        inclusive = sig.trailing_zscores(np.log(spy / iwm), lookback)  # windows ending at each bar (the indicator)
        assert np.array_equal(inclusive[:-1], expected[1:], equal_nan=True), lookback


def test_vectorised_zscores_edges_and_no_lookahead():
    flat = np.full(10, 2.0)
    assert np.isnan(sig.zscores_to_previous_close(flat, np.ones(10), 3)).all()  # zero spread: NaN, as zscore_last
    assert np.isnan(sig.zscores_to_previous_close(np.arange(1.0, 4.0), np.ones(3), 5)).all()  # too short
    with pytest.raises(ValueError, match="same length"):
        sig.zscores_to_previous_close(np.ones(4), np.ones(5), 2)
    rng = np.random.default_rng(7)
    spy, iwm = 200 + rng.normal(0, 5, 300), 100 + rng.normal(0, 3, 300)
    before = sig.zscores_to_previous_close(spy, iwm, 20)
    changed = spy.copy()
    changed[150:] *= 3.0  # closes from bar 150 on change: values up to bar 150 (closes before it) must not
    after = sig.zscores_to_previous_close(changed, iwm, 20)
    assert np.array_equal(before[:151], after[:151], equal_nan=True)
    assert not np.array_equal(before[151:], after[151:])


@pytest.mark.parametrize("price", ["raw", "adjusted"])
def test_zscore_strategy_same_vectorised_and_bar_by_bar(feedset, price):
    """Default run (runonce, vectorised signal and indicator) == runonce=False (indicator ``next``) == feeds not
    preloaded (signal from ``zscore_last`` bar by bar): same decisions, z line, trades and final value."""
    runs = []
    for kwargs in ({}, {"runonce": False}, {"preload": False, "runonce": False}):
        _, _, cerebro = build_run("ratio-z-pair", feedset, RunSettings(), {"price": price, "lookback": 63, "entry_z": 1.0})
        runs.append(cerebro.run(**kwargs)[0])
    base = runs[0]
    assert len(base._zscores) > 0 and len(runs[1]._zscores) > 0 and len(runs[2]._zscores) == 0  # each path taken
    decisions = pd.DataFrame(base.decisions)
    assert len(decisions) > 3000 and decisions["z"].notna().all() and (decisions["event"] == "entry").sum() >= 5
    z_line = np.array(base.z.lines.z.array)
    assert np.isnan(z_line[:62]).all() and not np.isnan(z_line[62:]).any()
    for other in runs[1:]:
        assert pd.DataFrame(other.decisions).equals(decisions)
        assert np.array_equal(np.array(other.z.lines.z.array), z_line, equal_nan=True)
        assert other.trades_log == base.trades_log
        assert other.broker.getvalue() == base.broker.getvalue()
