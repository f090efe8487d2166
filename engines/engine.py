"""Run one registered strategy on already-prepared feeds and collect its figures.

``run_one`` is the single place where a Cerebro is assembled for a run; the comparison, sweeps and
walk-forward all call it, so every figure is computed the same way.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from feeds import FeedSet, build_cerebro, nyse_sessions
from feeds.cerebro import DEFAULT_WARMUP_SESSIONS, SIGNAL_ONLY
from strategies import Entry, get

from .errors import DetailedError, code_files, located, traceback_text

COMPARISON_COLUMNS = (
    "CAGR [%]",
    "Volatility [%]",
    "Sharpe",
    "Sortino",
    "Max drawdown [%]",
    "Calmar",
    "Monthly win rate [%]",
    "Switches per year",
    "Rebalances",
    "Exposure [%]",
    "Turnover [x/yr]",
    "Final value [$]",
)
# How each comparison column is printed (one format per column): counts and money as whole numbers with
# thousands separators, everything else with 2 decimals.
COLUMN_FORMATS = {"Rebalances": "{:,.0f}", "Final value [$]": "{:,.0f}"}
DEFAULT_FORMAT = "{:.2f}"


class RunError(DetailedError, ValueError):
    """A run could not be set up or failed: the message names the strategy and the parameter or cause; ``details``
    (text or None) is the traceback of a strategy's own error, printed with --debug."""


def strategy_error(entry: Entry, exc: BaseException) -> RunError:
    """A strategy's exception (SystemExit included) as RunError: one line naming the strategy, the exception type and
    the file:line in the strategy's own code (the innermost frame there), with the traceback in ``details``."""
    if isinstance(exc, RunError):
        return exc
    return RunError(f"strategy {entry.name!r}: {located(exc, code_files(entry.cls))}", traceback_text(exc))


@dataclass(frozen=True)
class RunSettings:
    """What every run in a comparison shares: period, money, costs, data source, benchmark feed and the risk-free
    return Sharpe and Sortino are in excess of (``riskfree``: "cash", the cash sleeve's own daily return, or "zero")."""

    start: str = "2010-01-01"
    end: str = "2024-12-31"
    cash: float = 100_000.0
    commission: float = 0.0
    commission_per_share: float = 0.0
    slippage: float = 0.0
    source: str = "bundled"
    benchmark: str = "SPY"
    riskfree: str = "cash"


@dataclass
class RunResult:
    """The outcome of one run: small and picklable (no Backtrader objects).

    ``trades``: one row per fill (``analyzers.FILL_COLUMNS``: date, symbol, side, size, price, value, commission,
    reason). ``decisions``: the strategy's ``decisions`` list of dicts as a DataFrame (empty when it keeps none).
    """

    name: str
    params: dict
    metrics: dict
    equity: pd.Series
    weights: pd.DataFrame
    analyses: dict = field(default_factory=dict)
    rejected_orders: int = 0
    notes: list = field(default_factory=list)
    trades: pd.DataFrame = field(default_factory=pd.DataFrame)
    decisions: pd.DataFrame = field(default_factory=pd.DataFrame)


def resolve(entry_or_name: Entry | str) -> Entry:
    """The registry entry for a name (RunError listing known names when unknown) or the entry itself."""
    if isinstance(entry_or_name, Entry):
        return entry_or_name
    try:
        return get(entry_or_name)
    except KeyError as exc:
        raise RunError(str(exc.args[0])) from None


def merged_params(entry: Entry, params: dict | None) -> dict:
    """The entry's preset params overridden by ``params``; unknown names rejected naming the strategy."""
    known = set(entry.cls.params._getkeys())
    unknown = sorted(set(params or {}) - known)
    if unknown:
        raise RunError(
            f"strategy {entry.name!r}: unknown parameter(s) {', '.join(unknown)}; "
            f"its parameters are {', '.join(sorted(k for k in known if not k.startswith('_')))}"
        )
    return {**entry.params, **(params or {})}


def check_params(entry: Entry, params: dict | None) -> dict:
    """The merged params of ``entry``, checked by the strategy's own validation before any run (RunError naming the
    strategy and the parameter). A strategy whose validation needs more than its params is checked when it runs."""
    full = merged_params(entry, params)
    check = getattr(entry.cls, "check_params", None)
    if check is not None:
        try:
            check(full)
        except ValueError as exc:
            raise RunError(f"strategy {entry.name!r}: {exc}") from None
        except (AttributeError, TypeError, KeyError):
            pass  # validation reads the feeds or the broker: it runs with the strategy
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a bug in the validation: named with its line
            raise strategy_error(entry, exc) from None
    history_needed(entry, full)  # more history than any data holds: refused now
    return full


