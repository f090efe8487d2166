"""Target-weight strategies: write the rule once, run it on both engines.

A ``TargetWeights`` subclass declares its target weights as a pure function of what is known at each decision::

    class TrendFilter(TargetWeights):
        params = (("asset", "SPY"), ("sessions", 200))

        def target_weights(self, known):
            closes = known.closes(self.p.asset, self.p.sessions)   # through the previous session's close
            known.note(close=closes[-1], average=closes.mean())     # written to decisions.csv
            return {self.p.asset: 1.0} if closes[-1] > closes.mean() else {"SGOV": 1.0}

The framework calls ``target_weights`` at the open of every decision session (``schedule``: "monthly" = the first
measured session and each month's first session, "daily" = every measured session) and trades to the weights at
that open. On Backtrader ``known`` reads the strategy's own safe accessors (``BacktraderKnown``); on the fast engine
it reads numpy arrays (``ArrayKnown``) and ``self`` is a bare instance holding only ``self.p``. So the rule must read
nothing but ``known`` and ``self.p``, and keep no state between calls: then both engines make the same decisions and
trades (``sweep --engine fast --verify K`` checks it).
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from feeds import FEED_NAMES

from .base import PortfolioStrategy, _check_sessions, check_weights, history_error

SCHEDULES = ("monthly", "daily")
PRICES = ("adjusted", "raw")


class Known:
    """What is known at a decision: the session, and closes through the previous session's (the decision is made at
    the open, before the session trades). Shared by both engines; subclasses supply ``_closes``."""

    def __init__(self) -> None:
        self.noted: dict = {}

    date: pd.Timestamp

    def closes(self, feed: str, n: int, *, price: str = "adjusted") -> np.ndarray:
        """The last ``n`` closes of ``feed`` (a name: IWM, SPY, SGOV, VIX) known at the decision, oldest first.
        ``price``: "adjusted" (total-return) or "raw" (as quoted)."""
        _check_sessions("closes", n)
        if price not in PRICES:
            raise ValueError(f"price must be 'adjusted' or 'raw', not {price!r}")
        return self._closes(feed, n, price)

    def last_close(self, feed: str, *, price: str = "adjusted") -> float:
        """The last close of ``feed`` known at the decision."""
        return float(self.closes(feed, 1, price=price)[-1])

    def trailing_return(self, feed: str, n: int, *, price: str = "adjusted") -> float:
        """Close / close ``n`` sessions earlier - 1, both known at the decision (a total return on adjusted closes)."""
        _check_sessions("trailing_return", n)
        values = self.closes(feed, n + 1, price=price)
        return float(values[-1] / values[0] - 1.0)

    def note(self, **fields) -> None:
        """Add ``fields`` to this decision's record (``decisions.csv``, the signal card)."""
        self.noted.update(fields)

    def _closes(self, feed: str, n: int, price: str) -> np.ndarray:
        raise NotImplementedError


class BacktraderKnown(Known):
    """``Known`` on a running Backtrader strategy: its safe accessors (history guard included)."""

    def __init__(self, strategy: PortfolioStrategy) -> None:
        super().__init__()
        self.strategy = strategy
        self.date = pd.Timestamp(strategy.now().date())

    def _closes(self, feed: str, n: int, price: str) -> np.ndarray:
        return self.strategy.closes(feed, n, price=price)


class ArrayKnown(Known):
    """``Known`` over arrays: ``columns[(feed, price)]`` is a 1-D array of closes per session; ``at(bar)`` moves it to
    the decision at session ``bar`` (closes through ``bar - 1``). The same history guard as the safe accessors."""

    def __init__(self, columns: dict[tuple[str, str], np.ndarray], dates: pd.DatetimeIndex, strategy: str,
                 missing_history_ok: bool = False) -> None:
        super().__init__()
        self.columns, self.dates, self.strategy, self.missing_history_ok = columns, dates, strategy, missing_history_ok
        self._stamps = list(dates)  # boxed once: a DatetimeIndex boxes a Timestamp on every read
        self.bar = 0

    def at(self, bar: int) -> "ArrayKnown":
        self.bar, self.date, self.noted = bar, self._stamps[bar], {}
        return self

    def _closes(self, feed: str, n: int, price: str) -> np.ndarray:
        column = self.columns.get((feed, price))
        if column is None:
            feeds = sorted({f for f, _ in self.columns})
            raise KeyError(f"{self.strategy}: no feed named {feed!r}; feeds are {', '.join(feeds)}")
        known = min(n, self.bar)
        values = np.full(n, np.nan)
        if known > 0:
            values[n - known:] = column[self.bar - known:self.bar]
        if known < n and not self.missing_history_ok:
            raise history_error(self.strategy, feed, n, known, self.date.date())
        return values


