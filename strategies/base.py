"""Plumbing shared by every strategy: warm-up guard, parameter validation, target-weight rebalancing."""
from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from types import SimpleNamespace

import backtrader as bt
import numpy as np

from feeds import is_cash, trade_from
from feeds.cerebro import SIGNAL_ONLY
from feeds.calendar import bar_date, same_month_before


MAX_GROSS = 3.0  # sanity bound on sum(|weights|): a long/short pair plus its cash collateral is 2
MAX_NET = 1.0  # sum(weights), shorts negative: what the cash (plus what shorts raise) can buy; there is no margin


class HistoryError(ValueError):
    """A safe accessor was asked, on a measured session, for closes from before the first bar of the data: the
    decision would silently read NaN. The strategy declares the history it reads in ``history_needed()``."""


def check_weights(weights: Mapping, names, *, owner: str = "rebalance") -> dict[str, float]:
    """``weights`` as {feed name: float}, or an error naming the symbol: an unknown feed (KeyError), a weight that is
    not a finite number (NaN, a string, None), an absolute total above ``MAX_GROSS``, or longs the portfolio cannot
    pay for: ``sum(weights)`` (shorts count negative, as they raise cash) above ``MAX_NET``. Nothing is scaled down
    silently."""
    if not isinstance(weights, Mapping):
        raise TypeError(f"{owner}: weights must be a dict of feed name -> weight, not {weights!r}")
    names = list(names)
    unknown = [str(n) for n in weights if n not in names]
    if unknown:
        raise KeyError(f"{owner}: no feed named {', '.join(unknown)}; feeds are {', '.join(names)}")
    clean = {}
    for name, weight in weights.items():
        if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, numbers.Real) or not math.isfinite(float(weight)):
            raise ValueError(f"{owner}: the weight of {name} must be a finite number, not {weight!r} (weights {_show(weights)})")
        clean[name] = float(weight)
    gross = sum(abs(w) for w in clean.values())
    if gross > MAX_GROSS + 1e-9:
        raise ValueError(f"{owner}: gross weight {gross:.3f} of {_show(clean)} exceeds the limit {MAX_GROSS:g} (sum of |weights|)")
    net = sum(clean.values())
    if net > MAX_NET + 1e-9:
        longs = ", ".join(f"{n} {w:g}" for n, w in clean.items() if w > 0)
        raise ValueError(
            f"{owner}: weights {_show(clean)} cannot be bought: the longs ({longs}) less the shorts come to {net:.3f} of the "
            f"portfolio value, above the limit {MAX_NET:g} (there is no margin: longs are paid with cash and what shorts "
            "raise); lower the weights"
        )
    return clean


def _show(weights: Mapping) -> str:
    return "{" + ", ".join(f"{n}: {w!r}" if not isinstance(w, float) else f"{n}: {w:g}" for n, w in weights.items()) + "}"