# More sessions of history than any daily data can hold (about 400 years): a strategy asking for more is refused
# by name before anything is loaded (a date that far back does not exist).
MAX_HISTORY_SESSIONS = 100_000


def history_needed(entry: Entry, params: dict) -> int:
    """Sessions of history ``entry`` needs before its first decision with ``params`` (0 when it does not say);
    RunError naming the strategy and its history parameters when it is more than ``MAX_HISTORY_SESSIONS``."""
    declare = getattr(entry.cls, "history_needed", None)
    try:
        needed = int(declare(params)) if declare is not None else 0
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - the strategy's own code: named with its line
        raise strategy_error(entry, exc) from None
    if needed > MAX_HISTORY_SESSIONS:
        named = [f"{p}={params[p]}" for p in getattr(entry.cls, "history_params", ()) if p in params]
        because = f" ({', '.join(named)})" if named else ""
        raise RunError(f"strategy {entry.name!r} needs {needed:,} sessions of history{because}, more than any daily "
                       f"data holds (at most {MAX_HISTORY_SESSIONS:,} sessions, about 400 years)")
    return needed


def signal_feeds_for(runs) -> tuple[str, ...]:
    """The signal-only feeds any of ``runs`` ((name or Entry, params) pairs) reads (``PortfolioStrategy.signal_feeds``;
    all of them for a strategy class that does not say)."""
    read = {feed for entry in (resolve(n) for n, _ in runs) for feed in getattr(entry.cls, "signal_feeds", SIGNAL_ONLY)}
    return tuple(feed for feed in SIGNAL_ONLY if feed in read)


def warmup_for(runs) -> int:
    """Warm-up sessions to load for ``runs`` ((name or Entry, params) pairs): the most any of them needs, and at
    least ``DEFAULT_WARMUP_SESSIONS`` (a margin for indicators of strategies that do not declare their needs)."""
    needs = [history_needed(entry, merged_params(entry, params)) for entry, params in ((resolve(n), p) for n, p in runs)]
    return max([DEFAULT_WARMUP_SESSIONS, *needs])


def check_history(entry: Entry, params: dict, feeds: FeedSet) -> None:
    """RunError naming the strategy, the parameters and the first date available when ``feeds`` hold fewer sessions
    before their first measured session than the strategy needs: it would otherwise skip decisions silently."""
    needed = history_needed(entry, params)
    sessions = feeds.sessions
    have = int(sessions.get_loc(feeds.start))
    if have >= needed:
        return
    named = [f"{p}={params[p]}" for p in getattr(entry.cls, "history_params", ()) if p in params]
    because = f" ({', '.join(named)})" if named else ""
    calendar = nyse_sessions(sessions[0], sessions[0] + pd.Timedelta(days=int(needed * 1.6) + 10))
    earliest = f"; the earliest start with enough history is {calendar[needed].date()}" if needed < len(calendar) else ""
    raise RunError(
        f"strategy {entry.name!r} needs {needed} sessions of history before its first decision on {feeds.start.date()}"
        f"{because}, but the data available start on {sessions[0].date()}, {have} sessions earlier{earliest}"
    )


def check_history_of_all(entry: Entry, runs_params: list[dict], feeds: FeedSet) -> None:
    """``check_history`` for the parameter set of ``runs_params`` that needs the most history (before any run)."""
    if runs_params:
        full = [merged_params(entry, p) for p in runs_params]
        check_history(entry, max(full, key=lambda p: history_needed(entry, p)), feeds)


def metrics_from_analyses(analyses: dict) -> dict:
    """The comparison-table columns from the standard analyzers' outputs."""
    perf, win, sw, ex = (analyses.get(k, {}) for k in ("performance", "winrate", "switches", "exposure"))
    return {
        "CAGR [%]": perf.get("CAGR [%]"),
        "Volatility [%]": perf.get("Volatility [%]"),
        "Sharpe": perf.get("Sharpe"),
        "Sortino": perf.get("Sortino"),
        "Max drawdown [%]": perf.get("Max drawdown [%]"),
        "Calmar": perf.get("Calmar"),
        "Monthly win rate [%]": win.get("Monthly win rate [%]"),
        "Switches per year": sw.get("Switches per year"),
        "Rebalances": sw.get("Rebalances"),
        "Exposure [%]": ex.get("Exposure [%]"),
        "Turnover [x/yr]": ex.get("Turnover [x/yr]"),
        "Final value [$]": perf.get("Final value"),
    }