class TargetWeights(PortfolioStrategy):
    """A strategy given by its target weights at each decision (see the module docstring); runs on both engines.

    Subclasses implement ``target_weights(known) -> {feed: weight}`` (feeds left out go to 0; the rules of
    ``rebalance()``: sum at most 1, |weights| at most 3, VIX not tradable) and set ``schedule``. Each decision is
    recorded in ``decisions`` as ``date``, the fields ``known.note()`` added, and ``weights`` (the non-zero ones).
    """

    schedule = "monthly"

    def target_weights(self, known: Known) -> Mapping[str, float]:
        raise NotImplementedError(f"{type(self).__name__} must define target_weights(self, known)")

    @classmethod
    def decision_sessions(cls, month_start: np.ndarray, first: int) -> np.ndarray:
        """Indexes of the decision sessions among sessions flagged ``month_start`` (True on a month's first session),
        from the first measured session ``first``."""
        if cls.schedule not in SCHEDULES:
            raise ValueError(f"{cls.__name__}: schedule must be one of {', '.join(SCHEDULES)}, not {cls.schedule!r}")
        bars = np.arange(first, len(month_start))
        if cls.schedule == "daily":
            return bars
        return bars[(bars == first) | month_start[first:]]

    @classmethod
    def next_decision(cls, params: Mapping, as_of) -> pd.Timestamp | None:
        from feeds import first_session_of_next_month, next_session

        return next_session(as_of) if cls.schedule == "daily" else first_session_of_next_month(as_of)

    def is_decision_day(self) -> bool:
        if self.schedule == "daily":
            return not self.warming_up()
        return self.is_rebalance_day()

    def next_open(self) -> None:
        if self.is_decision_day():
            known = BacktraderKnown(self)
            weights = decide(self, known)
            self.decisions.append(record(known, weights))
            self.rebalance(weights, at="open")


def decide(strategy, known: Known) -> dict[str, float]:
    """``strategy.target_weights(known)`` checked as ``rebalance()`` checks weights (named errors, nothing scaled)."""
    state = vars(strategy)
    before = len(state)
    weights = strategy.target_weights(known)
    if len(state) != before:  # dicts keep insertion order: the new attributes are the last ones
        added = ", ".join(f"self.{name}" for name in list(state)[before:])
        raise _at_rule(strategy, ValueError(
            f"{type(strategy).__name__}.target_weights on {known.date.date()} set {added}: the rule must keep no state "
            "between decisions (the fast engine calls it on a bare object holding only self.p); derive everything "
            "from known, and record values with known.note()"))
    try:
        clean = check_weights(weights, FEED_NAMES, owner="")
        if clean.get("VIX"):
            raise ValueError(": VIX is a signal-only feed and cannot be held")
    except (KeyError, TypeError, ValueError) as exc:  # named with the strategy and the session
        owner = f"{type(strategy).__name__}.target_weights on {known.date.date()}"
        raise _at_rule(strategy, type(exc)(owner + str(exc.args[0]))) from None
    return clean


def _at_rule(strategy, error: Exception) -> Exception:
    """``error`` pointing at the strategy's ``target_weights`` (its file and first line: ``engines.errors.where``
    reads ``location``), for an error found after the rule has returned."""
    code = type(strategy).target_weights.__code__
    error.location = (code.co_filename, code.co_firstlineno)
    return error


def record(known: Known, weights: Mapping[str, float]) -> dict:
    """One decision's record: date, the noted fields, the non-zero weights."""
    return {"date": known.date.date(), **known.noted, "weights": {k: v for k, v in weights.items() if v}}
