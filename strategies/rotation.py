"""IWM/SPY relative-strength rotation, from a published signal card."""
from __future__ import annotations

import backtrader as bt

from .base import PortfolioStrategy, check_choice, check_number, whole_or_zero
from .registry import register
from signals import rotation as sig


class ReturnSpread(bt.Indicator):
    """IWM trailing return minus SPY trailing return over ``period`` sessions, in percent. Data 0 = IWM, data 1 = SPY.

    The rotation's choice in one line: above zero IWM is the stronger, below zero SPY. (The ratio of the two returns
    explodes whenever SPY's return is near zero, so it is not what the plot shows.)"""

    lines = ("spread",)
    params = (("period", 63),)
    plotinfo = dict(subplot=True, plotname="IWM minus SPY trailing return [%]", plothlines=[0.0], plotymargin=0.05)
    plotlines = dict(spread=dict(color="purple", linewidth=0.8, _name="IWM - SPY", _fill_gt=(0, ("tab:orange", 0.25)),
                                 _fill_lt=(0, ("tab:blue", 0.25))))

    def __init__(self) -> None:
        self.addminperiod(self.p.period + 1)

    @staticmethod
    def _value(iwm_now: float, iwm_then: float, spy_now: float, spy_then: float) -> float:
        return 100.0 * ((iwm_now / iwm_then - 1.0) - (spy_now / spy_then - 1.0))

    def next(self) -> None:
        p = self.p.period
        self.lines.spread[0] = self._value(self.data0[0], self.data0[-p], self.data1[0], self.data1[-p])

    def once(self, start: int, end: int) -> None:
        """The same values as ``next``, over the whole preloaded arrays at once (runonce mode)."""
        iwm, spy, out, p = self.data0.array, self.data1.array, self.lines.spread.array, self.p.period
        for i in range(start, end):
            out[i] = self._value(iwm[i], iwm[i - p], spy[i], spy[i - p])


class PriceRatio(bt.Indicator):
    """Data 0 / data 1 (here the IWM/SPY total-return price ratio, which quants read more easily)."""

    lines = ("ratio",)
    plotinfo = dict(subplot=True, plotname="IWM/SPY total-return price ratio")

    def __init__(self) -> None:
        self.lines.ratio = self.data0 / self.data1


class PlotLevel(bt.Indicator):
    """A constant ``level`` drawn over its feed's panel (plot only; e.g. the VIX filter's level over VIX)."""

    lines = ("level",)
    params = (("level", 0.0),)
    plotinfo = dict(subplot=False, plotname="level", plotlinevalues=False)
    plotlines = dict(level=dict(color="tab:red", linestyle="--", linewidth=1.0))

    def _plotlabel(self) -> list:
        return []

    def next(self) -> None:
        self.lines.level[0] = self.p.level

    def once(self, start: int, end: int) -> None:
        out = self.lines.level.array
        for i in range(start, end):
            out[i] = self.p.level


