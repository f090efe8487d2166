"""The SPY/IWM ratio strategies (``strategies.ratio``: fixed levels and rolling z-score, rotation and pair) for many
combinations at once.

The rule is stepped with the strategy's own pure functions (``signals.ratio.step_levels`` /
``step_zscore``) on the same inputs (the ratio or the z-score of log ratios at the previous close, from
``zscores_to_previous_close``: bitwise ``zscore_last`` bar by bar), once per distinct set of signal parameters; the
holdings are then traded for all combinations together with ``Book`` at each session's open. ``short_cost`` is charged
at each close on the short's value.
"""
from __future__ import annotations

import numpy as np

from signals import ratio as sig

from .book import IWM, SLEEVE, SPY, Book, Market, curves, named_weights, require_history
from .rotation import Switches, tally_close

EVENTS = ("", "entry", "target", "exit", "stop")
SIGNAL_KEYS = {"levels": ("price", "zone_low", "zone_high", "target", "stop", "rearm"),
               "zscore": ("price", "lookback", "entry_z", "exit_z", "stop_z")}


def signal_series(market: Market, price: str, lookback: int | None) -> np.ndarray:
    """The rule's input per bar, read at the previous close: SPY/IWM (``lookback`` None) or the z-score of the log
    ratio over ``lookback`` closes (NaN without enough history), as the strategy reads it from its feeds."""
    closes = market.raw_close if price == "raw" else market.close
    out = np.full(market.sessions, np.nan)
    if lookback is None:
        out[1:] = closes[:-1, SPY] / closes[:-1, IWM]
    else:
        out = sig.zscores_to_previous_close(closes[:, SPY], closes[:, IWM], lookback)
    out[:market.first] = np.nan
    return out


def run_events(kind: str, params: dict, values: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Event code (index in EVENTS) and in-trade flag per bar, stepping the pure rule from bar ``start``."""
    if kind == "levels":
        levels = sig.Levels(params["target"], params["zone_low"], params["zone_high"], params["stop"])

        def step(state, value):
            return sig.step_levels(state, value, levels, params["rearm"])
    else:
        def step(state, value):
            return sig.step_zscore(state, value, params["entry_z"], params["exit_z"], params["stop_z"])
    events = np.zeros(len(values), dtype=np.int8)
    in_trade = np.zeros(len(values), dtype=bool)
    state = sig.TradeState()
    for bar in range(start, len(values)):
        state, event = step(state, float(values[bar]))
        if event is not None:
            events[bar] = EVENTS.index(event)
        in_trade[bar] = state.in_trade
    return events, in_trade


def simulate(market: Market, combos: list[dict], settings, kind: str, *, record: bool = False) -> dict:
    """Run a ratio strategy (``kind`` "levels" or "zscore") for every (fully specified) combination. Returns the
    same keys as ``rotation.simulate``; ``decisions`` per run list (date, event, in_trade) on event sessions."""
    n, first, sessions = len(combos), market.first, market.sessions
    # the strategy's minimum period: the z-score indicator needs `lookback` bars; the fixed ratio one bar
    active_from = np.array([int(c["lookback"]) - 1 if kind == "zscore" else 0 for c in combos])
    require_history(market, active_from, combos, "ratio " + kind)
    start = np.maximum(active_from, first)
    series: dict[tuple, np.ndarray] = {}
    rules: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    events = np.zeros((sessions, n), dtype=np.int8)
    in_trade = np.zeros((sessions, n), dtype=bool)
    for r, combo in enumerate(combos):
        key = tuple(combo[k] for k in SIGNAL_KEYS[kind])
        if key not in rules:
            source = (combo["price"], int(combo["lookback"]) if kind == "zscore" else None)
            if source not in series:
                series[source] = signal_series(market, *source)
            rules[key] = run_events(kind, combo, series[source], int(start[r]))
        events[:, r], in_trade[:, r] = rules[key]
    pair = np.array([c["mode"] == "pair" for c in combos])
    size = np.array([float(c["pair_size"]) for c in combos])
    cost = np.array([float(c["short_cost"]) for c in combos])
    book = Book.for_combos(combos, settings, record=record)
    values = curves(n, sessions - first, settings.cash)  # see figures()
    invested = np.zeros(n)
    switches = Switches(n)
    scheduled = np.zeros(n, dtype=int)
    logs = [[] for _ in range(n)] if record else None
    decisions = [[] for _ in range(n)] if record else None
    charged = cost > 0
    for bar in range(first, sessions):
        code = events[bar]
        opening = (code == 0) & (bar == start)
        rows = np.flatnonzero((code != 0) | opening)
        if len(rows):
            held = in_trade[bar, rows]
            weights = np.zeros((len(rows), 3))
            rot, pr = ~pair[rows], pair[rows]
            weights[rot & held, IWM] = 1.0
            weights[rot & ~held, SPY] = 1.0
            weights[pr & held, IWM] = size[rows][pr & held]
            weights[pr & held, SPY] = -size[rows][pr & held]
            weights[pr, SLEEVE] = 1.0
            scheduled[rows[opening[rows]]] += 1
            if record:
                for k, r in enumerate(rows):
                    reason = "scheduled" if opening[r] else EVENTS[code[r]]
                    logs[r].append((market.dates[bar], reason, named_weights(weights[k])))
            book.rebalance(rows, weights, bar, market, at="open", measuring=True)
        if record:
            for r in np.flatnonzero((code != 0) & (bar >= start)):
                decisions[r].append({"date": market.dates[bar].date(), "event": EVENTS[code[r]], "in_trade": bool(in_trade[bar, r])})
        book.broker_step(bar, market, measuring=True)
        value = book.value(bar, market)
        short = book.pos[SPY]
        owe = np.flatnonzero((short < 0) & charged & (bar >= active_from))
        if len(owe):
            book.add_cash(owe, short[owe] * market.close[bar, SPY] * cost[owe] / 252.0)
        values[:, bar - first + 1] = value
        tally_close(book, market, bar, value, invested, switches)
    return {"values": values, "book": book, "invested": invested, "switches": switches.count(), "scheduled": scheduled,
            "log": logs, "decisions": decisions}