class PortfolioStrategy(bt.Strategy):
    """Base class for strategies that hold target weights of named feeds.

    Params:
    - ``cash_buffer`` (0.001): fraction of portfolio value left unallocated so that buys never fail for cash
      after commissions, slippage and whole-share rounding.

    Subclasses implement ``validate_params()`` and trade with ``rebalance()`` outside ``warming_up()``. They read
    prices with the safe accessors ``last_close()``, ``closes()`` and ``trailing_return()``, which return only
    closes known when the decision is made, whichever hook (``next_open`` or ``next``) and fill is used.

    Protocol read by the analyzers (they know no particular strategy):
    - ``rebalance_log``: one ``(datetime, reason, weights)`` per ``rebalance()`` call, orders or not.
      ``reason`` "scheduled" marks a planned rebalance (the published "trades"); others (e.g. "breaker",
      "vix", "stop") mark unscheduled ones.
    - ``rejected_orders``: orders the broker refused (Margin/Rejected).
    - ``too_small``: one ``(datetime, feed, weight, portfolio value, price)`` per target weight that came to zero
      whole shares of a feed not held (the money is too small to buy one share).
    - ``decisions``: one dict per decision with its inputs, starting with ``date`` (e.g. the rotation: date,
      iwm_return, spy_return, vix, asset, weights; the ratio strategies: date, ratio or z, event). The runner
      writes them to decisions.csv; a strategy that records none leaves it empty.
    """

    params = (("cash_buffer", 0.001),)
    # The parameters that set ``history_needed``, named (with their values) when the data cannot supply it.
    history_params: tuple[str, ...] = ()
    # True when the strategy expects the safe accessors to return NaN for history before the data's first bar on
    # measured sessions (it handles NaN itself); False (default): that is an error naming the strategy (HistoryError).
    missing_history_ok: bool = False
    # The signal chart whose levels the strategy's entries and exits are read against ("SPY/IWM": the SPY/IWM
    # ratio chart of the comparison marks its non-scheduled fills); None: its fills are on no shared signal chart.
    signal_chart: str | None = None
    # What a parameter checked by other means than check_number/check_choice allows, as text (``list`` shows it).
    param_rules: dict[str, str] = {}
    # The signal-only feeds (``feeds.cerebro.SIGNAL_ONLY``) the strategy reads. The runner loads and checks a signal
    # feed only when a strategy of the command reads it; the default (all of them) suits a strategy that does not say.
    signal_feeds: tuple[str, ...] = SIGNAL_ONLY

    @classmethod
    def param_values(cls, params: Mapping | None = None) -> dict:
        """The class's parameter defaults overridden by ``params`` (no Backtrader instance needed)."""
        return {**dict(cls.params._getitems()), **dict(params or {})}

    @classmethod
    def check_params(cls, params: Mapping | None = None) -> None:
        """Run the strategy's own ``validate_params`` on ``params`` (defaults for missing keys) without Backtrader
        or data, so that a whole grid can be checked before the first run. ValueError names the parameter."""
        bare = object.__new__(cls)  # no Backtrader set-up: validate_params reads only ``self.p``
        bare.p = bare.params = SimpleNamespace(**cls.param_values(params))
        bare.validate_params()

    @classmethod
    def param_ranges(cls, params: Mapping | None = None) -> dict[str, str]:
        """What ``validate_params`` allows for each parameter it checks with ``check_number``/``check_choice``, as
        text ("whole number >= 1", "open | close"), read from the checks themselves at ``params`` (defaults for
        missing keys), overridden by the class's ``param_rules`` (for rules the checks cannot say, e.g. relative to
        another parameter); a parameter checked otherwise is absent."""
        bare = object.__new__(cls)
        bare.p = bare.params = SimpleNamespace(**cls.param_values(params))
        bare._param_ranges = {}
        try:
            bare.validate_params()
        except (ValueError, AttributeError, TypeError, KeyError):
            pass  # the ranges read so far stand
        return {**bare._param_ranges, **cls.param_rules}

    @classmethod
    def history_needed(cls, params: Mapping) -> int:
        """Closed sessions of history the strategy needs before its first decision, from its ``params``
        (missing keys take the defaults). The runner loads at least this much warm-up and refuses a run whose
        data cannot supply it. Base: 0 (the first decision reads no past bar); override when decisions read
        past closes, and name the parameters that set it in ``history_params``."""
        return 0

    # -- the signal card (``run_backtest.py signal``) -------------------------------------------------------------
    @classmethod
    def next_decision(cls, params: Mapping, as_of):
        """The session of the next decision after the session ``as_of`` (a pd.Timestamp), shown on the signal card;
        None (default): not declared, the strategy may act at any session. Use ``feeds.first_session_of_next_month``
        or ``feeds.next_session``."""
        return None

    @classmethod
    def card_fields(cls, params: Mapping, decisions, bars: Mapping) -> dict:
        """Extra ``label: value`` lines for the strategy's signal card (default: none). ``decisions`` is its
        ``decisions`` list as a DataFrame, ``bars`` each feed's bars (a DataFrame with open, high, low, close,
        volume, raw_close) through the as-of session."""
        return {}

    def __init__(self) -> None:
        self.validate_params()
        self._trade_from = trade_from(self.datas)
        self._trade_from_num = bt.date2num(self._trade_from.to_pydatetime()) if self._trade_from is not None else float("-inf")
        self._clock = self.datas[0].lines.datetime  # the first feed's datetime line, read directly (speed)
        self._same_month_before = float("-inf")  # bars before this are in the month of the last bar checked
        self.rejected_orders: list[bt.Order] = []
        self.rebalance_log: list[tuple] = []
        self.too_small: list[tuple] = []
        self.decisions: list[dict] = []
        self.feeds_read: set[str] = set()  # feeds read through the safe accessors (each gets a panel in the plot)

    # -- parameters ----------------------------------------------------------------------------------------
    def validate_params(self) -> None:
        """Raise ValueError naming the parameter when a value is out of range. Subclasses extend it."""
        check_number(self, "cash_buffer", lo=0.0, hi=0.5)

    # -- time ----------------------------------------------------------------------------------------------
    # Backtrader trap: in runonce mode ``next_open`` is called before the strategy's own clock advances, so
    # ``self.datetime`` and ``len(self)`` still show the previous bar there. The feeds are already on the
    # current bar, so time is read from the first feed's clock, which is right in ``next`` and ``next_open``.
    def now(self):
        """The current bar's datetime (correct in both ``next`` and ``next_open``)."""
        return self.datas[0].datetime.datetime(0)

    def bar_count(self) -> int:
        """Bars seen so far including the current one (correct in both ``next`` and ``next_open``)."""
        return len(self._clock)

    def warming_up(self) -> bool:
        """True on bars before the first measured session (feed param ``trade_from``): read, don't trade."""
        return self._clock[0] < self._trade_from_num

    def first_measured_session(self) -> bool:
        """True on the first bar that is not warm-up."""
        if self.warming_up():
            return False
        if self.bar_count() == 1:
            return True
        return self._clock[-1] < self._trade_from_num  # the previous bar was warm-up

    def first_session_of_month(self) -> bool:
        """True on the first bar of a calendar month (the first bar of the data counts)."""
        clock = self._clock
        now = clock[0]
        if now < self._same_month_before:  # time only moves on: still in the month of a bar already checked
            return False
        tz = getattr(clock, "_tz", None)
        self._same_month_before = same_month_before(now, tz)
        return len(clock) == 1 or bar_date(now, tz).month != bar_date(clock[-1], tz).month

    def is_rebalance_day(self) -> bool:
        """A measured bar that is the first measured session or the first session of a month."""
        return not self.warming_up() and (self.first_measured_session() or self.first_session_of_month())

    def prenext(self) -> None:
        """Backtrader calls this instead of ``next`` while an indicator still lacks bars. During warm-up that is
        expected; on a measured session it would skip a decision silently, so it is an error."""
        if not self.warming_up():
            raise ValueError(
                f"{type(self).__name__}: on the measured session {self.now().date()} its indicators still lack history "
                f"(they need {self._minperiod} bars, the feeds have {self.bar_count()} so far), so a decision would be "
                "skipped; load more warm-up or declare it in history_needed()"
            )

    prenext_open = prenext  # cheat-on-open: the open-side hook is skipped the same way

    # -- prices known at the decision ----------------------------------------------------------------------
    # Backtrader trap: in ``next_open`` the feeds are already on the current session, so ``data.close[0]`` is a
    # close that has not happened yet when the order fills at the open. These accessors read only closes that
    # are complete before the session whose price fills the orders placed now:
    # - in ``next_open`` (fill at this session's open): closes through the previous session;
    # - in ``next`` with cheat-on-close (fill at this session's close): closes through the previous session;
    # - in ``next`` otherwise (fill at the next session's open): closes through this session.
    def known_ago(self) -> int:
        """``ago`` of the last close known at the decision: -1 in ``next_open`` or with cheat-on-close, else 0."""
        in_next_open = len(self) < len(self.datas[0])  # the strategy's clock advances only after next_open
        return -1 if in_next_open or getattr(self.broker.p, "coc", False) else 0

    def last_close(self, data, *, price: str = "adjusted") -> float:
        """The last close of ``data`` (a feed or its name) known at the decision; NaN before the first one.

        ``price``: "adjusted" (total-return close, the ``close`` line) or "raw" (the ``raw_close`` line).
        """
        values = self.closes(data, 1, price=price)
        return float(values[-1])

    def closes(self, data, n: int, *, price: str = "adjusted") -> np.ndarray:
        """The last ``n`` closes of ``data`` known at the decision, oldest first, NaN where history is missing."""
        _check_sessions("closes", n)
        feed = self._feed(data)
        line = _close_line(feed, price)
        ago = self.known_ago()
        known = min(n, len(line) + ago)
        values = np.full(n, np.nan)
        if known > 0:
            values[n - known:] = line.get(ago=ago, size=known)
        if known < n and not self.missing_history_ok and not self.warming_up():
            raise history_error(type(self).__name__, feed._name, n, max(known, 0), self.now().date())
        return values

    def trailing_return(self, data, n: int, *, price: str = "adjusted") -> float:
        """Return over the last ``n`` sessions known at the decision: close / close ``n`` sessions earlier - 1
        (a total return on adjusted closes); NaN without ``n + 1`` known closes."""
        _check_sessions("trailing_return", n)
        values = self.closes(data, n + 1, price=price)
        return float(values[-1] / values[0] - 1.0)

    def _feed(self, data):
        if isinstance(data, str):
            names = [d._name for d in self.datas]
            if data not in names:
                raise KeyError(f"{type(self).__name__}: no feed named {data!r}; feeds are {', '.join(names)}")
            self.feeds_read.add(data)
            return self.getdatabyname(data)
        self.feeds_read.add(getattr(data, "_name", ""))
        return data

    # -- orders --------------------------------------------------------------------------------------------
    def notify_order(self, order: bt.Order) -> None:
        if order.status in (order.Margin, order.Rejected):
            self.rejected_orders.append(order)

    def portfolio_value(self, at: str = "open") -> float:
        """Cash plus positions marked at this bar's ``open`` or ``close`` (adjusted prices)."""
        value = self.broker.getcash()
        for data in self.datas:
            size = self.getposition(data).size
            if size:
                value += size * _price(data, at)
        return value

    def current_weights(self, at: str = "close") -> dict[str, float]:
        """Each feed's position value as a fraction of portfolio value, marked at ``at``."""
        value = self.portfolio_value(at)
        return {d._name: self.getposition(d).size * _price(d, at) / value for d in self.datas if self.getposition(d).size}

    def rebalance(self, weights: Mapping[str, float], *, at: str = "open", reason: str = "scheduled") -> list[bt.Order]:
        """Trade every tradable feed to ``weights`` (feed name -> fraction of portfolio value; missing = 0).

        Reads positions, cash and each feed's ``at`` price ("open" when called from ``next_open`` under
        cheat-on-open, "close" with cheat-on-close). Writes market orders, whole shares, rounded toward zero,
        all reducing orders (sells) submitted before any buy so the broker's cash check sees their proceeds.
        Negative weights are short positions. Appends ``(now, reason, weights)`` to ``rebalance_log``.
        Returns the orders submitted.
        """
        names = {d._name: d for d in self.datas}
        weights = check_weights(weights, names)
        self.rebalance_log.append((self.now(), reason, dict(weights)))
        value = self.portfolio_value(at) * (1.0 - self.p.cash_buffer)
        deltas = []
        for name, data in names.items():
            weight = float(weights.get(name, 0.0))
            current = self.getposition(data).size
            if weight and not getattr(data.p, "tradable", True):
                raise ValueError(f"rebalance: {name} is a signal-only feed and cannot be held")
            if not weight and not current:
                continue
            price = _price(data, at)
            target = math.trunc(weight * value / price)
            if weight and not target and not current:  # e.g. 10 of cash and a 150 share: bought nothing, say so
                self.too_small.append((self.now(), name, weight, value, price))
            if target != current:
                deltas.append((data, target - current, price))
        deltas = self._fit_cash(deltas)
        orders = []
        for data, delta, price in sorted(deltas, key=lambda item: item[1] > 0):
            if delta:
                order = self.buy(data=data, size=delta, price=price) if delta > 0 else self.sell(data=data, size=-delta, price=price)
                orders.append(order)
        return orders

    def _fit_cash(self, deltas: list[tuple]) -> list[tuple]:
        """Trim buys so that cash after every order (commission and slippage included) stays >= 0.

        Whole-share rounding can leave a buy a few dollars short (e.g. a short sale rounded toward zero raises
        less than the long leg costs). The cash sleeve (``feeds.is_cash``) is the residual and is trimmed first;
        any remaining shortfall scales the other buys down.
        """
        slip = getattr(self.broker.p, "slip_perc", 0.0) or 0.0

        def cash_after(items) -> float:
            cash = self.broker.getcash()
            for data, delta, price in items:
                fill = price * (1 + slip if delta > 0 else 1 - slip)
                cash -= delta * fill + self.broker.getcommissioninfo(data).getcommission(delta, fill)
            return cash

        shortfall = -cash_after(deltas)
        if shortfall <= 0:
            return deltas
        fitted = []
        for data, delta, price in deltas:
            if shortfall > 0 and delta > 0 and is_cash(data):
                cut = min(delta, math.ceil(shortfall / (price * (1 + slip))))
                delta -= cut
                shortfall -= cut * price * (1 + slip)
            fitted.append((data, delta, price))
        shortfall = -cash_after(fitted)
        if shortfall > 0:
            buys = sum(d * p for _, d, p in fitted if d > 0)
            keep = max(0.0, 1.0 - shortfall / buys) if buys else 1.0
            fitted = [(data, math.floor(d * keep) if d > 0 else d, p) for data, d, p in fitted]
        return fitted


