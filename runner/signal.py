"""The rotation's current signal in the published card's form, as text or JSON."""
from __future__ import annotations

import json

import pandas as pd

from feeds import FeedSet, first_session_of_next_month


def rotation_signal(feeds: FeedSet, params: dict | None = None) -> dict:
    """The card for the last session of ``feeds``: as-of date, allocation, returns, ratio, VIX filter, next rebalance."""
    from strategies.signals.rotation import current_signal

    params = dict(params or {})
    allowed = {"lookback", "vix_level", "vix_scale", "cash_rule", "allocation"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(f"signal: parameter(s) {', '.join(unknown)} do not affect the signal; use {', '.join(sorted(allowed))}")
    closes = pd.DataFrame({"IWM": feeds.bars["IWM"]["close"], "SPY": feeds.bars["SPY"]["close"]}).loc[: feeds.end]
    vix = feeds.bars["VIX"]["close"].loc[: feeds.end]
    signal = current_signal(closes, vix, **params)
    return {
        "as of": str(pd.Timestamp(signal.asof).date()),
        "allocation": {k: round(float(v), 4) for k, v in signal.allocation.items() if v},
        "held": signal.held,
        "lookback [sessions]": params.get("lookback", 63),
        "IWM return [%]": round(100 * signal.iwm_return, 2),
        "SPY return [%]": round(100 * signal.spy_return, 2),
        "relative strength (IWM/SPY return)": None if pd.isna(signal.relative_strength) else round(float(signal.relative_strength), 3),
        "IWM/SPY total-return price ratio": round(float(signal.iwm_spy_price_ratio), 4),
        "VIX": round(float(signal.vix), 2),
        "VIX filter on": bool(signal.vix_filter_on),
        "next rebalance": str(first_session_of_next_month(signal.asof).date()),
        "data sources": dict(feeds.sources),
    }


def format_signal(card: dict, as_json: bool = False) -> str:
    """Text (aligned ``key: value`` lines) or JSON."""
    if as_json:
        return json.dumps(card, indent=2)
    width = max(len(k) for k in card)
    lines = ["IWM/SPY relative-strength rotation: current signal"]
    for key, value in card.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v:.0%}" if isinstance(v, float) else f"{k}: {v}" for k, v in value.items())
        lines.append(f"  {key.ljust(width)}  {value}")
    return "\n".join(lines)
