"""Each strategy's current signal: what it holds as of the last session of the data and what comes next.

A card is a dict of ``label: value`` (units in the labels), printed as aligned text or JSON:
- every card: the strategy, the as-of session, what the backtest holds at that close, its last decision record
  (``decisions``), the fields the strategy adds (its ``card_fields`` hook), the data sources;
- any other strategy (a user's): the next decision session (its ``next_decision`` hook; "not declared" without);
- ``rotation``: the published card (both trailing returns, VIX filter, the allocation for the next rebalance);
- the ratio strategies: the ratio (or z-score), the zone it is in, the levels, whether a trade is on, what the
  next open will do (the as-of close is already known) and what the following close would trigger;
- the fixed-weight benchmarks: their weights and the next rebalance.
The next rebalance and the next session come from the NYSE calendar.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pandas as pd

from engines.engine import RunResult, RunSettings, merged_params, resolve, run_one
from feeds import CASH_FEED, DataError, FeedSet, first_session_of_next_month, load_prices, next_session, nyse_sessions
from feeds.cerebro import SIGNAL_ONLY, TRADED
from feeds.calendar import as_date
from signals import ratio as ratio_sig
from strategies import Entry
from strategies.benchmarks import FixedWeights
from strategies.ratio import RatioMeanReversion, RollingRatioMeanReversion
from strategies.rotation import RelativeStrengthRotation

DATA_SYMBOLS = TRADED + SIGNAL_ONLY
CASH_SYMBOLS = ("SGOV", "BIL")  # the cash sleeve: SGOV, or BIL for data that has no SGOV file


def data_span(source: str, cache_dir=None, accept_bars=(), symbols=DATA_SYMBOLS) -> tuple[pd.Timestamp, pd.Timestamp, str]:
    """(first, last, note): the first and last sessions all feeds the signal reads share (the latest first row of
    ``symbols``, the earliest last row of ``symbols`` and the cash sleeve), and a note naming the file that ends
    first when they do not all end together ("" when they do). ``symbols``: IWM, SPY, and VIX when a strategy
    reads it.

    Bundled data: its last bar; ``csv:DIR``: the last session every file has; yahoo: the last complete NYSE session
    (``feeds.yahoo`` never loads today's bar), or the cache's last row when Yahoo cannot be reached."""
    signals = tuple(s for s in symbols if s in SIGNAL_ONLY)
    prices = load_prices(list(symbols), None, None, source=source, cache_dir=cache_dir, accept_bars=accept_bars, signal_only=signals)
    first = max(frame.index[0] for frame in prices.frames.values())
    lasts = {s: (frame.index[-1], prices.sources[s]) for s, frame in prices.frames.items()}
    for symbol in CASH_SYMBOLS:
        try:
            cash = load_prices([symbol], None, None, source=source, cache_dir=cache_dir, accept_bars=accept_bars, signal_only=())
        except DataError:
            if symbol == CASH_SYMBOLS[-1]:
                raise
            continue
        lasts[symbol] = (cash.frames[symbol].index[-1], cash.sources[symbol])
        break
    last = min(day for day, _ in lasts.values())
    if all(day == last for day, _ in lasts.values()):
        return first, last, ""
    ends_first = [f"{s} ({where})" for s, (day, where) in lasts.items() if day == last]
    later = ", ".join(f"{s} {day.date()}" for s, (day, _) in lasts.items() if day > last)
    return first, last, (f"as of {last.date()}, the last session every file has: {' and '.join(ends_first)} "
                         f"{'ends' if len(ends_first) == 1 else 'end'} first (the others end later: {later})")


def signal_dates(start: str, source: str, cache_dir=None, as_of: str | None = None, accept_bars=(), *,
                 history: int = 0, symbols=DATA_SYMBOLS) -> tuple[str, str, str]:
    """(start, end, note) of the data a signal needs: up to ``as_of`` (default: the data's last shared session), from
    ``start`` or a year before the as-of date, whichever is earlier, but not before the first session with
    ``history`` sessions of data before it; the note names the file that ends first when the as-of date is its last
    row (``data_span``). ``symbols``: the feeds read. DataError for an as-of date the data cannot serve, quoting only
    that date and dates the data hold."""
    data_first, last, note = data_span(source, cache_dir, accept_bars, symbols)
    end = last if as_of is None else as_date(as_of, "--as-of")
    if end > last:
        raise DataError(f"--as-of {end.date()} is after the last session the data hold ({last.date()}, source {source})"
                        + (f"; {note}" if note else ""))
    sessions = nyse_sessions(data_first, last)
    earliest = sessions[history] if history < len(sessions) else None
    if earliest is None or end < earliest:
        named = f"{end.date()}" if as_of is not None else f"{end.date()} (the data's last session)"
        after = (f"the earliest is {earliest.date()}" if earliest is not None else
                 f"the earliest is {history} sessions after {data_first.date()}")
        raise DataError(f"--as-of {named} is too early: the signal needs {history} sessions of data before it and "
                        f"{', '.join(symbols)} are all there from {data_first.date()} (source {source}); {after}")
    first = max(min(as_date(start, "start"), end - pd.DateOffset(years=1)), earliest)
    return str(first.date()), str(end.date()), note if as_of is None else ""


def _percent(weights: pd.Series) -> dict[str, str]:
    """Non-zero weights as {"IWM": "100%", "SPY": "-50%"}."""
    return {name: f"{100 * w:.0f}%" for name, w in weights.items() if abs(w) >= 0.005}


def _common(entry: Entry, result: RunResult, feeds: FeedSet) -> dict:
    held = result.weights.iloc[-1] if len(result.weights) else pd.Series(dtype=float)
    return {
        "strategy": entry.name,
        "as of": str(feeds.end.date()),
        "holding at the close [% of value]": _percent(held.drop(labels=list(feeds.signal_only), errors="ignore")),
        "last decision": _record_text(result.decisions),
    }


def _record_text(decisions: pd.DataFrame) -> str:
    """The last row of ``decisions`` as "date 2024-12-02, close 590.1, ..., weights SPY 100%" ("none recorded")."""
    if not len(decisions):
        return "none recorded"
    parts = []
    for key, value in decisions.iloc[-1].items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {100 * v:.0f}%" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in value.items()) or "none"
        elif isinstance(value, (bool, np.bool_)):
            value = "yes" if value else "no"
        elif isinstance(value, (float, np.floating)):
            value = "n/a" if math.isnan(value) else f"{value:.6g}"
        elif value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        parts.append(f"{key} {value}")
    return ", ".join(parts)


def strategy_card(entry: Entry, params: dict, feeds: FeedSet, result: RunResult) -> dict:
    """Any strategy: the common card and its next decision session (``next_decision``; "not declared" without)."""
    declare = getattr(entry.cls, "next_decision", None)
    upcoming = declare(params, feeds.end) if declare is not None else None
    when = (str(pd.Timestamp(upcoming).date()) if upcoming is not None else
            f"not declared (it may act at any session; the next is {next_session(feeds.end).date()})")
    return {**_common(entry, result, feeds), "next decision session": when}


def rotation_card(entry: Entry, params: dict, feeds: FeedSet, result: RunResult) -> dict:
    """The published card: returns, relative strength, VIX filter and the allocation for the next rebalance."""
    from signals.rotation import current_signal

    p = entry.cls.param_values(params)
    closes = pd.DataFrame({"IWM": feeds.bars["IWM"]["close"], "SPY": feeds.bars["SPY"]["close"]}).loc[: feeds.end]
    vix = feeds.bars["VIX"]["close"].loc[: feeds.end]
    signal = current_signal(closes, vix, lookback=p["lookback"], vix_level=p["vix_level"], vix_scale=p["vix_scale"],
                            cash_rule=p["cash_rule"], allocation=p["allocation"])
    return {
        **_common(entry, result, feeds),
        "asset at the next rebalance": signal.held,
        "allocation at the next rebalance": {k: round(float(v), 4) for k, v in signal.allocation.items() if v},
        "lookback [sessions]": p["lookback"],
        "IWM return [%]": round(100 * signal.iwm_return, 2),
        "SPY return [%]": round(100 * signal.spy_return, 2),
        "relative strength (IWM/SPY return)": None if pd.isna(signal.relative_strength) else round(float(signal.relative_strength), 3),
        "IWM/SPY total-return price ratio": round(float(signal.iwm_spy_price_ratio), 4),
        "VIX": round(float(signal.vix), 2),
        "VIX filter on": bool(signal.vix_filter_on),
        "next rebalance": str(first_session_of_next_month(signal.asof).date()),
    }


def _ratio_series(feeds: FeedSet, price: str) -> pd.Series:
    column = "raw_close" if price == "raw" else "close"
    return (feeds.bars["SPY"][column] / feeds.bars["IWM"][column]).loc[: feeds.end]


def _holding_text(p: dict, in_trade: bool) -> str:
    if p["mode"] == "rotation":
        return "IWM" if in_trade else "SPY"
    if in_trade:
        return f"long IWM {p['pair_size']:.0%} / short SPY {p['pair_size']:.0%} of value, equity in {CASH_FEED}"
    return f"cash ({CASH_FEED})"


def ratio_card(entry: Entry, params: dict, feeds: FeedSet, result: RunResult) -> dict:
    """Ratio (or z-score) at the as-of close, its zone and levels, the trade state, the next open and close."""
    p = entry.cls.param_values(params)
    ratios = _ratio_series(feeds, p["price"])
    ratio_now = float(ratios.iloc[-1])
    last = result.decisions.iloc[-1] if len(result.decisions) else None
    state = ratio_sig.TradeState(bool(last["in_trade"]), bool(last["armed"])) if last is not None else ratio_sig.TradeState()
    basis = "raw closes" if p["price"] == "raw" else "total-return closes"
    card = _common(entry, result, feeds)
    card[f"SPY/IWM ratio ({basis})"] = round(ratio_now, 4)
    if issubclass(entry.cls, RollingRatioMeanReversion):
        window = np.log(ratios.iloc[-p["lookback"]:].to_numpy())
        value = ratio_sig.zscore_last(window) if len(window) == p["lookback"] else float("nan")
        mean, sd = float(np.mean(window)), float(np.std(window))

        def level(z: float) -> str:  # the ratio a z-score stands for, on today's window
            return f"z {z:g} (ratio ~{math.exp(mean + z * sd):.4f})"

        card[f"z-score of log(SPY/IWM) over {p['lookback']} sessions"] = round(value, 3)
        stop = p["stop_z"]
        zone = ("above the stop" if stop is not None and value >= stop else "at or above entry" if value >= p["entry_z"]
                else "at or below exit" if value <= p["exit_z"] else "between exit and entry")
        card["zone"] = zone
        card["levels"] = f"entry {level(p['entry_z'])}, exit {level(p['exit_z'])}, stop " + (level(stop) if stop is not None else "none")
        after, event = ratio_sig.step_zscore(state, value, p["entry_z"], p["exit_z"], stop)
        if after.in_trade:
            watch = f"exit at z <= {p['exit_z']:g}" + (f", stop at z >= {stop:g}" if stop is not None else "")
        elif after.armed:
            watch = f"entry at z >= {p['entry_z']:g}" + (f" (below the stop {stop:g})" if stop is not None else "")
        else:
            watch = f"nothing until z closes below {p['entry_z']:g} (re-arm after a stop)"
    else:
        levels = ratio_sig.Levels(p["target"], p["zone_low"], p["zone_high"], p["stop"])
        value = ratio_now
        zone = ("above the stop" if value > levels.stop else "in the entry zone" if levels.zone_low <= value <= levels.zone_high
                else "between target and entry zone" if levels.target < value < levels.zone_low else "at or below the target")
        card["zone"] = zone
        card["levels"] = (f"entry zone {levels.zone_low:g}..{levels.zone_high:g}, target <= {levels.target:g}, "
                          f"stop > {levels.stop:g}")
        after, event = ratio_sig.step_levels(state, value, levels, p["rearm"])
        if after.in_trade:
            watch = f"target at ratio <= {levels.target:g}, stop at ratio > {levels.stop:g}"
        elif after.armed:
            watch = f"entry at ratio {levels.zone_low:g}..{levels.zone_high:g}"
        else:
            rearm = {"below_zone_top": f"ratio < {levels.zone_high:g}", "below_target": f"ratio <= {levels.target:g}"}[p["rearm"]]
            watch = f"nothing until {rearm} (re-arm after a stop), then entry at {levels.zone_low:g}..{levels.zone_high:g}"
    upcoming = next_session(feeds.end)
    card["trade on"] = state.in_trade
    card["position of the rule"] = _holding_text(p, state.in_trade)
    card["next session"] = str(upcoming.date())
    card["at the next open"] = (f"{event}: move to {_holding_text(p, after.in_trade)}" if event else "no trade")
    card["the next close would trigger"] = watch
    return card


def fixed_weights_card(entry: Entry, params: dict, feeds: FeedSet, result: RunResult) -> dict:
    """Fixed weights: the target weights and the next rebalance (none for buy and hold)."""
    p = entry.cls.param_values(params)
    monthly = p["rebalance"] == "monthly"
    return {
        **_common(entry, result, feeds),
        "target weights [% of value]": _percent(pd.Series(p["weights"], dtype=float)),
        "rebalance": p["rebalance"],
        "next rebalance": str(first_session_of_next_month(feeds.end).date()) if monthly else "none (bought once, held)",
    }


CARDS: dict[type, Callable[[Entry, dict, FeedSet, RunResult], dict]] = {
    RelativeStrengthRotation: rotation_card,
    RatioMeanReversion: ratio_card,
    RollingRatioMeanReversion: ratio_card,
    FixedWeights: fixed_weights_card,
}


def signal_card(name: str, feeds: FeedSet, settings: RunSettings, params: dict | None = None) -> dict:
    """The card of the registered run ``name`` as of the last session of ``feeds`` (the backtest run through it).

    The built-in strategy classes have their own cards (``CARDS``), every other one ``strategy_card``; a strategy's
    ``card_fields(params, decisions, bars)`` adds its own lines."""
    entry = resolve(name)
    card = CARDS.get(entry.cls, strategy_card)
    full = merged_params(entry, params)
    result = run_one(entry, feeds, settings, full)
    extra = getattr(entry.cls, "card_fields", None)
    fields = extra(full, result.decisions, {n: b.loc[:feeds.end] for n, b in feeds.bars.items()}) if extra else {}
    return {**card(entry, full, feeds, result), **fields, "data sources": dict(feeds.sources)}


def format_signal(cards: dict[str, dict], as_json: bool = False) -> str:
    """Text (one block of aligned ``label  value`` lines per card) or JSON (``{name: card}``)."""
    if as_json:
        return json.dumps(cards, indent=2, default=str)
    blocks = []
    for name, card in cards.items():
        width = max(len(k) for k in card)
        lines = [f"{name}: current signal"]
        for key, value in card.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v:.0%}" if isinstance(v, float) else f"{k}: {v}" for k, v in value.items())
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            lines.append(f"  {key.ljust(width)}  {value}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