RISKFREE_CHOICES = ("cash", "zero")


def riskfree_rate(settings: RunSettings) -> str | float:
    """``settings.riskfree`` as the Performance analyzer's ``riskfree`` param: "cash" or 0.0 (RunError otherwise)."""
    if settings.riskfree not in RISKFREE_CHOICES:
        raise RunError(f"risk-free rate must be one of {', '.join(RISKFREE_CHOICES)}, not {settings.riskfree!r}")
    return "cash" if settings.riskfree == "cash" else 0.0


def riskfree_returns(feeds: FeedSet, dates: pd.DatetimeIndex, settings: RunSettings):
    """The risk-free return of each session after the first of ``dates`` (an equity curve's dates, starting value
    first), as the engines compute Sharpe and Sortino with it: the cash sleeve's close-to-close return (0 where it has
    no close, e.g. the starting value's date before the data) for "cash", 0.0 for "zero"."""
    from analyzers import stats
    from feeds import CASH_FEED

    if riskfree_rate(settings) == 0.0 or CASH_FEED not in feeds.bars:
        return np.zeros(max(len(dates) - 1, 0))
    return stats.close_returns(feeds.bars[CASH_FEED]["close"].reindex(dates))


def costs_of(settings: RunSettings) -> dict:
    """The broker settings of ``settings`` (cash and costs), as ``feeds.build_cerebro``/``make_broker`` take them."""
    return dict(cash=settings.cash, commission=settings.commission, commission_per_share=settings.commission_per_share,
                slippage=settings.slippage)


def engine_cerebro(feeds: FeedSet, settings: RunSettings, *, for_plot: bool = False, analyzers: bool = True):
    """A Cerebro on ``feeds`` with the broker of ``settings`` and the standard analyzers, no strategy yet.

    ``for_plot`` adds the observers Backtrader's plot shows (trades as buy/sell markers, portfolio value);
    ``analyzers=False`` leaves the analyzers out. Analyzers and observers are added for every strategy it runs."""
    from analyzers import add_standard_analyzers  # lazy: keeps import of the runner light

    try:
        cerebro = build_cerebro(feeds=feeds, **costs_of(settings))
    except ValueError as exc:
        raise RunError(f"settings: {exc}") from None
    if analyzers:
        add_standard_analyzers(cerebro, benchmark=settings.benchmark, riskfree=riskfree_rate(settings))
    if for_plot:
        from .btplot import add_plot_observers

        add_plot_observers(cerebro)
    return cerebro


def checked_run(entry_or_name: Entry | str, feeds: FeedSet, params: dict | None = None) -> tuple[Entry, dict]:
    """The entry and its full params for a run on ``feeds``: unknown params and too little history refused."""
    entry = resolve(entry_or_name)
    full = merged_params(entry, params)
    check_history(entry, full, feeds)
    return entry, full


def build_run(entry_or_name: Entry | str, feeds: FeedSet, settings: RunSettings, params: dict | None = None, *,
              for_plot: bool = False, analyzers: bool = True, strategy_cls: type | None = None):
    """A ready (not yet run) Cerebro for one strategy, with the standard analyzers; returns (entry, params, cerebro).

    ``for_plot`` and ``analyzers`` as in ``engine_cerebro``; ``strategy_cls`` runs that class (e.g. a recording
    subclass of the entry's) instead of the entry's own."""
    entry, full = checked_run(entry_or_name, feeds, params)
    cerebro = engine_cerebro(feeds, settings, for_plot=for_plot, analyzers=analyzers)
    cerebro.addstrategy(strategy_cls or entry.cls, **full)
    return entry, full, cerebro


def execute(entry: Entry, cerebro):
    """Run the Cerebro; any error of the strategy (SystemExit too) comes back as RunError naming the strategy and its
    line (``strategy_error``), as does a strategy that skipped itself (Backtrader's StrategySkipError in its
    ``__init__``: no run, no figures)."""
    try:
        strategies = cerebro.run()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - whatever the strategy raised, named with its line
        raise strategy_error(entry, exc) from None
    if not strategies:
        raise RunError(f"strategy {entry.name!r} skipped itself (StrategySkipError in its __init__): it made no run")
    return strategies[0]


