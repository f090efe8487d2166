"""The IWM/SPY rotation (``strategies.rotation.RelativeStrengthRotation``) for many parameter combinations at once.

One loop over sessions; each step works on arrays with one row per combination. The monthly choice calls the
same pure functions as the strategy (``signals.rotation``) once per distinct lookback, cash rule and
VIX level; the sizing and fills are ``Book``'s. The timing follows the strategy: the decision on a month's first
session reads closes through the previous session; ``fill="open"`` trades at that open, ``"close"`` at that
close; the breaker and a daily VIX are read at every close and acted on at the next fill.
"""
from __future__ import annotations

import math

import numpy as np

from signals import rotation as sig

from .book import IWM, SLEEVE, SPY, Book, Market, curves, named_weights, require_history

ASSETS = ("IWM", "SPY", sig.CASH)  # asset codes 0, 1, 2; -1 = nothing chosen yet
NONE, BREAKER, VIX = 0, 1, 2
REASONS = {BREAKER: "breaker", VIX: "vix"}
BLOCK = 64  # closes buffered per copy into the curves


def _column(combos: list[dict], key: str, default, none=np.nan) -> np.ndarray:
    values = [c.get(key, default) for c in combos]
    return np.array([none if v is None else v for v in values], dtype=float)


def _risk(vix_on, breaker_on, p, rows):
    """allocation x risk_scale(...) for ``rows`` (the same float operations as ``sig.risk_scale``/``target_weights``)."""
    scale = np.where(vix_on, p["vix_scale"][rows], 1.0) * np.where(breaker_on, p["breaker_scale"][rows], 1.0)
    return p["allocation"][rows] * scale


def _weights(asset: np.ndarray, risk: np.ndarray) -> np.ndarray:
    """Feed weights (IWM, SPY, sleeve) like ``sig.target_weights``: asset at risk, the rest in the sleeve."""
    out = np.empty((len(asset), 3))
    full = risk >= 1.0
    at_risk = np.where(full, 1.0, risk)
    out[:, IWM] = np.where(asset == IWM, at_risk, 0.0)
    out[:, SPY] = np.where(asset == SPY, at_risk, 0.0)
    out[:, SLEEVE] = np.where(asset < 2, np.where(full, 0.0, 1.0 - risk), 1.0)
    return out


def _choices(market: Market, lookbacks: np.ndarray, levels: np.ndarray, decision_bars: np.ndarray):
    """From the pure functions, per decision bar: the trailing returns and asset code per (lookback, cash rule), and
    the VIX filter per VIX level (NaN = off). Arrays indexed [decision, lookback index(, rule)]."""
    close = market.close
    returns = np.full((len(decision_bars), len(lookbacks), 2), np.nan)
    assets = np.zeros((len(decision_bars), len(lookbacks), 2), dtype=int)
    vix_on = np.zeros((len(decision_bars), len(levels)), dtype=bool)
    for k, bar in enumerate(decision_bars):
        for m, lookback in enumerate(lookbacks):
            then = bar - 1 - int(lookback)
            iwm = close[bar - 1, IWM] / close[then, IWM] - 1.0 if then >= 0 else math.nan
            spy = close[bar - 1, SPY] / close[then, SPY] - 1.0 if then >= 0 else math.nan
            returns[k, m] = iwm, spy
            for rule in (0, 1):
                assets[k, m, rule] = ASSETS.index(sig.choose_asset(iwm, spy, bool(rule)))
        for m, level in enumerate(levels):
            vix_on[k, m] = sig.vix_filter_on(float(market.vix[bar - 1]), None if math.isnan(level) else float(level))
    return returns, assets, vix_on


