"""SPY/IWM price-ratio mean reversion, from a newsletter: fixed levels, and a rolling z-score variant."""
from __future__ import annotations

from array import array
from datetime import date

import backtrader as bt
import numpy as np

from .base import PortfolioStrategy, check_choice, check_number, whole_or_zero
from .registry import register
from signals import ratio as sig

CASH_FEED = "SGOV"


def close_line(data, price: str):
    """The close line of ``data`` a ratio reads: ``raw_close`` for ``price="raw"``, else the adjusted ``close``."""
    return data.raw_close if price == "raw" else data.close


class SpyIwmRatio(bt.Indicator):
    """SPY / IWM on raw closes (``raw_close`` line) or adjusted closes, in its own panel with horizontal levels."""

    lines = ("ratio",)
    params = (("price", "raw"), ("levels", ()), ("names", ()))
    plotinfo = dict(subplot=True, plotname="SPY/IWM ratio")
    plotlines = dict(ratio=dict(color="black"))

    def __init__(self) -> None:
        spy, iwm = self.data0, self.data1
        self.lines.ratio = close_line(spy, self.p.price) / close_line(iwm, self.p.price)
        self.plotinfo.plothlines = sorted(set(self.p.levels))
        self.plotinfo.hline_names = level_names(self.p.levels, self.p.names)  # equal levels share one label


def level_names(levels, names) -> dict[float, str]:
    """{level: "name1 / name2 value"} for a plot's level lines (levels that are equal share one label)."""
    labels: dict[float, list[str]] = {}
    for level, name in zip(levels, names):
        labels.setdefault(level, []).append(name)
    return {level: f"{' / '.join(found)} {level:g}" for level, found in labels.items()}


class LogRatioZScore(bt.Indicator):
    """z-score of log(SPY/IWM) over a trailing window of ``lookback`` closes up to the current one
    (``signals.ratio.trailing_zscores``; ``zscore_last`` bar by bar in ``next``), with its bands."""

    lines = ("z",)
    params = (("price", "raw"), ("lookback", 252), ("bands", ()), ("names", ()))
    plotinfo = dict(subplot=True, plotname="z-score of log(SPY/IWM)")

    def __init__(self) -> None:
        self._spy, self._iwm = close_line(self.data0, self.p.price), close_line(self.data1, self.p.price)
        self.addminperiod(self.p.lookback)
        self.plotinfo.plothlines = list(self.p.bands)
        self.plotinfo.hline_names = level_names(self.p.bands, self.p.names)

    def next(self) -> None:
        size = self.p.lookback
        spy, iwm = np.asarray(self._spy.get(size=size)), np.asarray(self._iwm.get(size=size))
        self.lines.z[0] = sig.zscore_last(np.log(spy / iwm)) if len(spy) == len(iwm) == size else float("nan")

    def once(self, start: int, end: int) -> None:
        """The same values as ``next``, over the whole preloaded arrays at once (runonce mode)."""
        spy, iwm = np.asarray(self._spy.array), np.asarray(self._iwm.array)
        z = sig.trailing_zscores(np.log(spy / iwm), self.p.lookback)
        out = self.lines.z.array
        out[start:end] = array("d", z[start:end])


