"""The IWM/SPY relative-strength rotation's signal maths, as pure functions (no Backtrader).

Card rules: hold whichever of IWM and SPY has the higher trailing 63-session total return; when both are
negative hold cash (the SGOV sleeve); VIX above 30 halves the position; a month's drawdown beyond 10% moves half
of the position to cash until the next rebalance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

CASH = "cash"
CASH_FEED = "SGOV"
RISK_ASSETS = ("IWM", "SPY")


def trailing_return(prices: pd.Series, lookback: int) -> pd.Series:
    """Total return over ``lookback`` sessions: p[t] / p[t - lookback] - 1 (NaN for the first ``lookback`` rows)."""
    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1:
        raise ValueError(f"lookback must be a whole number >= 1, not {lookback!r}")
    return prices / prices.shift(lookback) - 1.0


def choose_asset(iwm_return: float, spy_return: float, cash_rule: bool = True) -> str:
    """"IWM" when its return is higher, "SPY" when SPY's is higher or equal, "cash" when both are negative
    (with ``cash_rule``). A missing (NaN) return means not enough history: "cash"."""
    if math.isnan(iwm_return) or math.isnan(spy_return):
        return CASH
    if cash_rule and iwm_return < 0 and spy_return < 0:
        return CASH
    return "IWM" if iwm_return > spy_return else "SPY"


def relative_strength(iwm_return: float, spy_return: float, eps: float = 1e-6) -> float:
    """IWM return / SPY return; NaN when |SPY return| < ``eps`` (the ratio would explode or flip sign)."""
    if math.isnan(iwm_return) or math.isnan(spy_return) or abs(spy_return) < eps:
        return float("nan")
    return iwm_return / spy_return


def vix_filter_on(vix: float, vix_level: float | None) -> bool:
    """True when the VIX filter is enabled (``vix_level`` not None) and VIX is above the level."""
    return vix_level is not None and not math.isnan(vix) and vix > vix_level


def breaker_tripped(month_start_value: float, value: float, drawdown: float | None) -> bool:
    """True when the portfolio has fallen more than ``drawdown`` (a fraction) since the month's start."""
    return drawdown is not None and month_start_value > 0 and value / month_start_value - 1.0 < -drawdown


def risk_scale(vix_on: bool, breaker_on: bool, vix_scale: float = 0.5, breaker_scale: float = 0.5) -> float:
    """The share of the chosen position kept: x ``vix_scale`` when the VIX filter is on, x ``breaker_scale``
    when the breaker has tripped (both: the product)."""
    return (vix_scale if vix_on else 1.0) * (breaker_scale if breaker_on else 1.0)


def target_weights(asset: str, scale: float = 1.0, allocation: float = 1.0, cash_feed: str = CASH_FEED) -> dict[str, float]:
    """Feed weights: ``asset`` at ``allocation x scale``, the rest in the cash sleeve ``cash_feed``."""
    if asset == CASH:
        return {cash_feed: 1.0}
    risk = allocation * scale
    return {asset: risk, cash_feed: 1.0 - risk} if risk < 1.0 else {asset: 1.0}


def decide(
    iwm_return: float,
    spy_return: float,
    vix: float,
    *,
    vix_level: float | None = 30.0,
    vix_scale: float = 0.5,
    cash_rule: bool = True,
    allocation: float = 1.0,
    breaker_on: bool = False,
    breaker_scale: float = 0.5,
) -> tuple[str, dict[str, float]]:
    """The chosen asset and the target feed weights for one decision."""
    asset = choose_asset(iwm_return, spy_return, cash_rule)
    scale = risk_scale(vix_filter_on(vix, vix_level), breaker_on, vix_scale, breaker_scale)
    return asset, target_weights(asset, scale, allocation)


def held_label(weights: dict[str, float]) -> str:
    """A short name for target weights: "IWM", "SPY 50% + cash", "cash"."""
    risk = {k: v for k, v in weights.items() if k != CASH_FEED and v > 0}
    if not risk:
        return CASH
    name, weight = next(iter(risk.items()))
    return name if weight >= 1.0 else f"{name} {weight:.0%} + cash"


@dataclass(frozen=True)
class RotationSignal:
    """The published card's fields for one as-of date."""

    asof: pd.Timestamp
    allocation: dict
    held: str
    iwm_return: float
    spy_return: float
    relative_strength: float
    iwm_spy_price_ratio: float
    vix: float
    vix_filter_on: bool
    breaker_on: bool = False


def current_signal(
    adj_close: pd.DataFrame,
    vix: pd.Series,
    asof=None,
    *,
    lookback: int = 63,
    vix_level: float | None = 30.0,
    vix_scale: float = 0.5,
    cash_rule: bool = True,
    allocation: float = 1.0,
) -> RotationSignal:
    """The allocation for the next rebalance from total-return closes (columns IWM, SPY) and VIX up to ``asof``."""
    missing = [c for c in RISK_ASSETS if c not in adj_close.columns]
    if missing:
        raise ValueError(f"current_signal: adj_close has no column {', '.join(missing)}")
    closes = adj_close.loc[:asof] if asof is not None else adj_close
    if len(closes) <= lookback:
        raise ValueError(f"current_signal: {len(closes)} closes up to {asof}, need more than lookback={lookback}")
    returns = {c: float(trailing_return(closes[c], lookback).iloc[-1]) for c in RISK_ASSETS}
    when = closes.index[-1]
    vix_now = float(vix.loc[:when].iloc[-1])
    _, weights = decide(returns["IWM"], returns["SPY"], vix_now, vix_level=vix_level, vix_scale=vix_scale,
                        cash_rule=cash_rule, allocation=allocation)
    return RotationSignal(
        asof=when,
        allocation=weights,
        held=held_label(weights),
        iwm_return=returns["IWM"],
        spy_return=returns["SPY"],
        relative_strength=relative_strength(returns["IWM"], returns["SPY"]),
        iwm_spy_price_ratio=float(closes["IWM"].iloc[-1] / closes["SPY"].iloc[-1]),
        vix=vix_now,
        vix_filter_on=vix_filter_on(vix_now, vix_level),
    )