def simulate(market: Market, combos: list[dict], settings, *, record: bool = False) -> dict:
    """Run the rotation for every combination. Returns ``values`` (measured sessions + 1 starting row, x runs),
    the ``book``, ``invested`` sessions per run, ``switch_keys`` changes, ``scheduled`` rebalance counts and, with
    ``record``, per-run ``log`` (date, reason, weights) and ``decisions``."""
    n = len(combos)
    p = {
        "lookback": _column(combos, "lookback", 63).astype(int),
        "vix_level": _column(combos, "vix_level", 30.0),
        "vix_scale": _column(combos, "vix_scale", 0.5),
        "daily": np.array([c.get("vix_timing", "rebalance") == "daily" for c in combos]),
        "breaker": _column(combos, "breaker_drawdown", 0.10),
        "breaker_scale": _column(combos, "breaker_scale", 0.5),
        "cash_rule": np.array([bool(c.get("cash_rule", True)) for c in combos]),
        "allocation": _column(combos, "allocation", 1.0),
        "close_fill": np.array([c.get("fill", "open") == "close" for c in combos]),
    }
    book = Book(n, settings.cash, _column(combos, "cash_buffer", 0.001), commission=settings.commission,
                per_share=settings.commission_per_share, slippage=settings.slippage, record=record)
    first, sessions = market.first, market.sessions
    active_from = p["lookback"]  # the strategy's minimum period is lookback + 1 bars: next() from bar `lookback`
    require_history(market, active_from, combos, "rotation")
    decision_bars = np.array([b for b in range(max(first, 1), sessions) if b == first or market.month_start[b]])
    lookbacks, look_index = np.unique(p["lookback"], return_inverse=True)
    levels, level_index = np.unique(p["vix_level"], return_inverse=True)  # NaN (off) sorts last, once
    returns, assets, vix_table = _choices(market, lookbacks, levels, decision_bars)
    decision_of = np.full(sessions, -1)
    decision_of[decision_bars] = np.arange(len(decision_bars))
    rule_index = p["cash_rule"].astype(int)

    asset = np.full(n, -1)
    vix_on = np.zeros(n, dtype=bool)
    breaker_on = np.zeros(n, dtype=bool)
    pending = np.zeros(n, dtype=int)
    month_value = np.zeros(n)
    last_value = np.full(n, float(settings.cash))
    values = curves(n, sessions - first, settings.cash)  # see figures()
    has_breaker, breaker = ~np.isnan(p["breaker"]), -np.nan_to_num(p["breaker"])
    vix = market.vix
    with np.errstate(invalid="ignore"):  # VIX above each level at each close (sig.vix_filter_on, vectorised)
        vix_above = ~np.isnan(levels)[None, :] & ~np.isnan(vix)[:, None] & (vix[:, None] > np.nan_to_num(levels)[None, :])
    above = np.empty(n, dtype=bool)  # the runs' row of vix_above (sessions x levels) at a close
    armed = np.zeros(n, dtype=bool)  # the breaker can still trip this month
    daily = np.zeros(n, dtype=bool)  # VIX is read at every close this month
    any_daily = bool(p["daily"].any())
    switches = Switches(n)
    scheduled = np.zeros(n, dtype=int)
    logs = [[] for _ in range(n)] if record else None
    decisions = [[] for _ in range(n)] if record else None
    by_mode = {"open": np.flatnonzero(~p["close_fill"]), "close": np.flatnonzero(p["close_fill"])}
    waiting = np.zeros(n, dtype=bool)  # rows with a pending overlay change, set at the last close
    mode_mask = {"open": ~p["close_fill"], "close": p["close_fill"]}
    waiting_any = [False]

    def trade(bar: int, at: str) -> None:
        mode_rows = by_mode[at]
        if not len(mode_rows):
            return
        k = decision_of[bar]
        if k >= 0:  # every run is active from the first measured session (require_history)
            rows = mode_rows
            asset[rows] = assets[k, look_index[rows], rule_index[rows]]
            vix_on[rows] = vix_table[k, level_index[rows]]
            breaker_on[rows] = False
            pending[rows] = NONE
            month_value[rows] = last_value[rows]
            held = asset[rows] < 2
            armed[rows] = held & has_breaker[rows] & (month_value[rows] > 0)
            safe_month[rows] = np.where(armed[rows], month_value[rows], 1.0)
            daily[rows] = held & p["daily"][rows]
            weights = _weights(asset[rows], _risk(vix_on[rows], False, p, rows))
            scheduled[rows] += 1
            _log(rows, bar, "scheduled", weights)
            book.rebalance(rows, weights, bar, market, at=at, measuring=True)
            waiting[rows] = False
            return
        if not waiting_any[0]:
            return
        rows = np.flatnonzero(waiting if len(mode_rows) == n else waiting & mode_mask[at])
        if len(rows):
            weights = _weights(asset[rows], _risk(vix_on[rows], breaker_on[rows], p, rows))
            if record:
                for code in (BREAKER, VIX):
                    _log(rows[pending[rows] == code], bar, REASONS[code], weights[pending[rows] == code])
            pending[rows] = NONE
            waiting[rows] = False
            waiting_any[0] = bool(waiting.any())
            book.rebalance(rows, weights, bar, market, at=at, measuring=True)

    def _log(rows, bar, reason, weights) -> None:
        if not record:
            return
        date = market.dates[bar]
        for k, r in enumerate(rows):
            held = named_weights(weights[k])
            logs[r].append((date, reason, held))
            if reason == "scheduled":
                iwm, spy = returns[decision_of[bar], look_index[r]]
                decisions[r].append({"date": date.date(), "iwm_return": iwm, "spy_return": spy,
                                     "vix": float(market.vix[bar - 1]), "asset": ASSETS[asset[r]], "weights": held})

    pos, cash = book.pos, book.cash
    safe_month = np.ones(n)  # month_value where the breaker is armed, 1 elsewhere (no division by zero)
    # The closes are gathered BLOCK sessions at a time in (sessions x runs) buffers written row by row, then copied
    # into the (runs x sessions) curves at once: one strided write per block instead of one per session
    block_values, block_held = np.empty((BLOCK, n)), np.empty((BLOCK, n))
    invested = np.zeros(n, dtype=int)
    iwm_value, spy_value, sleeve_value, ratio = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    tripped, flips, events = np.empty(n, dtype=bool), np.empty(n, dtype=bool), np.empty(n, dtype=bool)
    no_flips = np.zeros(n, dtype=bool)

    def flush(stop: int, count: int) -> None:
        """Copy the ``count`` buffered closes ending at session ``stop`` into the curves; count invested sessions."""
        if count:
            values[:, stop - count + 1:stop + 1] = block_values[:count].T
            invested[:] += (block_held[:count] / block_values[:count] >= 0.02).sum(axis=0)

    slot = 0
    for bar in range(first, sessions):
        trade(bar, "open")
        book.broker_step(bar, market, measuring=True)
        close = market.close[bar]
        np.multiply(pos[IWM], close[IWM], out=iwm_value)
        np.multiply(pos[SPY], close[SPY], out=spy_value)
        value = block_values[slot]
        np.add(cash, iwm_value, out=value)
        value += spy_value
        np.multiply(pos[SLEEVE], close[SLEEVE], out=sleeve_value)
        value += sleeve_value
        trade(bar, "close")
        # _watch_close: the breaker, then (daily timing) VIX, acted on at the next fill
        np.divide(value, safe_month, out=ratio)
        ratio -= 1.0
        np.less(ratio, breaker, out=tripped)
        tripped &= armed
        if any_daily:
            np.take(vix_above[bar], level_index, out=above)
            np.not_equal(above, vix_on, out=flips)
            flips &= daily
            np.greater(flips, tripped, out=flips)  # and not tripped
            np.logical_or(tripped, flips, out=events)
        else:
            events = tripped
        if events.any():
            rows = np.flatnonzero(events)
            trip, flip = tripped[rows], (flips[rows] if any_daily else no_flips[:len(rows)])
            before = _risk(vix_on[rows], breaker_on[rows], p, rows)
            breaker_on[rows[trip]] = True
            armed[rows[trip]] = False
            vix_on[rows[flip]] = ~vix_on[rows[flip]]
            after = _risk(vix_on[rows], breaker_on[rows], p, rows)
            changed = ~((before >= 1.0) & (after >= 1.0)) & (before != after)
            pending[rows[trip & changed]] = BREAKER
            pending[rows[flip & changed]] = VIX
            waiting[rows[changed]] = True
            waiting_any[0] = waiting_any[0] or bool(changed.any())
        last_value = value
        # Exposure: the analyzers' |IWM weight| + |SPY weight| is (IWM value + SPY value) / value exactly here, as
        # the rotation holds one of them at most, long; kept per session and compared once per block
        np.add(iwm_value, spy_value, out=block_held[slot])
        switches.record(book, iwm_value, spy_value, value)
        slot += 1
        if slot == BLOCK:
            flush(bar - first + 1, slot)
            slot = 0
    flush(sessions - first, slot)
    return {"values": values, "book": book, "invested": invested, "switches": switches.count(),
            "scheduled": scheduled, "log": logs, "decisions": decisions}