@register("rotation", description="IWM/SPY relative-strength rotation (published signal card)")
class RelativeStrengthRotation(PortfolioStrategy):
    """Each month hold whichever of IWM and SPY has the higher trailing total return; cash when both are negative.

    Timing: on each month's first session the decision uses closes through the previous session only (the
    previous month's last close) — total-return (adjusted) closes for the returns and VIX's close. With
    ``fill="open"`` the orders fill at that first session's open (cheat-on-open, ``next_open``); with
    ``fill="close"`` at that session's close (cheat-on-close). Sells go before buys.

    Overlay:
    - VIX: with ``vix_timing="rebalance"`` (default) VIX is read only at the monthly decision (previous close):
      above ``vix_level`` the position is ``vix_scale`` of its size for the month. With ``"daily"`` VIX is also
      read at every close and the position is cut (or restored) at the next session's fill.
    - Breaker: at every close, if the portfolio is more than ``breaker_drawdown`` below its value at the close
      before the month's rebalance (the previous month's last close), ``breaker_scale`` of the position is kept (the rest to cash) from the next session's fill until
      the next rebalance. VIX and breaker together multiply (0.5 x 0.5 = 25%).
    Cash is the SGOV feed (the cash sleeve, BIL before 2020-06). ``allocation`` is the share of the portfolio the
    strategy manages; the rest sits in the cash sleeve.

    Params (validated): ``lookback`` 63 sessions; ``vix_level`` 30.0 (None = no filter); ``vix_scale`` 0.5;
    ``vix_timing`` "rebalance" | "daily"; ``breaker_drawdown`` 0.10 (None = no breaker); ``breaker_scale`` 0.5;
    ``cash_rule`` True (False: always hold the stronger of the two); ``allocation`` 1.0 (0 < a <= 1);
    ``fill`` "open" | "close".

    Records ``decisions``: one dict per month (date, iwm_return, spy_return, vix, asset, weights).
    """

    params = (
        ("lookback", 63),
        ("vix_level", 30.0),
        ("vix_scale", 0.5),
        ("vix_timing", "rebalance"),
        ("breaker_drawdown", 0.10),
        ("breaker_scale", 0.5),
        ("cash_rule", True),
        ("allocation", 1.0),
        ("fill", "open"),
    )

    history_params = ("lookback",)
    # Speed: sessions where nothing can happen are skipped. Between monthly decisions a close matters only while
    # a risk asset is held and the close can trip the breaker (on, not yet tripped) or move the daily VIX filter;
    # on other sessions ``next`` only keeps the close's value. False checks every close (a test compares both).
    skip_idle_sessions = True

    @classmethod
    def history_needed(cls, params) -> int:
        """``lookback`` + 1 closes up to the session before the first decision."""
        return whole_or_zero(cls.param_values(params)["lookback"]) + 1

    def validate_params(self) -> None:
        super().validate_params()
        check_number(self, "lookback", lo=1, integer=True)
        check_number(self, "vix_level", lo=0, allow_none=True)
        check_number(self, "vix_scale", lo=0, hi=1)
        check_choice(self, "vix_timing", ("rebalance", "daily"))
        check_number(self, "breaker_drawdown", lo=0, hi=1, lo_open=True, allow_none=True)
        check_number(self, "breaker_scale", lo=0, hi=1)
        check_choice(self, "cash_rule", (True, False))
        check_number(self, "allocation", lo=0, hi=1, lo_open=True)
        check_choice(self, "fill", ("open", "close"))

    def __init__(self) -> None:
        super().__init__()
        self.iwm, self.spy = self.getdatabyname("IWM"), self.getdatabyname("SPY")
        self.vix = self.getdatabyname("VIX")
        self.spread = ReturnSpread(self.iwm, self.spy, period=self.p.lookback)
        self.price_ratio = PriceRatio(self.iwm, self.spy)
        if self.p.vix_level is not None:  # the plot shows VIX (a signal-only feed) in a small panel, with the level
            self.vix.plotinfo.plot = True
            self.vix_level_line = PlotLevel(self.vix, level=float(self.p.vix_level), plotname=f"VIX filter {self.p.vix_level:g}")
        self._asset: str | None = None
        self._vix_on = self._breaker_on = False
        self._month_value = 0.0
        self._pending: str | None = None
        self._watching = False  # see skip_idle_sessions
        self._last_close_value = self.broker.startingcash

    def start(self) -> None:
        if self.p.fill == "close":
            # Backtrader trap: with cheat-on-open still on, the broker's cash check prices a cheat-on-close order
            # at the next session's open and can refuse it; in close mode only cheat-on-close may be on.
            self.broker.set_coc(True)
            self.broker.set_coo(False)

    # Both hooks run every session; only the one matching ``fill`` trades.
    def next_open(self) -> None:
        if self.p.fill == "open":
            self._trade(at="open")

    def next(self) -> None:
        if self.p.fill == "close":
            self._trade(at="close")
        if self._watching or not self.skip_idle_sessions:
            self._watch_close()
        self._last_close_value = self.broker.getvalue()

    def _trade(self, at: str) -> None:
        if self.warming_up():
            return
        if self.is_rebalance_day():
            self._monthly_decision(at)
        elif self._pending:
            self.rebalance(self._weights(), at=at, reason=self._pending)
            self._pending = None

    def _monthly_decision(self, at: str) -> None:
        # The safe accessors read closes through the previous session in next_open and with fill="close".
        iwm, spy = self.trailing_return(self.iwm, self.p.lookback), self.trailing_return(self.spy, self.p.lookback)
        vix = self.last_close(self.vix)
        self._asset = sig.choose_asset(iwm, spy, self.p.cash_rule)
        self._vix_on = sig.vix_filter_on(vix, self.p.vix_level)
        self._breaker_on = False
        self._pending = None
        self._watching = self._close_can_act()
        weights = self._weights()
        self._month_value = self._last_close_value
        self.decisions.append(
            {"date": self.now().date(), "iwm_return": iwm, "spy_return": spy, "vix": vix, "asset": self._asset, "weights": weights}
        )
        self.rebalance(weights, at=at, reason="scheduled")

    def _weights(self) -> dict[str, float]:
        scale = sig.risk_scale(self._vix_on, self._breaker_on, self.p.vix_scale, self.p.breaker_scale)
        return sig.target_weights(self._asset, scale, self.p.allocation)

    def _watch_close(self) -> None:
        """At each measured close: the breaker and (with daily timing) VIX, acted on at the next fill."""
        if self.warming_up() or self._asset in (None, sig.CASH):
            return
        if not self._breaker_on and sig.breaker_tripped(self._month_value, self.broker.getvalue(), self.p.breaker_drawdown):
            reason = "breaker"
        elif self.p.vix_timing == "daily" and sig.vix_filter_on(self.vix.close[0], self.p.vix_level) != self._vix_on:
            reason = "vix"
        else:
            return
        before = self._weights()
        if reason == "breaker":
            self._breaker_on = True
        else:
            self._vix_on = not self._vix_on
        if self._weights() != before:
            self._pending = reason
        self._watching = self._close_can_act()

    def _close_can_act(self) -> bool:
        """True while a close can change the position before the next decision (see skip_idle_sessions)."""
        if self._asset in (None, sig.CASH):
            return False
        return (self.p.breaker_drawdown is not None and not self._breaker_on) or self.p.vix_timing == "daily"
