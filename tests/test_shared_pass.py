"""Several runs in one shared pass (engines.shared_pass) give each run exactly its single run's results: every
built-in and parameter variants, with costs; two copies of one strategy keep separate money; a strategy that fails
or stops the run is handled as in its single run; Backtrader's plot of a run in a pass is its single run's plot."""
from __future__ import annotations

import backtrader as bt
import matplotlib.image
import numpy as np
import pandas as pd
import pytest

from feeds import build_cerebro, prepare_feeds
from engines.compare import compare, default_names
from engines.engine import RunError, RunItem, RunSettings, run_one, warmup_for
import engines.shared_pass as shared_pass
from engines.shared_pass import MAX_RUNS_PER_PASS, BrokerPerStrategy, passes, plot_settings, run_together, set_plot_settings
from strategies import PortfolioStrategy
from strategies.registry import Entry

START, END = "2018-01-01", "2021-12-31"  # the ratio strategies trade from 2020 on
COSTS = RunSettings(start=START, end=END, commission=0.0005, commission_per_share=0.005, slippage=0.0002)
VARIANTS = [(n, {}) for n in default_names()] + [
    ("rotation", {"fill": "close", "vix_timing": "daily", "breaker_drawdown": 0.03}),
    ("ratio-pair", {"short_cost": 0.01}),
]


@pytest.fixture(scope="module")
def feeds():
    return prepare_feeds(START, END, warmup_sessions=warmup_for(VARIANTS))


def assert_same_run(together, single) -> None:
    """Every field of two RunResults equal (frames and series exactly, with their index and dtypes)."""
    assert together.name == single.name and together.params == single.params
    assert together.metrics == single.metrics
    for field in ("equity", "weights", "trades", "decisions"):
        a, b = getattr(together, field), getattr(single, field)
        assert a.equals(b) and list(a.index) == list(b.index), (single.name, field)
    assert together.notes == single.notes and together.rejected_orders == single.rejected_orders
    assert together.analyses.keys() == single.analyses.keys()
    for name, analysis in single.analyses.items():
        for key, value in analysis.items():
            other = together.analyses[name][key]
            same = value.equals(other) if isinstance(value, (pd.Series, pd.DataFrame)) else value == other or (value != value and other != other)
            assert same, (single.name, name, key)


def test_each_run_in_a_pass_equals_its_single_run_with_costs(feeds):
    results = run_together(VARIANTS, feeds, COSTS)
    assert [r.name for r in results] == [n for n, _ in VARIANTS]
    traded = 0
    for (name, params), together in zip(VARIANTS, results):
        single = run_one(name, feeds, COSTS, params)
        assert_same_run(together, single)
        traded += len(single.trades)
    assert traded > 100  # the runs trade: fills, commissions and slippage are compared, not empty frames


class Stopper(PortfolioStrategy):
    """Holds SPY, then stops the whole run (cerebro.runstop) on its 100th session."""

    def next_open(self):
        if self.is_rebalance_day():
            self.rebalance({"SPY": 1.0})
        if len(self) == 100:
            self.env.runstop()


class FailsIn2019(PortfolioStrategy):
    """Holds SPY; raises a ValueError of its own on its first session of 2019."""

    def next_open(self):
        if self.now().year == 2019:
            raise ValueError("no decision possible on " + str(self.now().date()))
        if self.is_rebalance_day():
            self.rebalance({"SPY": 1.0})


class MovesIwmStart(PortfolioStrategy):
    """Holds SPY; moves the IWM feed's first measured session (a feed parameter every strategy reads) to 2020."""

    def __init__(self):
        super().__init__()
        self.getdatabyname("IWM").p.trade_from = pd.Timestamp("2020-01-02")

    def next_open(self):
        if self.is_rebalance_day():
            self.rebalance({"SPY": 1.0})


