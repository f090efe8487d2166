"""SPY/IWM price-ratio mean reversion: the newsletter's fixed levels and a rolling z-score variant, as pure functions.

The newsletter: overweight small caps (IWM) while SPY/IWM is in the entry zone [2.13, 2.35] (IWM cheap against
SPY), take profit when the ratio falls to the target 1.95 or below, stop out when it rises above 2.35.
Both rules are state machines stepped once per session on the ratio at that session's close.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

REARM_RULES = ("below_zone_top", "below_target", "immediate")


@dataclass(frozen=True)
class Levels:
    """The fixed levels: target < zone_low < zone_high <= stop."""

    target: float = 1.95
    zone_low: float = 2.13
    zone_high: float = 2.35
    stop: float = 2.35

    def __post_init__(self) -> None:
        for name in ("target", "zone_low", "zone_high", "stop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"level {name} must be a positive number, not {value!r}")
        if not self.target < self.zone_low < self.zone_high <= self.stop:
            raise ValueError(
                f"levels must satisfy target < zone_low < zone_high <= stop, got target={self.target}, "
                f"zone_low={self.zone_low}, zone_high={self.zone_high}, stop={self.stop}"
            )


@dataclass(frozen=True)
class TradeState:
    """Flat or in the trade; ``armed`` False after a stop until the re-arm rule allows a new entry."""

    in_trade: bool = False
    armed: bool = True


def price_ratio(spy: pd.Series, iwm: pd.Series) -> pd.Series:
    """SPY / IWM."""
    return spy / iwm


def step_levels(state: TradeState, ratio: float, levels: Levels, rearm: str = "below_zone_top") -> tuple[TradeState, str | None]:
    """One session of the fixed-level rule. Returns the new state and the event: "entry", "target", "stop" or None.

    In the trade: ratio > stop -> "stop"; ratio <= target -> "target". Flat and armed: ratio inside
    [zone_low, zone_high] -> "entry". After a stop the rule re-arms when the ratio is back below zone_high
    ("below_zone_top"), at or below the target ("below_target"), or at once ("immediate"); an entry may follow on
    the same session.
    """
    if math.isnan(ratio):
        return state, None
    if state.in_trade:
        if ratio > levels.stop:
            return TradeState(in_trade=False, armed=rearm == "immediate"), "stop"
        if ratio <= levels.target:
            return TradeState(in_trade=False, armed=True), "target"
        return state, None
    armed = state.armed or (rearm == "below_zone_top" and ratio < levels.zone_high) or (
        rearm == "below_target" and ratio <= levels.target
    )
    if armed and levels.zone_low <= ratio <= levels.zone_high:
        return TradeState(in_trade=True, armed=True), "entry"
    return replace(state, armed=armed), None


def step_zscore(state: TradeState, z: float, entry_z: float, exit_z: float = 0.0, stop_z: float | None = None) -> tuple[TradeState, str | None]:
    """One session of the rolling rule on the z-score of log(SPY/IWM): "entry" at z >= entry_z (SPY rich against
    IWM), "exit" at z <= exit_z (back to the mean), "stop" at z >= stop_z. After a stop, re-armed once z < entry_z."""
    if math.isnan(z):
        return state, None
    if state.in_trade:
        if stop_z is not None and z >= stop_z:
            return TradeState(in_trade=False, armed=False), "stop"
        if z <= exit_z:
            return TradeState(in_trade=False, armed=True), "exit"
        return state, None
    armed = state.armed or z < entry_z
    if armed and z >= entry_z and (stop_z is None or z < stop_z):
        return TradeState(in_trade=True, armed=True), "entry"
    return replace(state, armed=armed), None


def zscore_last(window: np.ndarray) -> float:
    """z-score of the last value of ``window`` (log ratios) against the whole window (population std)."""
    sd = float(np.std(window))
    return float((window[-1] - np.mean(window)) / sd) if len(window) > 1 and sd > 0 else float("nan")


def trailing_zscores(logs: np.ndarray, lookback: int) -> np.ndarray:
    """``zscore_last`` of every window of ``lookback`` values ending at each index of ``logs`` (NaN before the first
    full window), vectorised: bitwise the same floats as calling ``zscore_last`` window by window (numpy reduces
    each contiguous row of the windows the way it reduces the window alone)."""
    logs = np.asarray(logs, dtype="float64")
    out = np.full(len(logs), np.nan)
    if lookback < 2 or len(logs) < lookback:
        return out
    windows = sliding_window_view(logs, lookback)
    rows = max(1, 2**18 // lookback)  # blocks of about 2 MB, whatever the lookback
    for first in range(0, len(windows), rows):
        block = np.ascontiguousarray(windows[first:first + rows])
        sd = np.std(block, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (block[:, -1] - np.mean(block, axis=1)) / sd
        z[~(sd > 0)] = np.nan
        out[lookback - 1 + first:lookback - 1 + first + len(block)] = z
    return out


def zscores_to_previous_close(spy: np.ndarray, iwm: np.ndarray, lookback: int) -> np.ndarray:
    """For every bar, the z-score of log(SPY/IWM) over the ``lookback`` closes up to the previous close (NaN without
    enough history): bar ``i`` gets ``zscore_last(np.log(spy[i - lookback:i] / iwm[i - lookback:i]))``, exactly.
    Each value reads only earlier closes, so the whole array can be computed before a backtest without lookahead."""
    spy, iwm = np.asarray(spy, dtype="float64"), np.asarray(iwm, dtype="float64")
    if spy.shape != iwm.shape:
        raise ValueError(f"SPY and IWM closes must have the same length, got {len(spy)} and {len(iwm)}")
    out = np.full(len(spy), np.nan)
    out[1:] = trailing_zscores(np.log(spy / iwm), lookback)[:-1]
    return out


def rolling_zscore(ratio: pd.Series, lookback: int) -> pd.Series:
    """z-score of log(ratio) over a trailing window of ``lookback`` sessions (population std)."""
    logs = np.log(ratio)
    mean = logs.rolling(lookback).mean()
    sd = logs.rolling(lookback).std(ddof=0)
    return (logs - mean) / sd


def run_rule(values: pd.Series, step) -> tuple[pd.Series, list[tuple]]:
    """Step a rule (``step(state, value) -> (state, event)``) over ``values``.

    Returns the position after each session (1 in the trade, 0 flat) and the trades as
    (entry session, exit session or None, reason or "end"), dated on the sessions whose close made the signal.
    """
    state, position, trades, open_at = TradeState(), [], [], None
    for date, value in values.items():
        state, event = step(state, value)
        if event == "entry":
            open_at = date
        elif event is not None:
            trades.append((open_at, date, event))
            open_at = None
        position.append(1 if state.in_trade else 0)
    if open_at is not None:
        trades.append((open_at, None, "end"))
    return pd.Series(position, index=values.index), trades