def collect(entry: Entry, params: dict, strategy, feeds: FeedSet) -> RunResult:
    """A RunResult from a finished strategy's analyzers."""
    from analyzers import fills_frame

    analyses = {name: strategy.analyzers.getbyname(name).get_analysis() for name in strategy.analyzers.getnames()}
    equity_analysis = analyses.get("equity", {})
    notes = list(feeds.notes)
    rejected = len(getattr(strategy, "rejected_orders", []))
    if rejected:
        notes.append(f"{entry.name}: {rejected} order(s) rejected by the broker")
    too_small = getattr(strategy, "too_small", [])
    if too_small:
        when, feed, weight, value, price = too_small[0]
        notes.append(f"{entry.name}: {len(too_small)} target weight(s) came to zero whole shares, so nothing was bought "
                     f"(first on {when.date()}: {weight:.0%} of {value:,.2f} is less than one {feed} share at {price:,.2f}); "
                     "the starting cash is too small for these prices")
    return RunResult(
        name=entry.name,
        params=params,
        metrics=metrics_from_analyses(analyses),
        equity=equity_analysis.get("equity", pd.Series(dtype=float)),
        weights=equity_analysis.get("weights", pd.DataFrame()),
        analyses={k: v for k, v in analyses.items() if k not in ("equity", "fills")},
        rejected_orders=rejected,
        notes=notes,
        trades=fills_frame(analyses.get("fills", {}).get("fills", [])),
        decisions=pd.DataFrame(list(getattr(strategy, "decisions", []))),
    )


def run_one(
    entry_or_name: Entry | str,
    feeds: FeedSet,
    settings: RunSettings = RunSettings(),
    params: dict | None = None,
    *,
    plot_path=None,
) -> RunResult:
    """Run one registered strategy on prepared ``feeds``; optionally save Backtrader's own plot to ``plot_path``."""
    entry, full, cerebro = build_run(entry_or_name, feeds, settings, params, for_plot=plot_path is not None)
    strategy = execute(entry, cerebro)
    if plot_path is not None:
        save_plot(cerebro, strategy, entry, full, feeds, plot_path)
    return collect(entry, full, strategy, feeds)


def save_plot(cerebro, strategy, entry: Entry, params: dict, feeds: FeedSet, path) -> None:
    """Backtrader's own plot of a finished ``strategy`` of ``cerebro``, titled with its name, params and period."""
    from .btplot import backtrader_title, save_backtrader_plot

    save_backtrader_plot(cerebro, path, start=feeds.start.date(), strategy=strategy,
                         title=backtrader_title(entry.name, params, feeds.start, feeds.end), **feed_labels(feeds))


def feed_labels(feeds: FeedSet) -> dict:
    """What a feed's plot panel must say about the data behind it, from the feeds' notes: ``feed_notes`` (feed ->
    "cash sleeve: BIL 2007-05-30..2020-05-31 (and the splice day 2020-06-01), SGOV after it") and ``feed_marks``
    (feed -> [(splice day, "BIL | SGOV")]) for the cash sleeve, whose one feed holds BIL before SGOV's first bar."""
    import re

    notes, marks = {}, {}
    for name in feeds.bars:
        prefix = f"{name} (cash sleeve): "
        for note in feeds.notes:
            if note.startswith(prefix):
                notes[name] = "cash sleeve: " + note[len(prefix):].replace(", joined without a jump", "")
                splice = re.search(r"splice day (\d{4}-\d{2}-\d{2})", note)
                if splice:
                    marks[name] = [(pd.Timestamp(splice.group(1)), f"BIL before | {name} from {splice.group(1)}")]
    return {"feed_notes": notes, "feed_marks": marks}


@dataclass(frozen=True)
class RunItem:
    """One unit of work for an executor: a strategy, its params, the settings, an optional measured window
    (``start``/``end`` inside the prepared feeds) and an optional plot path."""

    name: str
    params: dict
    settings: RunSettings
    start: str | None = None
    end: str | None = None
    plot_path: str | None = None

    @property
    def label(self) -> str:
        return " ".join([self.name, *(f"{k}={v}" for k, v in self.params.items())])


def run_item(feeds: FeedSet, item: RunItem) -> RunResult:
    """Executor task: ``run_one`` for an item, on its window of the shared feeds."""
    window = feeds
    if item.start:
        window = feeds.window(item.start, item.end, warmup_sessions=warmup_for([(item.name, item.params)]))
    return run_one(item.name, window, item.settings, item.params, plot_path=item.plot_path)