class _RatioTrade(PortfolioStrategy):
    """Shared holding logic of the ratio strategies (not registered itself).

    ``mode``: "rotation" holds SPY while flat and IWM while the trade is on (long only); "pair" holds the cash
    sleeve while flat and, in the trade, long IWM and short SPY of ``pair_size`` of portfolio value each
    (dollar-neutral) with the equity kept in the cash sleeve as collateral; ``short_cost`` is an annual borrow rate
    charged every session on the short's value. Timing: the rule steps on the previous session's close and trades
    at the current session's open (cheat-on-open). The first measured session takes the flat position
    (rebalance reason "scheduled"); trades log reasons "entry", "target"/"exit", "stop".

    Records ``trades_log``: (entry date, exit date or None, reason "target" | "exit" | "stop" | "end"), dated on the
    sessions whose open filled them; and ``decisions``: one dict per measured session (date, ``ratio`` or ``z``
    at the previous close, event "entry" | "target" | "exit" | "stop" | "" for none, in_trade and armed after the step).
    """

    params = (("mode", "rotation"), ("pair_size", 0.5), ("short_cost", 0.0), ("price", "raw"))
    signal_chart = "SPY/IWM"  # entries and exits are marked on the SPY/IWM ratio chart
    signal_feeds = ()  # the ratio of SPY and IWM only: no VIX

    @classmethod
    def history_needed(cls, params) -> int:
        """The previous session's close."""
        return 1

    def validate_params(self) -> None:
        super().validate_params()
        check_choice(self, "mode", ("rotation", "pair"))
        check_number(self, "pair_size", lo=0, hi=1, lo_open=True)
        check_number(self, "short_cost", lo=0, hi=1)
        check_choice(self, "price", ("raw", "adjusted"))

    def __init__(self) -> None:
        super().__init__()
        self.spy, self.iwm = self.getdatabyname("SPY"), self.getdatabyname("IWM")
        self.state = sig.TradeState()
        self.trades_log: list[tuple[date, date | None, str]] = []
        self._started = False

    signal_name = "ratio"  # the name of the rule's input in ``decisions``

    def signal_value(self) -> float:
        """The rule's input at the previous session's close."""
        raise NotImplementedError

    def ratios(self, size: int) -> np.ndarray:
        """SPY/IWM over the last ``size`` closes up to the previous session, read from the feeds.

        Backtrader trap: in ``next_open`` indicators have not advanced yet (like the strategy's clock), so the
        indicators here are for plotting only; the signal reads the feeds, which are on the current bar.
        """
        spy = close_line(self.spy, self.p.price).get(ago=-1, size=size)
        iwm = close_line(self.iwm, self.p.price).get(ago=-1, size=size)
        if len(spy) < size:
            return np.array([])
        return np.asarray(spy) / np.asarray(iwm)

    def step(self, state: sig.TradeState, value: float) -> tuple[sig.TradeState, str | None]:
        raise NotImplementedError

    def target(self, in_trade: bool) -> dict[str, float]:
        if self.p.mode == "rotation":
            return {"IWM": 1.0} if in_trade else {"SPY": 1.0}
        if in_trade:
            return {"IWM": self.p.pair_size, "SPY": -self.p.pair_size, CASH_FEED: 1.0}
        return {CASH_FEED: 1.0}

    def next_open(self) -> None:
        if self.warming_up():
            return
        value = self.signal_value()
        self.state, event = self.step(self.state, value)
        today = self.now().date()
        self.decisions.append({"date": today, self.signal_name: value, "event": event or "", "in_trade": self.state.in_trade,
                               "armed": self.state.armed})
        if event == "entry":
            self.trades_log.append((today, None, "open"))
        elif event is not None and self.trades_log and self.trades_log[-1][1] is None:
            self.trades_log[-1] = (self.trades_log[-1][0], today, event)
        if event is not None:
            self.rebalance(self.target(self.state.in_trade), at="open", reason=event)
        elif not self._started:
            self.rebalance(self.target(self.state.in_trade), at="open", reason="scheduled")
        self._started = True

    def next(self) -> None:
        short = self.getposition(self.spy).size
        if short < 0 and self.p.short_cost and not self.warming_up():
            self.broker.add_cash(short * self.spy.close[0] * self.p.short_cost / 252.0)

    def stop(self) -> None:
        if self.trades_log and self.trades_log[-1][1] is None:
            self.trades_log[-1] = (self.trades_log[-1][0], None, "end")


@register("ratio-rotation", params={"mode": "rotation"}, description="SPY/IWM ratio at fixed levels, long-only SPY->IWM rotation")
class RatioMeanReversion(_RatioTrade):
    """The newsletter's fixed levels on SPY/IWM: enter in [zone_low, zone_high], exit at <= target, stop above stop.

    The levels were read off a raw-price chart, so the ratio uses raw closes. ``price="adjusted"`` is refused: fixed
    levels compared with back-adjusted closes read the future (each adjusted close embeds the dividends paid after
    it: the 2010 adjusted SPY/IWM ratio is 6.75% below the raw one because of 2010-2024 dividends). The z-score
    variant may use adjusted closes: a z-score does not change when the ratio is scaled. The levels come from
    2008-2021, when the ratio sat near 1.6-1.8 for years before moving to 2.1-2.8 after 2022: see
    ``RollingRatioMeanReversion`` for a variant not tied to one regime.

    Params (validated: target < zone_low < zone_high <= stop): ``zone_low`` 2.13, ``zone_high`` 2.35, ``target``
    1.95, ``stop`` 2.35, ``rearm`` "below_zone_top" (after a stop, no entry until the ratio closes below
    zone_high) | "below_target" | "immediate"; plus ``mode``, ``pair_size``, ``short_cost``, ``price``.
    """

    params = (("zone_low", 2.13), ("zone_high", 2.35), ("target", 1.95), ("stop", 2.35), ("rearm", "below_zone_top"))
    param_rules = {"target": "number < zone_low", "zone_low": "number in (target, zone_high)",
                   "zone_high": "number in (zone_low, stop]", "stop": "number >= zone_high"}

    def validate_params(self) -> None:
        super().validate_params()
        check_choice(self, "rearm", sig.REARM_RULES)
        if self.p.price == "adjusted":
            raise ValueError(
                f"{type(self).__name__}: parameter price='adjusted' is refused for fixed levels: back-adjusted closes embed "
                "dividends paid after each date (look-ahead), so a fixed level means a different ratio depending on when "
                "the data were downloaded; use price='raw' (levels as quoted), or the z-score variant (scale-free)")
        try:
            self.levels = sig.Levels(self.p.target, self.p.zone_low, self.p.zone_high, self.p.stop)
        except ValueError as exc:
            raise ValueError(f"{type(self).__name__}: {exc}") from None

    def __init__(self) -> None:
        super().__init__()
        self.ratio = SpyIwmRatio(self.spy, self.iwm, price=self.p.price,
                                 levels=(self.p.target, self.p.zone_low, self.p.zone_high, self.p.stop),
                                 names=("target", "zone low", "zone high", "stop"))

    def signal_value(self) -> float:
        last = self.ratios(1)
        return float(last[-1]) if len(last) else float("nan")

    def step(self, state, value):
        return sig.step_levels(state, value, self.levels, self.p.rearm)


