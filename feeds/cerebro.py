"""One call to a ready Cerebro with IWM, SPY, VIX and SGOV aligned on the NYSE calendar.

``prepare_feeds`` loads and aligns the data once (it can be reused across many runs);
``build_cerebro`` turns it into a Cerebro with a guarded broker::

    cerebro = build_cerebro("2010-01-01", "2024-12-31")
    cerebro.addstrategy(MyStrategy)
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import backtrader as bt
import pandas as pd

from .calendar import as_date, nyse_sessions
from .cash import CASH_FEED, SGOV_FIRST_BAR, splice_cash
from .errors import DataError, SignalOnlyFeedError
from .pandas_feed import TotalReturnData, adjusted_bars
from .data_checks import ACCEPTED_NOTE
from .prices import load_prices

TRADED = ("IWM", "SPY")
SIGNAL_ONLY = ("VIX",)
FEED_NAMES = ("IWM", "SPY", "VIX", CASH_FEED)
DEFAULT_START = "2010-01-01"
DEFAULT_END = "2024-12-31"
DEFAULT_WARMUP_SESSIONS = 300
DEFAULT_VIX_MAX_FILL = 3
# Ceilings of the cost settings. A value above them is a unit mistake (percent or basis points typed as a
# fraction), not a plausible cost: 5% of traded value is already far above any broker's commission or an ETF's
# slippage, and $0.10 a share is 20x a typical per-share rate.
MAX_COST_FRACTION = 0.05
MAX_COMMISSION_PER_SHARE = 0.10
COST_UNITS = {
    "commission": ("a fraction of traded value", "0.0005 = 5 bp = 0.05%", MAX_COST_FRACTION),
    "slippage": ("a fraction of price", "0.0002 = 2 bp", MAX_COST_FRACTION),
    "commission_per_share": ("money per share traded", "0.005 = half a cent a share", MAX_COMMISSION_PER_SHARE),
}


def check_costs(*, cash: float = 100_000.0, commission: float = 0.0, commission_per_share: float = 0.0,
                slippage: float = 0.0, option_names: bool = False, label=None) -> None:
    """ValueError naming the setting, its unit and its ceiling when a cost or the cash is not a plausible number.

    The one check of these settings: ``build_cerebro`` and the runner's settings both call it. ``option_names``
    names them as command-line options (``--commission-per-share``) instead of parameters; ``label(key)``, when
    given, names them (e.g. as a config file's key)."""

    def name(key: str) -> str:
        if label is not None:
            return label(key)
        return f"--{key.replace('_', '-')}" if option_names else key

    for key, value in (("cash", cash), ("commission", commission), ("commission_per_share", commission_per_share), ("slippage", slippage)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{name(key)} must be a finite number, not {value!r}")
    if cash <= 0:
        raise ValueError(f"{name('cash')} must be > 0, not {cash!r}")
    for key, value in (("commission", commission), ("commission_per_share", commission_per_share), ("slippage", slippage)):
        unit, example, ceiling = COST_UNITS[key]
        if value < 0:
            raise ValueError(f"{name(key)} must be >= 0, not {value!r} ({unit}, e.g. {example})")
        if value > ceiling:
            if key == "commission_per_share":
                meaning, hint = f"{value:g} a share", "cents typed as money? divide by 100"
            else:
                meaning, hint = f"{value:.0%}", "a percentage? divide by 100; basis points? divide by 10,000"
            raise ValueError(
                f"{name(key)} {value:g} is above its ceiling {ceiling:g}: it is {unit} (e.g. {example}), "
                f"so {value:g} means {meaning} ({hint})"
            )


@dataclass(frozen=True)
class FeedSet:
    """Aligned adjusted bars for every feed, ready to become Backtrader feeds.

    ``bars[name]``: adjusted bars (``feeds.pandas_feed.adjusted_bars`` layout) on the same sessions, warm-up included.
    ``start``/``end``: first and last measured session; bars before ``start`` are warm-up history.
    ``sources``: where each feed's data came from. ``notes``: what the run's output must say.
    """

    bars: dict[str, pd.DataFrame]
    start: pd.Timestamp
    end: pd.Timestamp
    sources: dict[str, str]
    notes: tuple[str, ...] = field(default=())
    signal_only: tuple[str, ...] = SIGNAL_ONLY

    @property
    def accepted_bars(self) -> tuple[str, ...]:
        """The notes on flagged bars accepted with ``accept_bars`` (``--accept-bar``): what was flagged and where."""
        return tuple(note for note in self.notes if note.startswith(ACCEPTED_NOTE))

    @property
    def sessions(self) -> pd.DatetimeIndex:
        return next(iter(self.bars.values())).index

    def window(self, start, end, warmup_sessions: int = DEFAULT_WARMUP_SESSIONS) -> "FeedSet":
        """The same data measured over ``start``..``end`` (sessions of this set), with up to ``warmup_sessions``
        earlier sessions kept as warm-up history. No reload: slices of the aligned bars."""
        sessions = self.sessions
        inside = sessions[(sessions >= pd.Timestamp(start)) & (sessions <= pd.Timestamp(end))]
        if len(inside) == 0:
            raise DataError(f"window {pd.Timestamp(start).date()}..{pd.Timestamp(end).date()} has no session in this data")
        first = max(0, sessions.get_loc(inside[0]) - warmup_sessions)
        bars = {name: frame.loc[sessions[first]:inside[-1]] for name, frame in self.bars.items()}
        return FeedSet(bars, inside[0], inside[-1], self.sources, self.notes, self.signal_only)

    def coverage(self) -> pd.DataFrame:
        """One row per feed: source, first warm-up session, first/last measured session, sessions."""
        rows = []
        for name, bars in self.bars.items():
            measured = bars.loc[self.start:self.end]
            rows.append(
                {
                    "feed": name,
                    "source": self.sources[name],
                    "warm-up from": bars.index[0].date(),
                    "first": measured.index[0].date(),
                    "last": measured.index[-1].date(),
                    "sessions": len(measured),
                    "role": "signal only" if name in self.signal_only else "traded",
                }
            )
        return pd.DataFrame(rows).set_index("feed")


def _align_traded(bars: pd.DataFrame, symbol: str, source: str, sessions: pd.DatetimeIndex) -> pd.DataFrame:
    extra = bars.index.difference(sessions)
    extra = extra[(extra >= sessions[0]) & (extra <= sessions[-1])]
    if len(extra):
        raise DataError(f"{symbol} ({source}): row on {extra[0].date()}, which is not an NYSE session")
    missing = sessions.difference(bars.index)
    if len(missing):
        raise DataError(
            f"{symbol} ({source}): missing NYSE session {missing[0].date()}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + "; a traded ETF must have a bar on every session"
        )
    return bars.loc[sessions]


def _align_signal(bars: pd.DataFrame, symbol: str, source: str, sessions: pd.DatetimeIndex, max_fill: int) -> tuple[pd.DataFrame, list[str]]:
    aligned = bars.reindex(sessions)
    gaps = aligned["close"].isna()
    notes = []
    if gaps.any():
        if gaps.iloc[0]:
            raise DataError(f"{symbol} ({source}): no value on the first session {sessions[0].date()}")
        run_id = (~gaps).cumsum()
        run_len = gaps.groupby(run_id).transform("sum")
        too_long = gaps & (run_len > max_fill)
        if too_long.any():
            first = too_long.idxmax()
            raise DataError(
                f"{symbol} ({source}): {int(run_len[first])} sessions missing from {first.date()}, "
                f"more than the {max_fill} that may be carried forward"
            )
        filled = list(sessions[gaps.to_numpy()].date)
        msg = f"{symbol}: {len(filled)} missing session(s) carried forward from the previous value: " + ", ".join(
            str(d) for d in filled[:5]
        ) + (" ..." if len(filled) > 5 else "")
        warnings.warn(msg, stacklevel=3)
        notes.append(msg)
        aligned = aligned.ffill()
        aligned.loc[gaps, "volume"] = 0.0
    return aligned, notes


def prepare_feeds(
    start: str | pd.Timestamp = DEFAULT_START,
    end: str | pd.Timestamp = DEFAULT_END,
    *,
    source: str = "bundled",
    warmup_sessions: int = DEFAULT_WARMUP_SESSIONS,
    vix_max_fill: int = DEFAULT_VIX_MAX_FILL,
    cache_dir=None,
    accept_bars=(),
    signal_feeds=SIGNAL_ONLY,
) -> FeedSet:
    """Load IWM, SPY, VIX and the cash sleeve from ``source`` and align them on NYSE sessions.

    ``signal_feeds``: the signal-only feeds the run reads (default all: VIX). One no strategy reads is neither
    loaded nor required (a ratio run needs no VIX file); the FeedSet then has no such feed, and a note says so.

    ``warmup_sessions`` sessions before ``start`` are included as indicator history when the traded ETFs
    have them (fewer, with a note, when they start later). Each feed is read only for the sessions it serves
    (the cash sleeve: BIL before SGOV's first bar, SGOV from it), and only those sessions are bar-checked
    (``feeds.data_checks.check_prices``; VIX as the signal feed, exempt from the ETF rules); ``accept_bars`` ("SYMBOL:YYYY-MM-DD") lets flagged bars through, listed in
    ``notes``. Raises DataError for a range the data does not cover, naming the symbol and its first or last date.
    """
    if isinstance(warmup_sessions, bool) or not isinstance(warmup_sessions, int) or warmup_sessions < 0:
        raise ValueError(f"warmup_sessions must be a whole number >= 0, not {warmup_sessions!r}")
    if isinstance(vix_max_fill, bool) or not isinstance(vix_max_fill, int) or vix_max_fill < 0:
        raise ValueError(f"vix_max_fill must be a whole number >= 0, not {vix_max_fill!r}")
    load = dict(source=source, cache_dir=cache_dir, accept_bars=accept_bars)
    measured = nyse_sessions(start, end)
    if len(measured) == 0:
        raise DataError(_no_session_message(start, end, load))
    history = nyse_sessions(measured[0] - pd.Timedelta(days=int(warmup_sessions * 1.6) + 10), measured[0])
    want_from = history[max(0, len(history) - 1 - warmup_sessions)]

    unknown = [s for s in signal_feeds if s not in SIGNAL_ONLY]
    if unknown:
        raise ValueError(f"signal_feeds: unknown signal feed(s) {', '.join(map(repr, unknown))}; the signal feeds are {', '.join(SIGNAL_ONLY)}")
    signals = tuple(s for s in SIGNAL_ONLY if s in signal_feeds)
    risk = load_prices(TRADED + signals, None, end, checked_from=want_from, signal_only=signals, **load)
    late = {s: f.index[0] for s, f in risk.frames.items() if f.index[0] > measured[0]}
    if late:
        raise DataError(
            f"start {as_date(start, 'start').date()} is before the data: "
            + ", ".join(f"{s} ({risk.sources[s]}) starts on {d.date()}" for s, d in late.items())
            + f"; the earliest start the data covers is {max(late.values()).date()}"
        )
    notes = list(risk.notes)
    frames = {s: f.loc[f.index >= want_from] for s, f in risk.frames.items()}
    first_common = max(frames[s].index[0] for s in TRADED + signals)
    warm_from = max(want_from, first_common)
    if warm_from > want_from:
        notes.append(
            f"warm-up shortened: data for {', '.join(TRADED + signals)} starts on {first_common.date()}, "
            f"so indicators have {len(nyse_sessions(warm_from, measured[0])) - 1} sessions of history before {measured[0].date()}"
        )
    sessions = nyse_sessions(warm_from, measured[-1])
    bars, sources = {}, dict(risk.sources)
    for sym in TRADED:
        bars[sym] = adjusted_bars(_align_traded(frames[sym], sym, risk.sources[sym], sessions))
    notes += [f"{sym}: not loaded (no strategy of this command reads it)" for sym in SIGNAL_ONLY if sym not in signals]
    for sym in signals:
        aligned, vix_notes = _align_signal(adjusted_bars(frames[sym]), sym, risk.sources[sym], sessions, vix_max_fill)
        bars[sym] = aligned
        notes += vix_notes

    cash_frames = _load_cash(sessions, load, measured[0], warmup_sessions)
    bil, sgov = cash_frames.frames.get("BIL"), cash_frames.frames.get("SGOV")
    sleeve, cash_notes = splice_cash(bil, sgov, sessions)
    bars[CASH_FEED] = _align_traded(sleeve, CASH_FEED, "cash sleeve", sessions)
    notes += list(cash_frames.notes) + cash_notes
    sources[CASH_FEED] = " + ".join(f"{s} from {cash_frames.sources[s]}" for s in cash_frames.frames)
    bars = {name: bars[name] for name in FEED_NAMES if name in bars}
    sources = {name: sources[name] for name in FEED_NAMES if name in bars}
    return FeedSet(bars=bars, start=measured[0], end=measured[-1], sources=sources, notes=tuple(notes))


def _no_session_message(start, end, load: dict) -> str:
    """Why ``start``..``end`` has no session: before the calendar and the data, or a span without a session."""
    start, end = as_date(start, "start"), as_date(end, "end")
    message = f"no NYSE session between {start.date()} and {end.date()}"
    first_session = nyse_sessions("1900-01-01", DEFAULT_END)[0]
    if end >= first_session:
        return message
    try:
        firsts = load_prices(TRADED + SIGNAL_ONLY, None, None, signal_only=SIGNAL_ONLY, **load).frames
        data = ", ".join(f"{s} from {f.index[0].date()}" for s, f in firsts.items())
        earliest = f"; the earliest start the data covers is {max(f.index[0] for f in firsts.values()).date()}"
    except DataError:
        data, earliest = "see the data source", ""
    return f"{message}: the period is before any data (the NYSE calendar starts on {first_session.date()}; {data}){earliest}"


def _load_cash(sessions: pd.DatetimeIndex, load: dict, start: pd.Timestamp | None = None, warmup_sessions: int = 0):
    """The cash sleeve's ETFs for ``sessions``, each only where it serves: SGOV from its first bar (from
    ``SGOV_FIRST_BAR`` when the source has no SGOV yet), BIL before it. A run ending before then reads no SGOV,
    one starting after it no BIL. ``start`` (the first measured session) and ``warmup_sessions`` explain, when BIL
    cannot be read, why it is needed and which start avoids it."""
    if sessions[-1] < SGOV_FIRST_BAR:
        sgov = None
    else:
        try:
            sgov = load_prices(["SGOV"], None, sessions[-1], checked_from=sessions[0], signal_only=(), **load)
        except DataError as exc:
            raise DataError(f"cash sleeve: SGOV is needed for the sessions from {SGOV_FIRST_BAR.date()} to {sessions[-1].date()}: {exc}") from None
        sgov = type(sgov)({"SGOV": sgov.frames["SGOV"].loc[: sessions[-1]]}, sgov.sources, sgov.notes)
        if sgov.frames["SGOV"].index[0] <= sessions[0]:
            return sgov
    splice = sgov.frames["SGOV"].index[0] if sgov is not None else sessions[-1]
    try:  # through the splice only, so that a cached source is not asked for later data it does not need
        bil = load_prices(["BIL"], None, splice, checked_from=sessions[0], signal_only=(), **load)
    except DataError:  # BIL starts after the splice (idle cash before it) or ends before it: judged below
        try:
            bil = load_prices(["BIL"], None, None, checked_from=sessions[0], checked_through=splice, signal_only=(), **load)
        except DataError as exc:
            raise DataError(f"{_why_bil(sessions, splice, sgov is not None, start, warmup_sessions)}: {exc}") from None
    frame = bil.frames["BIL"]
    needed = sessions[(sessions >= frame.index[0]) & (sessions <= splice)]
    if len(needed) and frame.index[-1] < needed[-1]:
        raise DataError(f"cash sleeve: BIL ({bil.sources['BIL']}) is needed for the sessions from {needed[0].date()} to "
                        f"{needed[-1].date()} (before SGOV's first bar), but its last row is {frame.index[-1].date()}")
    if sgov is None:
        return bil
    return type(bil)({**bil.frames, **sgov.frames}, {**bil.sources, **sgov.sources}, bil.notes + sgov.notes)


def _why_bil(sessions: pd.DatetimeIndex, splice: pd.Timestamp, have_sgov: bool, start, warmup_sessions: int) -> str:
    """Why a run reads BIL (the cash proxy before SGOV's first bar, maybe only through the warm-up) and the first
    start that needs none: SGOV's first bar plus the warm-up."""
    first_sgov = splice if have_sgov else SGOV_FIRST_BAR
    later = nyse_sessions(first_sgov, first_sgov + pd.Timedelta(days=int(warmup_sessions * 1.6) + 10))
    avoid = later[min(warmup_sessions, len(later) - 1)]
    through = f"{sessions[0].date()}..{min(splice, sessions[-1]).date()}"
    if start is not None and start >= first_sgov:
        reason = (f"the warm-up ({warmup_sessions} sessions of indicator history before the start {start.date()}) "
                  f"reaches back to {sessions[0].date()}, before SGOV's first bar {first_sgov.date()}")
    else:
        reason = f"the period starts before SGOV's first bar {first_sgov.date()}"
    return (f"cash sleeve: BIL is the cash proxy before SGOV exists and this run needs it for {through}: {reason}. "
            f"A start on or after {avoid.date()} needs no BIL")


class GuardedBroker(bt.brokers.BackBroker):
    """Backtrader's broker, refusing orders on signal-only feeds (``tradable=False``) with SignalOnlyFeedError."""

    def _check_tradable(self, data) -> None:
        if not getattr(data.p, "tradable", True):
            raise SignalOnlyFeedError(f"{data._name} is a signal-only feed: it can be read but not traded")

    def buy(self, owner, data, *args, **kwargs):
        self._check_tradable(data)
        return super().buy(owner, data, *args, **kwargs)

    def sell(self, owner, data, *args, **kwargs):
        self._check_tradable(data)
        return super().sell(owner, data, *args, **kwargs)


def make_broker(*, cash: float = 100_000.0, commission: float = 0.0, commission_per_share: float = 0.0,
                slippage: float = 0.0) -> GuardedBroker:
    """The broker of every run: a GuardedBroker with ``cash``, the stock-like costs (``CostInfo``) and slippage on
    open and close fills, the settings checked first (``check_costs``). ``build_cerebro`` installs one; a pass
    running several strategies together gives each strategy one of its own."""
    check_costs(cash=cash, commission=commission, commission_per_share=commission_per_share, slippage=slippage)
    broker = GuardedBroker()
    broker.setcash(float(cash))
    if commission or commission_per_share:
        broker.addcommissioninfo(CostInfo(commission=commission, per_share=commission_per_share))
    if slippage:
        broker.set_slippage_perc(slippage, slip_open=True, slip_match=True, slip_out=False)
    return broker


def make_feed(name: str, bars: pd.DataFrame, *, tradable: bool = True, trade_from=None, cash: bool = False) -> TotalReturnData:
    """A TotalReturnData feed for adjusted ``bars``."""
    return TotalReturnData(dataname=bars, name=name, tradable=tradable, trade_from=trade_from, cash=cash, plot=tradable)


def build_cerebro(
    start: str | pd.Timestamp = DEFAULT_START,
    end: str | pd.Timestamp = DEFAULT_END,
    *,
    feeds: FeedSet | None = None,
    source: str = "bundled",
    cash: float = 100_000.0,
    commission: float = 0.0,
    commission_per_share: float = 0.0,
    slippage: float = 0.0,
    cheat_on_open: bool = True,
    stdstats: bool = False,
    warmup_sessions: int = DEFAULT_WARMUP_SESSIONS,
    cache_dir=None,
) -> bt.Cerebro:
    """A Cerebro with feeds IWM, SPY, VIX (signal only) and SGOV (cash sleeve), in that order, and a guarded broker.

    ``feeds`` reuses already prepared data (no reload); otherwise it is prepared from ``source`` for
    ``start``..``end``. ``commission`` is a fraction of traded value, ``commission_per_share`` a fixed
    amount per share (both may be combined), ``slippage`` a fraction of price; each is refused above its ceiling
    (``check_costs``). With ``cheat_on_open``
    strategies may trade in ``next_open`` at that session's open. The FeedSet is kept as ``cerebro.feedset``.
    """
    broker = make_broker(cash=cash, commission=commission, commission_per_share=commission_per_share, slippage=slippage)
    if feeds is None:
        feeds = prepare_feeds(start, end, source=source, warmup_sessions=warmup_sessions, cache_dir=cache_dir)
    cerebro = bt.Cerebro(cheat_on_open=cheat_on_open, stdstats=stdstats)
    cerebro.broker = broker
    for name, bars in feeds.bars.items():
        cerebro.adddata(make_feed(
                name, bars, tradable=name not in feeds.signal_only, trade_from=feeds.start, cash=name == CASH_FEED
            ), name=name)
    cerebro.feedset = feeds
    return cerebro


class CostInfo(bt.CommInfoBase):
    """Stock-like commission: ``commission`` x traded value + ``per_share`` x shares, on every fill."""

    params = (("stocklike", True), ("commtype", bt.CommInfoBase.COMM_PERC), ("percabs", True), ("per_share", 0.0))

    def _getcommission(self, size, price, pseudoexec):
        return abs(size) * (price * self.p.commission + self.p.per_share)
