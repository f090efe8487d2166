"""Several runs in one Backtrader pass over the same feeds, each strategy with a broker of its own.

A comparison runs many strategies on the same bars. Backtrader can run several strategies in one Cerebro, but
they would share its one broker: one cash balance, one set of positions. Here each strategy gets its own broker,
made by ``feeds.make_broker`` from the same settings as a single run's, so each run's orders, fills, cash and
figures are those of its single run (``tests/test_shared_pass.py`` checks them field by field), while the work
every run repeats over the same data (Backtrader's clock, the feeds' advance) is done once per pass.

When the pass cannot stand for the single runs, they run one by one instead, each exactly as ``run_one``:
- a strategy fails: its single run raises its own RunError, naming it;
- a strategy stops the run (``cerebro.runstop()``): in a pass that would stop the others too;
- a strategy skips itself (Backtrader's ``StrategySkipError``): its single run says so;
- a strategy replaces a feed's parameter (``data.p.x = ...``): the others would read the change.

Feeds are shared, so what a strategy changes on them is seen by the others. Plot settings (``data.plotinfo``) as
each strategy's ``__init__`` leaves them are kept per strategy, with list and dict values copied, so that edits in
place stay with that strategy too. Not caught: a feed parameter's mutable value edited in place, and plot settings
changed later than ``__init__`` (in ``start`` or ``next``: a pass plots every strategy with its ``__init__``
settings, a single run with the final ones).

    results = run_together([("rotation", {}), ("buy-hold-spy", {})], feeds, settings)
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from feeds import FeedSet, make_broker

from .engine import (Entry, RunItem, RunResult, RunSettings, checked_run, collect, costs_of, engine_cerebro, run_one,
                     save_plot)
from .executors import TaskError, message_of

MAX_RUNS_PER_PASS = 16  # more runs than this make more passes: their analyzers' records stay in memory together


class BrokerPerStrategy:
    """The Cerebro's broker in a shared pass: Backtrader's own per-session calls (start, next, notifications, stop,
    cheat-on-open) go to every strategy's broker in turn. Each strategy reads and orders through its own
    (``strategy.broker``); there is no pooled cash or position to ask this object for."""

    def __init__(self, brokers: Sequence) -> None:
        self.brokers = list(brokers)

    def set_coo(self, onoff: bool) -> None:
        for broker in self.brokers:
            broker.set_coo(onoff)

    def start(self) -> None:
        for broker in self.brokers:
            broker.start()

    def next(self) -> None:
        for broker in self.brokers:
            broker.next()

    def get_notification(self):
        """The next order notification of any strategy's broker (None when all are empty)."""
        for broker in self.brokers:
            order = broker.get_notification()
            if order is not None:
                return order
        return None

    def stop(self) -> None:
        for broker in self.brokers:
            broker.stop()

    def __getattr__(self, name: str):
        raise AttributeError(
            f"a shared pass has one broker per strategy: read strategy.broker.{name}, not cerebro.broker.{name}"
        )


def _own(value):
    """A list or dict value copied (a snapshot must not share it with the feed), any other value as is."""
    return copy.copy(value) if isinstance(value, (list, dict)) else value


def plot_settings(datas) -> list[dict]:
    """Each feed's plot settings (every attribute of ``data.plotinfo``) as they are now, list and dict values copied."""
    return [{k: _own(v) for k, v in vars(d.plotinfo).items()} for d in datas]


def set_plot_settings(datas, settings: list[dict]) -> None:
    """Make the feeds' plot settings those of a ``plot_settings`` snapshot: attributes added since are removed, the
    others set to copies of the snapshot's list and dict values."""
    for data, plot in zip(datas, settings):
        info = data.plotinfo
        for key in set(vars(info)) - set(plot):
            delattr(info, key)
        for key, value in plot.items():
            setattr(info, key, _own(value))


