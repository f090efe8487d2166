"""SwitchCount: every change of what the portfolio holds, and the count of scheduled rebalances."""
from __future__ import annotations

from collections import Counter

import pandas as pd

from . import stats
from .base import CASH, MeasuredAnalyzer


def holding_label(weights: dict[str, float], cash_names: set[str], threshold: float, step: float = 0.05) -> str:
    """A held state's name: "cash", "IWM", or "IWM 50% + cash" / "IWM 50% + SPY -50% + cash".

    Cash-sleeve feeds and broker cash are "cash". Non-cash weights below ``threshold`` (absolute) are not held;
    others are rounded to ``step`` so that whole-share rounding does not make a new state.
    """
    risk = {n: w for n, w in weights.items() if n not in cash_names and abs(w) >= threshold}
    if not risk:
        return CASH
    gross = sum(abs(w) for w in risk.values())
    if len(risk) == 1 and gross >= 1.0 - threshold and all(w > 0 for w in risk.values()):
        return next(iter(risk))
    parts = [f"{n} {round(w / step) * step * 100:.0f}%" for n, w in sorted(risk.items())]
    net_long = sum(risk.values())
    return " + ".join(parts + ([CASH] if net_long < 1.0 - threshold else []))


class SwitchCount(MeasuredAnalyzer):
    """Changes of held state (e.g. IWM -> SPY, SPY -> cash, IWM -> IWM 50% + cash) and rebalance counts.

    The held state is judged after each measured session on which orders were filled (price drift alone never
    makes a switch); before the first fill the portfolio is "cash". Labels come from ``holding_label``.

    Params:
    - ``threshold`` (0.02): weights below this are "not held".

    ``get_analysis()`` keys:
    - ``switches``: list of {``date``, ``from``, ``to``}. ``Switches``: their number.
    - ``Switches per year``: ``Switches`` / measured years (None on a run shorter than a year). ``per_year``: {year: switches}.
    - ``Rebalances``: scheduled rebalances in the measured period: entries with reason "scheduled" in the
      strategy's ``rebalance_log`` (see ``strategies.base``); without such a log, sessions with fills.
      ``Rebalances per year``. ``Unscheduled rebalances``: other logged reasons (breaker, stop, ...).
    - ``held``: pd.Series of the held state after each measured session.
    """

    params = (("threshold", 0.02),)

    def start(self) -> None:
        super().start()
        self._filled_today = False
        self._fill_bars: set[int] = set()  # measured bar numbers; dates are looked up once, at the end (speed)
        self._state = CASH
        self._held: list[str] = []
        self._switches: list[dict] = []
        self._cash_names = self.cash_names()

    def notify_order(self, order) -> None:
        if order.status == order.Completed or (order.status == order.Partial):
            self._filled_today = True

    def next(self) -> None:
        super().next()
        if not self.measuring():
            self._filled_today = False
            return
        if self._filled_today:
            bar = len(self.values) - 1
            self._fill_bars.add(bar)
            label = holding_label(self.last_weights(), self._cash_names, self.p.threshold)
            if label != self._state:
                self._switches.append({"date": bar, "from": self._state, "to": label})
                self._state = label
        self._filled_today = False
        self._held.append(self._state)

    def stop(self) -> None:
        dates = self.dates
        switches = [dict(switch, date=dates[switch["date"]]) for switch in self._switches]
        equity = self.equity()
        years = stats.annual_years(equity.index[0], equity.index[-1]) if len(equity) > 1 else 0.0  # 0.0: rates None
        log = getattr(self.strategy, "rebalance_log", None)
        if log is not None:
            measured = [entry for entry in log if self._from is None or entry[0] >= self._from]
            scheduled = sum(1 for entry in measured if entry[1] == "scheduled")
            unscheduled = len(measured) - scheduled
        else:
            scheduled, unscheduled = len(self._fill_bars), 0
        per_year = Counter(s["date"].year for s in switches)
        self.rets.update(
            {
                "switches": switches,
                "Switches": len(switches),
                "Switches per year": len(switches) / years if years else None,
                "per_year": {int(y): per_year.get(y, 0) for y in sorted({d.year for d in self.dates})},
                "Rebalances": scheduled,
                "Rebalances per year": scheduled / years if years else None,
                "Unscheduled rebalances": unscheduled,
                "held": pd.Series(self._held, index=pd.DatetimeIndex(self.dates), dtype=object),
            }
        )
