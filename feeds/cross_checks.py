"""Checks across symbols: a bar one ETF's partner does not explain, and files that are copies or shifted copies.

Rules (bounds and reasons in the README, "What is checked"); each flag is a ``feeds.validate.BarFlag`` naming the
suspect symbol, the date, both moves and the rule.

1. Cross-asset residual. For every pair of co-moving ETFs (daily total returns correlated at least
   ``COMOVING_CORRELATION``, clipped at ``CLIP_SIGMAS`` robust sigmas so a bad print cannot make or break a pair),
   each one's daily move is modelled on the other's: ``y = beta * x + e``. ``beta`` is fitted on the
   ``MODEL_WINDOW`` sessions before the day (clipped returns, so bad prints in the window barely move it); the
   residual is put in robust units: 1.4826 x the median absolute residual over the same sessions, widened by
   ``BETA_SLACK`` x the partner's move (on a day the market moves 10%, a beta off by 0.3 leaves 3%). A day whose
   residual is at least ``RESIDUAL_SIGMAS`` of those units, and at least ``RESIDUAL_MIN_MOVE``, is a suspect bar of
   ``y``: its move is not shared. When ``y`` is bad, ``x``'s residual on ``y`` is small (the slack grows with ``y``'s
   move), so the rule names the symbol whose move is unexplained. Measured moves: raw Close, Adj Close and the open
   gap (Open against the previous Close, judged on the wider of the open-gap and close residual scales: an open
   may differ from its partner's as much as a whole day may). The day's own stats never judge it, so it catches
   bad prints that revert, that hold, and a bad last bar.
2. Copies and shifts. In every block of ``BLOCK_SESSIONS`` common sessions of two series (any role), daily Close
   returns equal (to ``SAME_RETURN_TOLERANCE``) on at least ``COPY_SHARE`` of the days, on the same session or one
   session apart, name a copied file; moves correlated at one session's lag at least ``SHIFT_CORRELATION`` (and
   ``SHIFT_MARGIN`` more than on the same day) name a file whose dates are shifted by one session.
"""
from __future__ import annotations

import dataclasses
from itertools import combinations

import numpy as np
import pandas as pd

from .validate import BarFlag

MODEL_WINDOW = 250
MODEL_MIN_SESSIONS = 60
CLIP_SIGMAS = 4.0
COMOVING_CORRELATION = 0.5
BETA_SLACK = 0.3
RESIDUAL_SIGMAS = 14.0
RESIDUAL_MIN_MOVE = 0.05
ROBUST = 1.4826  # MAD -> sigma for normal data

BLOCK_SESSIONS = 250
BLOCK_MIN_SESSIONS = 20
SAME_RETURN_TOLERANCE = 1e-6
COPY_SHARE = 0.9
SHIFT_CORRELATION = 0.5
SHIFT_MARGIN = 0.3

CROSS_RULE = (f"a move its co-moving partner does not explain: residual of a robust rolling model on the partner "
              f">= {RESIDUAL_SIGMAS:g} robust sigmas and >= {RESIDUAL_MIN_MOVE:.0%}")


def _trailing(values: pd.Series, how: str) -> pd.Series:
    """Rolling statistic over the MODEL_WINDOW sessions before each day (the day itself excluded); the first
    sessions, which have too little history, take the first full window's value."""
    rolling = values.rolling(MODEL_WINDOW, min_periods=MODEL_MIN_SESSIONS)
    stat = rolling.median() if how == "median" else rolling.sum()
    return stat.shift(1).bfill()


def robust_scale(values: pd.Series) -> pd.Series:
    """1.4826 x the trailing median absolute deviation of ``values`` (see ``_trailing``)."""
    centre = _trailing(values, "median")
    return ROBUST * _trailing((values - centre).abs(), "median")


def _clip(values: pd.Series) -> pd.Series:
    scale = robust_scale(values)
    return values.clip(-CLIP_SIGMAS * scale, CLIP_SIGMAS * scale)


def comoving(a: pd.Series, b: pd.Series) -> float:
    """Correlation of two return series on their common days, each clipped at CLIP_SIGMAS robust sigmas."""
    both = pd.concat([a, b], axis=1).dropna()
    if len(both) < MODEL_MIN_SESSIONS:
        return float("nan")
    x, y = _clip(both.iloc[:, 0]), _clip(both.iloc[:, 1])
    return float(x.corr(y))


def residual_z(y: pd.Series, x: pd.Series, floor: pd.Series | None = None) -> tuple[pd.Series, pd.Series]:
    """(robust z, residual) of ``y`` modelled on ``x`` (same index, no NaN) by the trailing robust model of rule 1.

    ``floor``: a residual scale the day's scale may not fall below (the close scale, for open gaps)."""
    cx, cy = _clip(x), _clip(y)
    beta = _trailing(cx * cy, "sum") / _trailing(cx * cx, "sum")
    residual = y - beta * x
    scale = ROBUST * _trailing(residual.abs(), "median")
    if floor is not None:
        scale = np.maximum(scale, floor)
    spread = np.sqrt(scale ** 2 + (BETA_SLACK * x) ** 2)
    return residual / spread.where(spread > 0), residual