def feed_params(datas) -> list[dict]:
    """Each feed's parameters (``data.p``) as they are now."""
    return [{k: getattr(d.p, k) for k in d.p._getkeys()} for d in datas]


def same_objects(a: list[dict], b: list[dict]) -> bool:
    """The same value objects in two snapshots (identity: a value replaced even by an equal one counts as changed)."""
    return all(x.keys() == y.keys() and all(x[k] is y[k] for k in x) for x, y in zip(a, b))


class PassState:
    """What the strategies of one pass must not share: a broker each, and the feeds' plot settings as each
    strategy's ``__init__`` leaves them (Backtrader's idiom ``data.plotinfo.plot = True`` changes the feed every
    strategy of the Cerebro reads).

    Each strategy (in construction order, the order they were added) takes the next broker and starts its
    ``__init__`` from the feeds' plot settings as the pass found them; what it leaves is kept as its
    ``pass_plot_settings``, applied when its plot is drawn. ``feeds_changed()``: a strategy changed a feed's
    parameters, which the other strategies' runs read too.
    """

    def __init__(self, brokers: Sequence, datas) -> None:
        self.brokers, self.datas, self.taken = list(brokers), list(datas), 0
        self.plot_found, self.params_found = plot_settings(self.datas), feed_params(self.datas)

    def take_broker(self):
        broker = self.brokers[self.taken]
        self.taken += 1
        return broker

    def before_init(self) -> None:
        set_plot_settings(self.datas, self.plot_found)

    def after_init(self, strategy) -> None:
        strategy.pass_plot_settings = plot_settings(self.datas)
        set_plot_settings(self.datas, self.plot_found)

    def feeds_changed(self) -> bool:
        return not same_objects(feed_params(self.datas), self.params_found)


_IN_PASS: dict[type, type] = {}


def in_pass(cls: type) -> type:
    """The subclass of strategy ``cls`` (same name; made once per class) that a shared pass runs: before ``cls.__init__``
    it takes its own broker from the pass (``cerebro.pass_state``), where Backtrader would give every strategy the
    Cerebro's one broker; around it, the feeds' settings are kept per strategy (``PassState``)."""
    sub = _IN_PASS.get(cls)
    if sub is None:

        def __init__(self, *args, **kwargs):
            state: PassState = self.env.pass_state
            self.broker = state.take_broker()
            state.before_init()
            cls.__init__(self, *args, **kwargs)
            state.after_init(self)

        sub = _IN_PASS[cls] = type(cls.__name__, (cls,), {"__init__": __init__, "__module__": cls.__module__,
                                                           "__doc__": cls.__doc__})
    return sub


def run_together(
    runs: Sequence[tuple[Entry | str, dict | None]],
    feeds: FeedSet,
    settings: RunSettings = RunSettings(),
    *,
    plot_paths: Sequence[str | None] | None = None,
) -> list[RunResult]:
    """``[run_one(name, feeds, settings, params, plot_path=path) ...]`` for ``runs`` ((name or Entry, params)
    pairs) with the same results, in passes of up to ``MAX_RUNS_PER_PASS`` strategies over the data.

    Every run is checked (unknown params, history) before any runs. ``plot_paths`` (one per run, None for no
    plot) saves Backtrader's own plot of each run."""
    plot_paths = list(plot_paths) if plot_paths is not None else [None] * len(runs)
    if len(plot_paths) != len(runs):
        raise ValueError(f"plot_paths: {len(plot_paths)} paths for {len(runs)} runs")
    checked = [checked_run(name, feeds, params) for name, params in runs]
    results: list[RunResult] = []
    for lo in range(0, len(checked), MAX_RUNS_PER_PASS):
        hi = lo + MAX_RUNS_PER_PASS
        results += _one_pass(checked[lo:hi], feeds, settings, plot_paths[lo:hi])
    return results


