"""Random combinations of the built-in strategies run on both engines, and how far apart their results are.

Used by ``tests/test_fast_engine.py`` (which adds stricter checks) and ``benchmarks/fast_engine.py`` (50
combinations, the largest difference of each figure)::

    table = compare_engines(draw(random.Random(14), 50), feeds, RunSettings(), jobs=2)
"""
from __future__ import annotations

import random

import pandas as pd

from ..engine import RunItem, RunSettings, resolve, run_item
from ..executors import run_tasks
from . import full_params, kind_of, simulate

FIGURES = ("CAGR [%]", "Max drawdown [%]", "Sharpe", "Monthly win rate [%]")
BOUNDS = {"CAGR [%]": 0.01, "Max drawdown [%]": 0.05, "Sharpe": 0.01, "Monthly win rate [%]": None}  # None: one month


def rotation_combo(rng: random.Random) -> dict:
    """A rotation combination with every parameter drawn, overlays included."""
    return {
        "lookback": rng.choice([5, 21, 42, 63, 126, 200, 252]),
        "vix_level": rng.choice([None, 18.0, 22.0, 30.0]),
        "vix_scale": rng.choice([0.0, 0.25, 0.5]),
        "vix_timing": rng.choice(["rebalance", "daily"]),
        "breaker_drawdown": rng.choice([None, 0.02, 0.05, 0.10]),
        "breaker_scale": rng.choice([0.0, 0.5, 1.0]),
        "cash_rule": rng.choice([True, False]),
        "allocation": rng.choice([0.25, 0.5, 0.9, 1.0]),
        "fill": rng.choice(["open", "close"]),
        "cash_buffer": rng.choice([0.0, 0.001, 0.01]),
    }


def levels_combo(rng: random.Random) -> dict:
    """Fixed-level ratio combination with levels around the SPY/IWM range of 2010-2024, either mode."""
    target = rng.uniform(1.55, 1.75)
    zone_low = target + rng.uniform(0.05, 0.25)
    zone_high = zone_low + rng.uniform(0.05, 0.3)
    return {"target": round(target, 3), "zone_low": round(zone_low, 3), "zone_high": round(zone_high, 3),
            "stop": round(zone_high + rng.choice([0.0, 0.1]), 3),
            "rearm": rng.choice(["below_zone_top", "below_target", "immediate"]),
            "mode": rng.choice(["rotation", "pair"]), "pair_size": rng.choice([0.3, 0.5, 1.0]),
            "short_cost": rng.choice([0.0, 0.03]), "price": "raw"}  # fixed levels refuse adjusted closes


def zscore_combo(rng: random.Random) -> dict:
    """Rolling z-score ratio combination, either mode."""
    entry = rng.choice([0.5, 1.0, 1.5])
    return {"lookback": rng.choice([20, 60, 126, 252]), "entry_z": entry, "exit_z": rng.choice([-0.5, 0.0, 0.25]),
            "stop_z": rng.choice([None, entry + 1.0]), "mode": rng.choice(["rotation", "pair"]),
            "pair_size": rng.choice([0.5, 0.8]), "short_cost": rng.choice([0.0, 0.02]), "price": rng.choice(["raw", "adjusted"])}


DRAWS = {"rotation": rotation_combo, "ratio-rotation": levels_combo, "ratio-z-rotation": zscore_combo}


def draw(rng: random.Random, count: int) -> list[tuple[str, dict]]:
    """``count`` (strategy, combination) pairs, spread evenly over the rotation, fixed levels and z-score."""
    names = list(DRAWS)
    return [(names[i % len(names)], DRAWS[names[i % len(names)]](rng)) for i in range(count)]


def decisions_of(name: str, frame_or_list) -> list[tuple]:
    """(date, asset) per monthly decision for the rotation, (date, event) per event for the ratio strategies, (date,
    weights) per decision for a ``TargetWeights`` strategy."""
    rows = frame_or_list.to_dict("records") if isinstance(frame_or_list, pd.DataFrame) else frame_or_list
    kind = kind_of(resolve(name).cls)
    if kind == "rotation":
        return [(pd.Timestamp(r["date"]), r["asset"]) for r in rows]
    if kind == "weights":
        return [(pd.Timestamp(r["date"]), tuple(sorted(r["weights"].items()))) for r in rows]
    return [(pd.Timestamp(r["date"]), r["event"]) for r in rows if r["event"]]


def trades_of(frame: pd.DataFrame) -> list[tuple]:
    """(date, symbol, side, whole shares) per fill."""
    return [(pd.Timestamp(d), s, side, float(size)) for d, s, side, size in
            zip(frame["date"], frame["symbol"], frame["side"], frame["size"])]


def compare_engines(runs: list[tuple[str, dict]], feeds, settings: RunSettings = RunSettings(), *,
                    jobs: int | None = None) -> pd.DataFrame:
    """One row per (strategy, combination): identical decisions and trades (True/False), each figure's absolute
    difference between the engines, and the win-rate difference in months."""
    fast = [simulate(name, full_params(name, [params]), feeds, settings, record=True) for name, params in runs]
    slow = run_tasks(run_item, [RunItem(name, params, settings) for name, params in runs], feeds, jobs=jobs)
    rows = []
    for (name, params), mine, theirs in zip(runs, fast, slow):
        months = len(theirs.analyses["winrate"]["returns"])
        row = {"strategy": name, "params": params,
               "decisions equal": decisions_of(name, mine.decisions[0]) == decisions_of(name, theirs.decisions),
               "trades equal": trades_of(mine.fills[0]) == trades_of(theirs.trades),
               "rejected orders": theirs.rejected_orders}
        for figure in FIGURES:
            row[f"{figure} diff"] = abs(mine.metrics[0][figure] - theirs.metrics[figure])
        row["win rate diff [months]"] = row["Monthly win rate [%] diff"] * months / 100.0
        rows.append(row)
    return pd.DataFrame(rows)