def _moves(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Log moves of one ETF on its own sessions: raw Close, Adj Close, and the open gap (Open / previous Close)."""
    close = np.log(frame["Close"])
    return {
        "Close": close.diff(),
        "Adj Close": np.log(frame["Adj Close"]).diff(),
        "Open": np.log(frame["Open"]) - close.shift(1),
    }


def _pct(log_move: float) -> str:
    return f"{np.expm1(log_move):+.2%}"


def pair_residuals(frames: dict[str, pd.DataFrame], a: str, b: str) -> list[tuple]:
    """Rule 1's model of ETFs ``a`` and ``b`` (validated frames) on their common sessions, each on the other:
    ``(y symbol, x symbol, column, z, residual, y move, x move)`` per direction and measured move (Series on the
    common sessions after the first). [] when the two do not co-move or share too few sessions."""
    common = frames[a].index.intersection(frames[b].index)
    if len(common) < MODEL_MIN_SESSIONS:
        return []
    moves = {s: {k: v.iloc[1:] for k, v in _moves(frames[s].loc[common]).items()} for s in (a, b)}
    if not comoving(moves[a]["Adj Close"], moves[b]["Adj Close"]) >= COMOVING_CORRELATION:
        return []
    out = []
    for y_sym, x_sym in ((a, b), (b, a)):
        close_scale = None
        for column in ("Adj Close", "Close", "Open"):
            y, x = moves[y_sym][column], moves[x_sym][column]
            z, residual = residual_z(y, x, floor=close_scale if column == "Open" else None)
            if column == "Adj Close":
                close_scale = ROBUST * _trailing(residual.abs(), "median")
            out.append((y_sym, x_sym, column, z, residual, y, x))
    return out


def pair_flags(frames: dict[str, pd.DataFrame], a: str, b: str) -> list[BarFlag]:
    """Rule 1 for ETFs ``a`` and ``b``: every day either's move is far from what the other's predicts, flagged
    on the symbol whose move is not explained. The way back from a flagged close on the next session (a residual
    undoing at least half of it) is the same event: it is named in that flag, not flagged again."""
    found = []  # (symbol, day, column, residual, detail)
    returns_of: dict[tuple[str, pd.Timestamp], float] = {}
    for y_sym, x_sym, column, z, residual, y, x in pair_residuals(frames, a, b):
        bad = (z.abs() >= RESIDUAL_SIGMAS) & (residual.abs() >= RESIDUAL_MIN_MOVE)
        what = "open gap (Open against the previous Close)" if column == "Open" else f"{column} return"
        for day in z.index[bad.to_numpy()]:
            found.append((y_sym, day, column, float(residual[day]),
                          f"{what} {_pct(y[day])} while {x_sym}'s was {_pct(x[day])}; the model on {x_sym} leaves "
                          f"{_pct(residual[day])}, {abs(z[day]):.0f} robust sigmas of the pair's own history"))
            if column != "Open":
                returns_of[(y_sym, day)] = float(residual[day])
    sessions = frames[a].index.intersection(frames[b].index)
    flags, back = [], {}
    for y_sym, day, column, residual, detail in found:
        pos = sessions.get_loc(day)
        before = returns_of.get((y_sym, sessions[pos - 1])) if pos > 0 else None
        if before is not None and abs(residual + before) <= 0.5 * abs(before):
            back.setdefault((y_sym, sessions[pos - 1]), day)
            continue
        flags.append((y_sym, day, column, detail))
    return [BarFlag(sym, day, column, detail + (f"; undone on {back[(sym, day)].date()}" if (sym, day) in back else ""), CROSS_RULE)
            for sym, day, column, detail in flags]


def closest_to_flag(frames: dict[str, pd.DataFrame], a: str, b: str) -> tuple[float, float, float, str, str, pd.Timestamp] | None:
    """The margin of rule 1 on ``a`` and ``b``: the day nearest to a flag, as (nearness, |z|, |residual|, symbol,
    column, date), where nearness = min(|z| / RESIDUAL_SIGMAS, |residual| / RESIDUAL_MIN_MOVE) (a flag needs both
    >= 1, so nearness >= 1 is a flag); None when the pair does not co-move."""
    best = None
    for y_sym, _, column, z, residual, _, _ in pair_residuals(frames, a, b):
        near = np.minimum(z.abs() / RESIDUAL_SIGMAS, residual.abs() / RESIDUAL_MIN_MOVE)
        if near.notna().any() and (best is None or near.max() > best[0]):
            day = near.idxmax()
            best = (float(near.max()), float(abs(z[day])), float(abs(residual[day])), y_sym, column, day)
    return best


def copy_flags(frames: dict[str, pd.DataFrame], a: str, b: str) -> list[BarFlag]:
    """Rule 2 for any two series: the spans of sessions where ``a`` is a copy of ``b`` or shifted against it by one
    session (consecutive flagged blocks are one flag, dated on the span's first session)."""
    common = frames[a].index.intersection(frames[b].index)
    ra = np.log(frames[a]["Close"].loc[common]).diff().to_numpy()[1:]
    rb = np.log(frames[b]["Close"].loc[common]).diff().to_numpy()[1:]
    days = common[1:]
    found: list[list] = []  # [kind, lag, first block start, last block stop, share or correlation, same-session correlation]
    for start in range(0, len(days), BLOCK_SESSIONS):
        stop = min(start + BLOCK_SESSIONS, len(days))
        if stop - start < BLOCK_MIN_SESSIONS:
            break
        x, y = ra[start:stop], rb[start:stop]
        if np.mean(np.abs(x) > SAME_RETURN_TOLERANCE) < 0.5:  # a flat series (a cash ETF between dividends) equals any flat one
            continue
        same = {lag: float(np.mean(np.abs(np.subtract(*_lagged(x, y, lag))) <= SAME_RETURN_TOLERANCE)) for lag in (0, 1, -1)}
        lag = max(same, key=same.get)
        if same[lag] >= COPY_SHARE:
            hit = ["copy", lag, start, stop, same[lag], 1.0]
        else:
            corr = {lag: _corr(*_lagged(x, y, lag)) for lag in (0, 1, -1)}
            lag = 1 if abs(corr[1]) >= abs(corr[-1]) else -1
            if not (abs(corr[lag]) >= SHIFT_CORRELATION and abs(corr[lag]) >= abs(corr[0]) + SHIFT_MARGIN):
                continue
            hit = ["shift", lag, start, stop, corr[lag], corr[0]]
        if found and found[-1][:2] == hit[:2] and found[-1][3] == start:
            found[-1][3], found[-1][4] = stop, min(found[-1][4], hit[4], key=abs)
        else:
            found.append(hit)
    flags = []
    for kind, lag, start, stop, value, same_day in found:
        span = f"{days[start].date()}..{days[stop - 1].date()}"
        when = "on the same session" if lag == 0 else f"one session {'later' if lag == 1 else 'earlier'}"
        if kind == "copy":
            flags.append(BarFlag(
                a, days[start], "Close",
                f"{a} and {b} have the same daily Close returns ({b}'s {when}) on at least {value:.0%} of the sessions "
                f"{span} ({stop - start} sessions): one file is a copy of the other, saved under the wrong name?",
                f"two symbols are never copies of each other (>= {COPY_SHARE:.0%} equal daily returns in a block of "
                f"{BLOCK_SESSIONS} common sessions)",
                through=days[stop - 1],
            ))
        else:
            flags.append(BarFlag(
                a, days[start], "Date",
                f"{a}'s daily moves match {b}'s {when} (correlation {value:+.2f}, against {same_day:+.2f} on the same "
                f"session) over {span}: the dates of one of the two files are shifted by one session",
                f"co-moving series move on the same session (a correlation at one session's lag >= {SHIFT_CORRELATION:g} "
                f"and >= {SHIFT_MARGIN:g} above the same-session one is a shift)",
                through=days[stop - 1],
            ))
    return flags


def _lagged(x: np.ndarray, y: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """``x[t]`` paired with ``y[t + lag]``."""
    if lag == 0:
        return x, y
    return (x[:-lag], y[lag:]) if lag > 0 else (x[-lag:], y[:lag])


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    """Correlation of ``x`` and ``y`` each clipped at CLIP_SIGMAS x 1.4826 x its median absolute deviation."""
    def clip(v):
        scale = ROBUST * np.median(np.abs(v - np.median(v)))
        return np.clip(v, -CLIP_SIGMAS * scale, CLIP_SIGMAS * scale) if scale > 0 else v
    x, y = clip(x), clip(y)
    if x.std() == 0 or y.std() == 0:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


def cross_flags(frames: dict[str, pd.DataFrame], etfs) -> list[BarFlag]:
    """Rules 1 and 2 on validated ``frames`` ({symbol: bars}); rule 1 only between symbols in ``etfs``."""
    flags, shifted = [], []
    for a, b in combinations(sorted(frames), 2):
        if a in etfs and b in etfs:
            flags += pair_flags(frames, a, b)
        shifted += [(flag, b) for flag in copy_flags(frames, a, b)]
    # the suspect of a copy or shift is the symbol found in such flags with more partners: a shifted IWM is shifted
    # against SPY and VIX, while SPY and VIX agree with each other
    partners: dict[str, set] = {}
    for flag, other in shifted:
        partners.setdefault(flag.symbol, set()).add(other)
        partners.setdefault(other, set()).add(flag.symbol)
    for flag, other in shifted:
        if len(partners[other]) > len(partners[flag.symbol]):
            flag = dataclasses.replace(flag, symbol=other)
        flags.append(flag)
    flags.sort(key=lambda f: (f.date, f.symbol))
    return flags