@register("ratio-z-rotation", params={"mode": "rotation"}, description="Rolling z-score of log SPY/IWM, long-only rotation")
class RollingRatioMeanReversion(_RatioTrade):
    """The same trade on a rolling z-score of log(SPY/IWM): enter at z >= entry_z, exit at z <= exit_z (the mean),
    optional stop at z >= stop_z; not tied to one regime's levels.

    Params: ``lookback`` 252 sessions, ``entry_z`` 1.5, ``exit_z`` 0.0, ``stop_z`` None (no stop; else > entry_z);
    plus ``mode``, ``pair_size``, ``short_cost``, ``price``.
    """

    params = (("lookback", 252), ("entry_z", 1.5), ("exit_z", 0.0), ("stop_z", None))
    param_rules = {"exit_z": "number <= entry_z", "stop_z": "number > entry_z, or off"}
    signal_name = "z"
    history_params = ("lookback",)

    @classmethod
    def history_needed(cls, params) -> int:
        """``lookback`` closes up to the session before the first decision."""
        return max(1, whole_or_zero(cls.param_values(params)["lookback"]))

    def validate_params(self) -> None:
        super().validate_params()
        check_number(self, "lookback", lo=2, integer=True)
        check_number(self, "entry_z", lo=0, lo_open=True)
        check_number(self, "exit_z", hi=self.p.entry_z)
        check_number(self, "stop_z", lo=self.p.entry_z, lo_open=True, allow_none=True)

    def __init__(self) -> None:
        super().__init__()
        named = [(b, n) for b, n in ((self.p.entry_z, "entry"), (self.p.exit_z, "exit"), (self.p.stop_z, "stop")) if b is not None]
        self.z = LogRatioZScore(self.spy, self.iwm, price=self.p.price, lookback=self.p.lookback,
                                bands=[b for b, _ in named], names=[n for _, n in named])

    def start(self) -> None:
        super().start()
        self._zscores = self._preloaded_zscores()

    def _preloaded_zscores(self) -> np.ndarray:
        """``zscores_to_previous_close`` over the whole preloaded SPY and IWM closes (empty when the feeds are not
        preloaded into unbounded buffers of equal length: then ``signal_value`` steps bar by bar). Lookahead-safe:
        the value at a bar reads only closes before it."""
        spy, iwm = close_line(self.spy, self.p.price), close_line(self.iwm, self.p.price)
        if spy.mode != spy.UnBounded or iwm.mode != iwm.UnBounded or len(spy.array) != len(iwm.array) or len(spy.array) <= len(self.spy):
            return np.array([])
        return sig.zscores_to_previous_close(np.asarray(spy.array), np.asarray(iwm.array), self.p.lookback)

    def signal_value(self) -> float:
        bar = len(self.spy) - 1  # the feeds are on the current bar (also in next_open)
        if bar < len(self._zscores) and bar == len(self.iwm) - 1:
            return float(self._zscores[bar])
        window = self.ratios(self.p.lookback)
        return sig.zscore_last(np.log(window)) if len(window) else float("nan")

    def step(self, state, value):
        return sig.step_zscore(state, value, self.p.entry_z, self.p.exit_z, self.p.stop_z)


register("ratio-pair", RatioMeanReversion, params={"mode": "pair"}, description="SPY/IWM ratio at fixed levels, long IWM / short SPY pair")
register("ratio-z-pair", RollingRatioMeanReversion, params={"mode": "pair"}, description="Rolling z-score of log SPY/IWM, long/short pair")