def switch_key(weights: np.ndarray, threshold: float = 0.02, step: float = 0.05) -> np.ndarray:
    """``analyzers.holding_label`` as numbers (runs x 3), equal exactly when the labels are equal: column 0 is the
    kind (0 cash, 1 one asset whole, 2 parts, 3 parts + cash), 1-2 the IWM/SPY part (asset for kind 1)."""
    columns = [weights[:, j] for j in range(weights.shape[1])]  # column by column: numpy's row-wise reductions
    held = [np.abs(c) >= threshold for c in columns]                # over 2 columns are several times slower
    risk = [np.where(h, c, 0.0) for h, c in zip(held, columns)]
    gross, net_long, count, long_only = np.abs(risk[0]), risk[0].copy(), held[0].astype(int), risk[0] >= 0
    for h, r in zip(held[1:], risk[1:]):
        gross += np.abs(r)
        net_long += r
        count += h
        long_only &= r >= 0
    whole = (count == 1) & (gross >= 1.0 - threshold) & long_only
    kind = np.where(count == 0, 0, np.where(whole, 1, np.where(net_long < 1.0 - threshold, 3, 2)))
    key = np.zeros((len(weights), 1 + len(columns)))
    key[:, 0] = kind
    parted, single = kind >= 2, kind == 1
    for j, (c, h) in enumerate(zip(columns, held)):  # parts: inf where not held (a held weight may round to 0)
        key[:, 1 + j] = np.where(parted, np.where(h, np.round(c / step), np.inf), np.where(single, h, 0.0))
    return key