def test_a_strategy_that_changes_a_feed_parameter_does_not_change_the_others(feeds):
    mover = Entry("moves-iwm-start", MovesIwmStart, {}, "moves", False)
    together = run_together([("buy-hold-iwm", {}), (mover, {})], feeds, COSTS)
    single = run_one("buy-hold-iwm", feeds, COSTS)
    assert_same_run(together[0], single)
    assert single.equity.index[0] < pd.Timestamp("2018-01-10")  # measured from 2018, as in its single run
    assert_same_run(together[1], run_one(mover, feeds, COSTS))


def test_two_copies_of_one_strategy_keep_separate_money(feeds):
    # with one broker for both, the second copy's orders would meet the first copy's positions and cash
    first, second = run_together([("rotation", {}), ("rotation", {})], feeds, COSTS)
    single = run_one("rotation", feeds, COSTS)
    assert_same_run(first, single)
    assert_same_run(second, single)
    assert single.metrics["Final value [$]"] > 1.2 * COSTS.cash  # a run that made money, not an idle one


def test_a_strategy_that_stops_the_run_does_not_cut_the_others_short(feeds):
    stopper = Entry("stopper", Stopper, {}, "stops", False)
    with_stopper = run_together([("rotation", {}), (stopper, {}), ("buy-hold-spy", {})], feeds, COSTS)
    assert_same_run(with_stopper[0], run_one("rotation", feeds, COSTS))
    assert_same_run(with_stopper[2], run_one("buy-hold-spy", feeds, COSTS))
    assert_same_run(with_stopper[1], run_one(stopper, feeds, COSTS))
    assert with_stopper[0].equity.index[-1] == feeds.end  # the full period, not 100 sessions


def test_a_failing_strategy_is_named_as_in_its_single_run(feeds):
    failing = Entry("fails-2019", FailsIn2019, {}, "fails", False)
    with pytest.raises(RunError) as single:
        run_one(failing, feeds, COSTS)
    with pytest.raises(RunError) as together:
        run_together([("buy-hold-iwm", {}), (failing, {}), ("rotation", {})], feeds, COSTS)
    assert str(together.value) == str(single.value)
    assert "'fails-2019'" in str(together.value) and "2019-01-02" in str(together.value)


def test_each_strategy_has_its_own_broker_and_the_pass_broker_refuses_pooled_reads(feeds):
    seen = []

    class Probe(PortfolioStrategy):
        def start(self):
            seen.append(self.broker)

    probe = Entry("probe", Probe, {}, "probe", False)
    run_together([(probe, {}), (probe, {}), (probe, {})], feeds, COSTS)
    assert len({id(b) for b in seen}) == 3 and all(isinstance(b, bt.brokers.BackBroker) for b in seen)
    with pytest.raises(AttributeError, match="one broker per strategy: read strategy.broker.getvalue"):
        BrokerPerStrategy(seen).getvalue()


def test_backtrader_plot_of_a_run_in_a_pass_is_its_single_run_plot(feeds, tmp_path):
    runs = [("rotation", {}), ("ratio-pair", {})]
    run_together(runs, feeds, COSTS, plot_paths=[str(tmp_path / "rotation.png"), str(tmp_path / "ratio-pair.png")])
    for name, params in runs:
        run_one(name, feeds, COSTS, params, plot_path=tmp_path / f"{name}-single.png")
        together = matplotlib.image.imread(tmp_path / f"{name}.png")
        single = matplotlib.image.imread(tmp_path / f"{name}-single.png")
        assert together.shape == single.shape and together.shape[0] > 500
        assert np.array_equal(together, single), name
    assert not np.array_equal(*(matplotlib.image.imread(tmp_path / f"{n}.png")[:400] for n, _ in runs))


def test_passes_deal_runs_round_robin_and_cap_their_size():
    items = [RunItem(f"run{i}", {}, COSTS) for i in range(7)]
    dealt = passes(items, 2)
    assert [[i.name for i in p.items] for p in dealt] == [["run0", "run2", "run4", "run6"], ["run1", "run3", "run5"]]
    assert len(passes(items, 16)) == 7  # never an empty pass
    many = [RunItem(f"run{i}", {}, COSTS) for i in range(2 * MAX_RUNS_PER_PASS + 1)]
    assert [len(p.items) for p in passes(many, 2)] == [11, 11, 11]