def _one_pass(checked: list[tuple[Entry, dict]], feeds: FeedSet, settings: RunSettings,
              plot_paths: list[str | None]) -> list[RunResult]:
    if len(checked) == 1:
        entry, full = checked[0]
        return [run_one(entry, feeds, settings, full, plot_path=plot_paths[0])]
    cerebro = engine_cerebro(feeds, settings, for_plot=any(p is not None for p in plot_paths))
    brokers = [make_broker(**costs_of(settings)) for _ in checked]
    for entry, full in checked:
        cerebro.addstrategy(in_pass(entry.cls), **full)
    cerebro.broker = BrokerPerStrategy(brokers)
    cerebro.pass_state = state = PassState(brokers, cerebro.datas)
    try:
        strategies = cerebro.run()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the single runs say which strategy failed, and how
        return _one_by_one(checked, feeds, settings, plot_paths, because=exc)
    if getattr(cerebro, "_event_stop", False):  # a strategy stopped the pass (runstop): the others stopped too
        return _one_by_one(checked, feeds, settings, plot_paths)
    if state.feeds_changed():  # a strategy changed a feed's parameters: the others read them too
        return _one_by_one(checked, feeds, settings, plot_paths)
    if len(strategies) != len(checked):  # a strategy skipped itself (StrategySkipError): the brokers no longer match
        return _one_by_one(checked, feeds, settings, plot_paths)
    results = []
    for (entry, full), strategy, path in zip(checked, strategies, plot_paths, strict=True):
        if path is not None:
            set_plot_settings(cerebro.datas, strategy.pass_plot_settings)
            save_plot(cerebro, strategy, entry, full, feeds, path)
        results.append(collect(entry, full, strategy, feeds))
    return results


def _one_by_one(checked, feeds: FeedSet, settings: RunSettings, plot_paths, because: Exception | None = None) -> list[RunResult]:
    """The runs of a pass that could not stand for them, one by one. A single run's RunError is raised as is, any
    other failure as TaskError naming the strategy."""
    results = []
    for (entry, full), path in zip(checked, plot_paths):
        try:
            results.append(run_one(entry, feeds, settings, full, plot_path=path))
        except ValueError:
            raise
        except Exception as exc:  # noqa: BLE001 - named here: the caller only knows the pass
            raise TaskError(f"strategy {entry.name!r}: {type(exc).__name__}: {message_of(exc)}") from None
    if because is not None:  # every single run succeeded where the pass failed: say so rather than hide it
        warnings.warn(f"a shared pass of {', '.join(e.name for e, _ in checked)} failed ({because!r}) where each "
                      f"single run succeeds; the single runs' results are used", RuntimeWarning, stacklevel=3)
    return results


@dataclass(frozen=True)
class Pass:
    """One unit of work for an executor: runs (``engine.RunItem``s with the same settings, on the whole feeds)
    made in one shared pass."""

    items: tuple[RunItem, ...]

    @property
    def label(self) -> str:
        return "; ".join(item.label for item in self.items)


def passes(items: Sequence[RunItem], parts: int) -> list[Pass]:
    """``items`` dealt round-robin into ``parts`` passes (more when a pass would exceed ``MAX_RUNS_PER_PASS``), so
    that each process gets one pass with a share of every kind of run. Empty passes are left out."""
    count = max(parts, -(-len(items) // MAX_RUNS_PER_PASS), 1)
    return [Pass(tuple(items[k::count])) for k in range(count) if items[k::count]]


def run_pass(feeds: FeedSet, item: Pass) -> list[RunResult]:
    """Executor task: ``run_together`` for a Pass; results in the order of its items."""
    settings = {i.settings for i in item.items}
    if len(settings) != 1 or any(i.start or i.end for i in item.items):
        raise ValueError("a pass runs items with the same settings on the whole feeds (no window)")
    return run_together([(i.name, i.params) for i in item.items], feeds, settings.pop(),
                        plot_paths=[i.plot_path for i in item.items])
