"""Target-weight strategies (``strategies.weights.TargetWeights``, e.g. the README's trend filter) for many
combinations at once.

The strategy's own rule (``target_weights``) is called per combination at each decision session with an
``ArrayKnown`` over the market's closes (the same closes, the same history guard and the same weight checks as on
Backtrader); the weights of all combinations are then traded together with ``Book`` at that session's open.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from strategies.weights import ArrayKnown, decide, record

from .book import TRADED, Book, Market, curves, named_weights
from .rotation import Switches, tally_close


def known_columns(market: Market) -> dict[tuple[str, str], np.ndarray]:
    """Each feed's adjusted and raw closes as contiguous 1-D arrays, keyed (feed, price)."""
    columns = {}
    for j, name in enumerate(TRADED):
        columns[(name, "adjusted")] = np.ascontiguousarray(market.close[:, j])
        columns[(name, "raw")] = np.ascontiguousarray(market.raw_close[:, j])
    if not np.isnan(market.vix).all():  # a run whose strategies read no VIX has none (Market fills it with NaN)
        columns[("VIX", "adjusted")] = columns[("VIX", "raw")] = np.ascontiguousarray(market.vix)  # no dividends
    return columns


def targets(cls: type, combos: list[dict], market: Market, bars: np.ndarray, *, keep: bool = False):
    """The weights (decisions x runs x traded feeds) of every combination at each decision session ``bars``, and,
    with ``keep``, each run's decision records."""
    out = np.zeros((len(bars), len(combos), len(TRADED)))
    records = [[] for _ in combos] if keep else None
    known = ArrayKnown(known_columns(market), market.dates, cls.__name__, cls.missing_history_ok)
    for r, combo in enumerate(combos):
        rule = object.__new__(cls)  # no Backtrader set-up: the rule reads only ``self.p`` and ``known``
        rule.p = rule.params = SimpleNamespace(**combo)
        for k, bar in enumerate(bars):
            weights = decide(rule, known.at(int(bar)))
            out[k, r] = [weights.get(name, 0.0) for name in TRADED]
            if keep:
                records[r].append(record(known, weights))
    return out, records


def simulate(market: Market, combos: list[dict], settings, cls: type, *, record: bool = False) -> dict:
    """Run the target-weight strategy ``cls`` for every (fully specified) combination. Returns the same keys as
    ``rotation.simulate``; ``decisions`` per run as the strategy records them (date, noted fields, weights)."""
    n, first, sessions = len(combos), market.first, market.sessions
    bars = cls.decision_sessions(market.month_start, first)
    weights, decisions = targets(cls, combos, market, bars, keep=record)
    decision_of = np.full(sessions, -1)
    decision_of[bars] = np.arange(len(bars))
    book = Book.for_combos(combos, settings, record=record)
    values = curves(n, sessions - first, settings.cash)  # see figures()
    invested = np.zeros(n)
    switches = Switches(n)
    scheduled = np.zeros(n, dtype=int)
    logs = [[] for _ in range(n)] if record else None
    rows = np.arange(n)
    for bar in range(first, sessions):
        k = decision_of[bar]
        if k >= 0:
            scheduled += 1
            if record:
                for r in range(n):
                    logs[r].append((market.dates[bar], "scheduled", named_weights(weights[k, r])))
            book.rebalance(rows, weights[k], bar, market, at="open", measuring=True)
        book.broker_step(bar, market, measuring=True)
        value = book.value(bar, market)
        values[:, bar - first + 1] = value
        tally_close(book, market, bar, value, invested, switches)
    return {"values": values, "book": book, "invested": invested, "switches": switches.count(), "scheduled": scheduled,
            "log": logs, "decisions": decisions}