def tally_close(book: Book, market: Market, bar: int, value: np.ndarray, invested: np.ndarray, switches: "Switches") -> None:
    """Exposure (sessions with |IWM| + |SPY| weight >= 2%) and SwitchCount at ``bar``'s close, from the weights
    size x close / value of IWM and SPY, long or short."""
    iwm_value, spy_value = book.pos[IWM] * market.close[bar, IWM], book.pos[SPY] * market.close[bar, SPY]
    invested += np.abs(iwm_value / value) + np.abs(spy_value / value) >= 0.02
    switches.record(book, iwm_value, spy_value, value)


class Switches:
    """SwitchCount for many runs: the held state is judged at the close of each session with fills. The weights
    are kept as they come and turned into states (``switch_key``) and counted ``FOLD`` fill sessions at a time, so
    the arrays stay small whatever the period."""

    FOLD = 64

    def __init__(self, n: int) -> None:
        self.n = n
        self.rows: list[np.ndarray] = []
        self.iwm: list[np.ndarray] = []
        self.spy: list[np.ndarray] = []
        self.last = np.zeros((3, n))  # each run's latest state (switch_key, one row per column); all start in cash
        self.counts = np.zeros(n, dtype=int)

    def record(self, book: Book, iwm_value: np.ndarray, spy_value: np.ndarray, value: np.ndarray) -> None:
        """Keep the IWM/SPY weights of the runs that had fills this session (and forget the fills)."""
        if not book.any_filled:
            return
        book.any_filled = False
        rows = np.flatnonzero(book.filled)
        if len(rows):
            held = value[rows]
            self.rows.append(rows)
            self.iwm.append(iwm_value[rows] / held)
            self.spy.append(spy_value[rows] / held)
            book.filled[rows] = False
            if len(self.rows) == self.FOLD:
                self._fold()

    def _fold(self) -> None:
        """Count the changes of state over the kept fill sessions, in session order, and forget them."""
        if not self.rows:
            return
        keys = switch_key(np.column_stack([np.concatenate(self.iwm), np.concatenate(self.spy)])).T.copy()
        at = 0
        for rows in self.rows:  # column by column: several times faster than comparing rows of 3
            key = keys[:, at:at + len(rows)]
            at += len(rows)
            moved = key[0] != self.last[0, rows]
            for j in (1, 2):
                moved |= key[j] != self.last[j, rows]
            self.counts[rows] += moved
            for j in range(3):
                self.last[j, rows] = key[j]
        self.rows, self.iwm, self.spy = [], [], []

    def count(self) -> np.ndarray:
        """Switches per run: changes of ``switch_key`` from one fill session to the next, starting from cash."""
        self._fold()
        return self.counts