def test_compare_in_passes_on_two_processes_equals_single_runs(feeds):
    names = ["rotation", "ratio-z-pair", "buy-hold-spy", "mix-50-50", "ratio-rotation"]
    lines = []
    results = compare(names, feeds, COSTS, jobs=2, progress=lines.append)
    assert [r.name for r in results] == names
    for name, result in zip(names, results):
        assert_same_run(result, run_one(name, feeds, COSTS))
    counts = sorted(int(line.split("]")[0].split("/")[0][1:]) for line in lines)
    assert counts[-1] == 5 and all(line.endswith("s elapsed") and "/5] runs done" in line for line in lines)


def test_a_pass_is_one_pass_not_single_runs_in_disguise(feeds, monkeypatch):
    expected = [run_one(n, feeds, COSTS) for n in ("rotation", "buy-hold-spy")]

    def no_single_runs(*args, **kwargs):
        raise AssertionError("the pass fell back to single runs")

    monkeypatch.setattr(shared_pass, "run_one", no_single_runs)
    for together, single in zip(run_together([("rotation", {}), ("buy-hold-spy", {})], feeds, COSTS), expected):
        assert_same_run(together, single)


class SkipsItself(PortfolioStrategy):
    def __init__(self):
        raise bt.errors.StrategySkipError()


def test_a_strategy_that_skips_itself_is_named_and_does_not_shift_the_others(feeds):
    skipper = Entry("skipper", SkipsItself, {}, "skips", False)
    with pytest.raises(RunError, match="'skipper' skipped itself"):
        run_one(skipper, feeds, COSTS)
    with pytest.raises(RunError, match="'skipper' skipped itself"):
        run_together([(skipper, {}), ("buy-hold-spy", {}), ("buy-hold-iwm", {})], feeds, COSTS)


class ReadsCerebroBroker(PortfolioStrategy):
    """Holds SPY; reads the value from the Cerebro's broker (``self.env.broker``), which a pass does not pool."""

    def next_open(self):
        if self.is_rebalance_day() and self.env.broker.getvalue() > 0:
            self.rebalance({"SPY": 1.0})


def test_a_pass_that_fails_where_single_runs_succeed_warns_and_gives_the_single_runs(feeds):
    reader = Entry("reads-cerebro-broker", ReadsCerebroBroker, {}, "reads", False)
    with pytest.warns(RuntimeWarning, match="shared pass of reads-cerebro-broker, buy-hold-iwm failed .*one broker per strategy"):
        together = run_together([(reader, {}), ("buy-hold-iwm", {})], feeds, COSTS)
    assert_same_run(together[0], run_one(reader, feeds, COSTS))
    assert_same_run(together[1], run_one("buy-hold-iwm", feeds, COSTS))


def test_plot_snapshots_keep_every_setting_and_share_no_list_with_the_feeds(feeds):
    cerebro = build_cerebro(feeds=feeds)
    vix = cerebro.datas[2]
    found = plot_settings(cerebro.datas)
    assert found[2]["plot"] is False  # VIX is a signal-only feed: not plotted unless a strategy asks
    vix.plotinfo.plot = True
    vix.plotinfo.plothlines = [30.0]  # a setting the feed did not have
    left = plot_settings(cerebro.datas)
    vix.plotinfo.plothlines.append(40.0)  # edited in place after the snapshot
    assert left[2]["plothlines"] == [30.0] and left[2]["plot"] is True
    set_plot_settings(cerebro.datas, found)
    assert vix.plotinfo.plot is False and not hasattr(vix.plotinfo, "plothlines")
    set_plot_settings(cerebro.datas, left)
    vix.plotinfo.plothlines.append(50.0)  # edited in place after the snapshot was put back
    assert vix.plotinfo.plothlines == [30.0, 50.0] and left[2]["plothlines"] == [30.0]