def history_error(strategy: str, feed: str, n: int, known: int, session) -> HistoryError:
    """The error of a safe accessor asked for ``n`` closes of ``feed`` on measured ``session`` with only ``known``."""
    return HistoryError(
        f"{strategy}: on the measured session {session} it asked for the last {n} closes of {feed} but the data hold "
        f"only {known} (the rest would be NaN, and the decision silently wrong); declare the history it reads in "
        "history_needed() (and the parameters behind it in history_params) so the runner loads that much warm-up, "
        "or set missing_history_ok = True if NaN is expected"
    )


def whole_or_zero(value) -> int:
    """``value`` as an int when it is a whole number >= 0, else 0 (bad values are reported by ``validate_params``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0 or int(value) != value:
        return 0
    return int(value)


def _price(data, at: str) -> float:
    if at == "open":
        return data.open[0]
    if at == "close":
        return data.close[0]
    raise ValueError(f"at must be 'open' or 'close', not {at!r}")


def _check_sessions(where: str, n) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{where}: n must be a whole number of sessions >= 1, not {n!r}")


def _close_line(data, price: str):
    if price == "adjusted":
        return data.close
    if price == "raw":
        line = getattr(data.lines, "raw_close", None)
        if line is None:
            raise ValueError(f"feed {data._name} has no raw_close line; use price='adjusted'")
        return line
    raise ValueError(f"price must be 'adjusted' or 'raw', not {price!r}")


def check_number(strategy: bt.Strategy, name: str, *, lo: float | None = None, hi: float | None = None,
                 integer: bool = False, allow_none: bool = False, lo_open: bool = False) -> None:
    """Raise ValueError naming ``name`` when the strategy's param is not a number in [lo, hi] (or (lo, hi] with lo_open)."""
    ranges = getattr(strategy, "_param_ranges", None)
    if ranges is not None:  # PortfolioStrategy.param_ranges is reading the checks
        if lo is not None and hi is not None:
            bounds = f" in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
        elif lo is not None or hi is not None:
            bounds = f" {'>' if lo_open else '>='} {lo:g}" if lo is not None else f" <= {hi:g}"
        else:
            bounds = ""
        ranges[name] = f"{'whole number' if integer else 'number'}{bounds}{', or off' if allow_none else ''}"
    value = getattr(strategy.p, name)
    cls = type(strategy).__name__
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise ValueError(f"{cls}: parameter {name} must be a number, not {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{cls}: parameter {name} must be a finite number, not {value!r} (None/off for no value)")
    if integer and not isinstance(value, int):  # 63.0 or 1e2 would fail deep inside Backtrader: refused here, by name
        hint = f" (write {int(value)})" if value == int(value) else ""
        raise ValueError(f"{cls}: parameter {name} must be a whole number, not {value!r}{hint}")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ValueError(f"{cls}: parameter {name} must be {'>' if lo_open else '>='} {lo}, not {value!r}")
    if hi is not None and value > hi:
        raise ValueError(f"{cls}: parameter {name} must be <= {hi}, not {value!r}")


def format_choice(value) -> str:
    """A choice as the command line writes it: true/false, names unquoted."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def check_choice(strategy: bt.Strategy, name: str, choices) -> None:
    """Raise ValueError naming ``name`` when the strategy's param is not one of ``choices``."""
    ranges = getattr(strategy, "_param_ranges", None)
    if ranges is not None:
        ranges[name] = " | ".join(format_choice(c) for c in choices)
    value = getattr(strategy.p, name)
    if value not in choices:
        raise ValueError(f"{type(strategy).__name__}: parameter {name} must be one of {', '.join(map(repr, choices))}, not {value!r}")
