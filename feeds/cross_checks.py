"""Checks across symbols: a bar one ETF's partner does not explain, and files that are copies or shifted copies.

Rules (bounds and reasons in the README, "What is checked"); each flag is a ``feeds.validate.BarFlag`` naming the
suspect symbol, the date, both moves and the rule.

1. Cross-asset residual. Each ETF is paired with the ETF it co-moves with most (daily total returns correlated at
   least ``COMOVING_CORRELATION``, clipped at ``CLIP_SIGMAS`` robust sigmas so a bad print cannot make or break a
   pair; ``partners``), and in every pair each one's daily move is modelled on the other's: ``y = beta * x + e``. ``beta`` is fitted on the
   ``MODEL_WINDOW`` sessions before the day (clipped returns, so bad prints in the window barely move it); the
   residual is put in robust units: 1.4826 x the median absolute residual over the same sessions, widened by
   ``BETA_SLACK`` x the partner's move (on a day the market moves 10%, a beta off by 0.3 leaves 3%). A day whose
   residual is at least ``RESIDUAL_SIGMAS`` of those units, and at least ``RESIDUAL_MIN_MOVE``, is a suspect bar of
   ``y``: its move is not shared. When ``y`` is bad, ``x``'s residual on ``y`` is small (the slack grows with ``y``'s
   move), so the rule names the symbol whose move is unexplained. Measured moves: raw Close, Adj Close and the open
   gap (Open against the previous Close, judged on the wider of the open-gap and close residual scales: an open
   may differ from its partner's as much as a whole day may). The day's own stats never judge it, so it catches
   bad prints that revert, that hold, and a bad last bar. A second bound needs no model of the day's volatility:
   a pair that parts by ``DIVERGENCE_MOVE`` or more (``divergences``) is flagged too, for the crisis days on which
   the robust bound is wide. Which of the two is named gets a second opinion from a third series co-moving with
   both, when the load has one (``referee_of``: VIX for SPY and IWM; ``Referee``).
2. Copies and shifts. In every block of ``BLOCK_SESSIONS`` sessions, for every two series (any role), daily Close
   returns equal (to ``SAME_RETURN_TOLERANCE``) on at least ``COPY_SHARE`` of the days, on the same session or one
   session apart, name a copied file; moves correlated at one session's lag at least ``SHIFT_CORRELATION`` (and
   ``SHIFT_MARGIN`` more than on the same day) name a file whose dates are shifted by one session.
"""
from __future__ import annotations

import dataclasses
import warnings
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
DIVERGENCE_MOVE = 0.15  # log: co-moving ETFs never part by this much in a day (real SPY/IWM at most 0.08, 2008-10-10)
DIVERGENCE_RULE = (f"co-moving ETFs do not part by {DIVERGENCE_MOVE:g} (log) or more in a day, whatever the market's "
                   "volatility (SPY and IWM at most 0.08 from 2000 to 2024, on 2008-10-10)")


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
    """``values`` clipped at CLIP_SIGMAS trailing robust sigmas (unclipped where there is no scale)."""
    bound = CLIP_SIGMAS * robust_scale(values).to_numpy()
    bound = np.where(np.isnan(bound), np.inf, bound)
    return pd.Series(np.clip(values.to_numpy(), -bound, bound), index=values.index)


def residual_z(y: pd.Series, x: pd.Series, floor: pd.Series | None = None,
               slack: float = BETA_SLACK) -> tuple[pd.Series, pd.Series]:
    """(robust z, residual) of ``y`` modelled on ``x`` (same index, no NaN) by the trailing robust model of rule 1.

    ``floor``: a residual scale the day's scale may not fall below (the close scale, for open gaps); ``slack``: the
    share of ``x``'s move added to the scale (BETA_SLACK; 0 for a referee, whose own moves may be large, as VIX's)."""
    cx, cy = _clip(x), _clip(y)
    beta = _trailing(cx * cy, "sum") / _trailing(cx * cx, "sum")
    residual = y - beta * x
    scale = ROBUST * _trailing(residual.abs(), "median")
    if floor is not None:
        scale = np.maximum(scale, floor)
    spread = np.sqrt(scale ** 2 + (slack * x) ** 2)
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
    """Rule 1's model of ETFs ``a`` and ``b`` (validated frames, a pair of ``partners``) on their common sessions,
    each on the other: ``(y symbol, x symbol, column, z, residual, y move, x move)`` per direction and measured move
    (Series on the common sessions after the first). [] when they share too few sessions."""
    common = frames[a].index.intersection(frames[b].index)
    if len(common) < MODEL_MIN_SESSIONS:
        return []
    moves = {s: {k: v.iloc[1:] for k, v in _moves(frames[s].loc[common]).items()} for s in (a, b)}
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


def pair_flags(frames: dict[str, pd.DataFrame], a: str, b: str, *, second_opinion: bool = True) -> list[BarFlag]:
    """Rule 1 for ETFs ``a`` and ``b``: every day either's move is far from what the other's predicts, flagged
    on the symbol whose move is not explained. The way back from a flagged close on the next session (a residual
    undoing at least half of it) is the same event: it is named in that flag, not flagged again. A flagged close
    that undoes the previous session's close (a residual >= RESIDUAL_MIN_MOVE and >= half the bound, at least half
    undone) is that session's way back: the flag is dated on the previous session, where the bad print is (in a
    volatile market the print alone may stay under the bound while its way back, judged on a calmer day, does not).
    A pair alone cannot always tell which of the two is wrong (a bad print that cancels a real crash looks like
    the partner's crash); with ``second_opinion``, when there are flags, a third series of ``frames``
    (``referee_of``) may move a flag to the partner (``Referee.verdict``)."""
    found = []  # (symbol, day, column, residual, detail, rule)
    returns_of: dict[tuple[str, pd.Timestamp], float] = {}
    modelled = pair_residuals(frames, a, b)
    z_flagged: set[tuple[pd.Timestamp, str]] = set()
    for y_sym, x_sym, column, z, residual, y, x in modelled:
        bad = (z.abs() >= RESIDUAL_SIGMAS) & (residual.abs() >= RESIDUAL_MIN_MOVE)
        if column != "Open":
            before = residual.shift(1)
            way_back = (bad & (before.abs() >= RESIDUAL_MIN_MOVE) & (z.shift(1).abs() >= RESIDUAL_SIGMAS / 2)
                        & ((residual + before).abs() <= 0.5 * before.abs()))
            bad = bad | way_back.shift(-1, fill_value=False)
        what = "open gap (Open against the previous Close)" if column == "Open" else f"{column} return"
        for day in z.index[bad.to_numpy()]:
            under = "" if abs(z[day]) >= RESIDUAL_SIGMAS else " (under the bound alone; flagged by its way back)"
            found.append((y_sym, day, column, float(residual[day]),
                          f"{what} {_pct(y[day])} while {x_sym}'s was {_pct(x[day])}; the model on {x_sym} leaves "
                          f"{_pct(residual[day])}, {abs(z[day]):.0f} robust sigmas of the pair's own history "
                          f"(a pair alone cannot always tell which file is wrong: check {x_sym}'s too){under}", CROSS_RULE, ""))
            z_flagged.add((day, column))
            if column != "Open":
                returns_of[(y_sym, day)] = float(residual[day])
    for entry in divergences(modelled, z_flagged):
        found.append(entry)
        if entry[2] != "Open":
            returns_of[(entry[0], entry[1])] = entry[3]
    sessions = frames[a].index.intersection(frames[b].index)
    flags, back = [], {}
    for y_sym, day, column, residual, detail, rule, reason in found:
        pos = sessions.get_loc(day)
        before = returns_of.get((y_sym, sessions[pos - 1])) if pos > 0 else None
        if before is not None and abs(residual + before) <= 0.5 * abs(before):
            back.setdefault((y_sym, sessions[pos - 1]), day)
            continue
        flags.append((y_sym, day, column, detail, rule, reason))
    referee = referee_of(frames, a, b) if second_opinion and flags else None  # only when there is a flag to judge
    judge = Referee(frames, (a, b), referee) if referee else None
    out = []
    for sym, day, column, detail, rule, reason in flags:
        detail += f"; undone on {back[(sym, day)].date()}" if (sym, day) in back else ""
        other = b if sym == a else a
        verdict, why = judge.verdict(sym, other, day, column) if judge else (None, "")
        if verdict == "swap":
            sym, reason = other, why
        elif verdict == "keep":
            reason = why
        out.append(BarFlag(sym, day, column, detail + (f"; {sym} is named: {reason}" if reason else ""), rule))
    return out


def referee_of(frames: dict[str, pd.DataFrame], a: str, b: str) -> str | None:
    """A third series (any role, e.g. VIX for SPY and IWM) whose daily Close moves correlate (``comovement``, either
    sign) at least COMOVING_CORRELATION with both ``a``'s and ``b``'s: the one that does so most. None without one."""
    others = [s for s in frames if s not in (a, b)]
    if not others:
        return None
    corr = comovement({s: frames[s] for s in (a, b, *others)}, "Close")
    score = {s: min(abs(corr.at[s, a]), abs(corr.at[s, b])) for s in others}
    score = {s: v for s, v in score.items() if np.isfinite(v)}
    best = max(score, key=score.get, default=None)
    return best if best is not None and score[best] >= COMOVING_CORRELATION else None


class Referee:
    """A third series' view of a pair's flagged day (``referee_of``): rule 1's model of each of the pair on it (its
    moves on their common sessions, no slack: a referee's own moves may be large, as VIX's) and the sign of each
    one's correlation with it."""

    def __init__(self, frames: dict[str, pd.DataFrame], pair: tuple[str, str], name: str) -> None:
        self.name = name
        self.z: dict[str, dict[str, pd.Series]] = {}
        self.moves: dict[str, dict[str, pd.Series]] = {}
        self.sign: dict[str, float] = {}
        self.scale: dict[str, dict[str, pd.Series]] = {}
        for sym in pair:
            common = frames[sym].index.intersection(frames[name].index)
            if len(common) < MODEL_MIN_SESSIONS:
                self.z = {}
                return
            mine = {k: v.iloc[1:] for k, v in _moves(frames[sym].loc[common]).items()}
            ref = {k: v.iloc[1:] for k, v in _moves(frames[name].loc[common]).items()}
            self.z[sym] = {column: residual_z(mine[column], ref[column], slack=0.0)[0] for column in mine}
            self.moves[sym], self.moves[name] = mine, ref
            self.scale[name] = {column: robust_scale(ref[column]) for column in ref}
            self.sign[sym] = float(np.sign(_clip(mine["Close"]).corr(_clip(ref["Close"]))))

    def verdict(self, flagged: str, other: str, day: pd.Timestamp, column: str) -> tuple[str | None, str]:
        """("swap", why) when ``other`` rather than ``flagged`` is the wrong one on ``day``, ("keep", why) when the
        referee confirms ``flagged``, (None, "") when it cannot tell. First the sign: on a day the referee moves by
        at least 2 robust sigmas, a member whose move has the sign its correlation implies agrees with it, and the
        one that does not is named. Else the size: a member whose move is at least twice as far (robust z) from
        what the referee's predicts as the other's is named."""
        if not self.z:
            return None, ""
        ref = self.moves[self.name][column].get(day, np.nan)
        scale = self.scale[self.name][column].get(day, np.nan)
        moved = {s: self.moves[s][column].get(day, np.nan) for s in (flagged, other)}
        if abs(ref) >= 2.0 * scale:  # NaN compares False
            agrees = {s: np.sign(moved[s]) == self.sign[s] * np.sign(ref) for s in (flagged, other)}
            if agrees[flagged] != agrees[other]:
                good, bad = (flagged, other) if agrees[flagged] else (other, flagged)
                why = (f"{self.name} moved {_pct(ref)}, in line with {good}'s {_pct(moved[good])} and against "
                       f"{bad}'s {_pct(moved[bad])}")
                return ("swap" if bad == other else "keep"), why
        z = {s: abs(self.z[s][column].get(day, np.nan)) for s in (flagged, other)}
        for good, bad in ((flagged, other), (other, flagged)):
            if z[bad] > 2.0 * z[good]:  # NaN compares False
                why = (f"{self.name}'s move explains {good}'s ({z[good]:.1f} robust sigmas from its prediction) and not "
                       f"{bad}'s ({z[bad]:.1f})")
                return ("swap" if bad == other else "keep"), why
        return None, ""


def divergences(modelled: list[tuple], skip: set) -> list[tuple]:
    """Rule 1's second bound: the days a pair parts by ``DIVERGENCE_MOVE`` or more (either one's residual on the
    other), whatever its recent volatility, unless the robust bound flagged that day and column already (``skip``).
    In a volatile market a print that holds can stay under the robust bound; no real day comes near this one. The
    pair alone cannot say which file is wrong: the flag names the symbol whose move is larger against its own
    trailing volatility, and the detail names both. ``modelled``: ``pair_residuals``; entries as ``pair_flags``'s."""
    out = []
    by_column: dict[str, list[tuple]] = {}
    for entry in modelled:
        by_column.setdefault(entry[2], []).append(entry)
    for column, ((s1, s2, _, _, r1, m1, m2), (_, _, _, _, r2, _, _)) in by_column.items():
        apart = (np.maximum(r1.abs(), r2.abs()) >= DIVERGENCE_MOVE).to_numpy()
        own1, own2 = (m1.abs() / robust_scale(m1)), (m2.abs() / robust_scale(m2))
        what = "open gap (Open against the previous Close)" if column == "Open" else f"{column} return"
        for day in m1.index[apart]:
            if (day, column) in skip:
                continue
            first = bool(own1[day] >= own2[day]) or not np.isfinite(own2[day])
            sym, residual = (s1, r1[day]) if first else (s2, r2[day])
            out.append((sym, day, column, float(residual),
                        f"{what}: {s1} {_pct(m1[day])}, {s2} {_pct(m2[day])}: they part by "
                        f"{max(abs(r1[day]), abs(r2[day])):.3f} (log), so {s1}'s or {s2}'s file is wrong on this day",
                        DIVERGENCE_RULE,
                        f"its move is the larger against its own volatility ({max(own1[day], own2[day]):.1f} against "
                        f"{min(own1[day], own2[day]):.1f} robust sigmas)"))
    return out


def closest_to_flag(frames: dict[str, pd.DataFrame], a: str, b: str) -> tuple[float, float, float, str, str, pd.Timestamp] | None:
    """The margin of rule 1 on ``a`` and ``b``: the day nearest to a flag, as (nearness, |z|, |residual|, symbol,
    column, date), where nearness = min(|z| / RESIDUAL_SIGMAS, |residual| / RESIDUAL_MIN_MOVE) (a flag needs both
    >= 1), or |residual| / DIVERGENCE_MOVE when larger (``divergences``): nearness >= 1 is a flag; None when they
    share too few sessions."""
    best = None
    for y_sym, _, column, z, residual, _, _ in pair_residuals(frames, a, b):
        near = np.maximum(np.minimum(z.abs() / RESIDUAL_SIGMAS, residual.abs() / RESIDUAL_MIN_MOVE),
                          residual.abs() / DIVERGENCE_MOVE)
        if near.notna().any() and (best is None or near.max() > best[0]):
            day = near.idxmax()
            best = (float(near.max()), float(abs(z[day])), float(abs(residual[day])), y_sym, column, day)
    return best


def _aligned_moves(frames: dict[str, pd.DataFrame], column: str) -> pd.DataFrame:
    """Daily log moves of ``column``, each symbol on its own sessions, side by side on the union of sessions
    (NaN where a symbol has no bar)."""
    return pd.DataFrame({s: np.log(frame[column]).diff() for s, frame in frames.items()})


def comovement(frames: dict[str, pd.DataFrame], column: str) -> pd.DataFrame:
    """Correlations of the symbols' daily log moves of ``column`` (each clipped at CLIP_SIGMAS robust sigmas of its
    whole history, so a bad print cannot make or break a link), over at least MODEL_MIN_SESSIONS common sessions."""
    moves = _aligned_moves(frames, column)
    scale = ROBUST * (moves - moves.median()).abs().median()
    return moves.clip(-CLIP_SIGMAS * scale, CLIP_SIGMAS * scale, axis=1).corr(min_periods=MODEL_MIN_SESSIONS)


def partners(frames: dict[str, pd.DataFrame], etfs) -> list[tuple[str, str]]:
    """Rule 1's pairs: each ETF with the ETF it co-moves with most, when their daily total returns (each clipped at
    CLIP_SIGMAS robust sigmas of its whole history, so a bad print cannot make or break a pair) correlate at least
    COMOVING_CORRELATION over at least MODEL_MIN_SESSIONS common sessions. At most one pair per ETF: N files cost
    at most N models, not N^2."""
    symbols = sorted(set(etfs) & set(frames))
    if len(symbols) < 2:
        return []
    corr = comovement({s: frames[s] for s in symbols}, "Adj Close")
    pairs = set()
    for sym in symbols:
        others = corr[sym].drop(sym).dropna()
        if len(others) and others.max() >= COMOVING_CORRELATION:
            pairs.add(tuple(sorted((sym, str(others.idxmax())))))
    return sorted(pairs)


def _block_clip(x: np.ndarray) -> np.ndarray:
    """Columns of ``x`` clipped at CLIP_SIGMAS x 1.4826 x their median absolute deviation (NaN kept)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        centre = np.nanmedian(x, axis=0)
        scale = ROBUST * np.nanmedian(np.abs(x - centre), axis=0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.inf)
    return np.clip(x, -CLIP_SIGMAS * scale, CLIP_SIGMAS * scale)


def _cross_corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[i, j]: correlation of column i of ``x`` with column j of ``y`` on the rows both have (NaN under
    BLOCK_MIN_SESSIONS rows)."""
    n = x.shape[1]
    both = pd.DataFrame(np.hstack([x, y])).corr(min_periods=BLOCK_MIN_SESSIONS).to_numpy()
    return both[:n, n:]


def copy_flags(frames: dict[str, pd.DataFrame]) -> list[tuple[BarFlag, str]]:
    """Rule 2 on every pair of ``frames``: (flag, the other symbol) for each span of sessions where one is a copy of
    the other or shifted against it by one session (consecutive flagged blocks are one flag, dated on the span's
    first common session). Blocks of BLOCK_SESSIONS sessions of the union calendar, all pairs at once per block."""
    symbols = sorted(frames)
    moves = _aligned_moves({s: frames[s] for s in symbols}, "Close")
    days, values = moves.index, moves.to_numpy()
    padded = np.vstack([np.full((1, len(symbols)), np.nan), values, np.full((1, len(symbols)), np.nan)])
    hits: dict[tuple[int, int], list[list]] = {}
    for start in range(1, len(days), BLOCK_SESSIONS):
        stop = min(start + BLOCK_SESSIONS, len(days))
        lagged = {0: values[start:stop], 1: padded[start + 2:stop + 2], -1: padded[start:stop]}  # rows t, t+1, t-1
        x = lagged[0]
        present = ~np.isnan(x)
        moving = (np.abs(np.nan_to_num(x)) > SAME_RETURN_TOLERANCE).sum(axis=0) >= 0.5 * np.maximum(present.sum(axis=0), 1)
        same = {}  # lag -> (share of common rows with equal moves, common rows), symbols x symbols
        for lag, y in lagged.items():
            share, count = np.zeros((len(symbols), len(symbols))), np.zeros((len(symbols), len(symbols)))
            for i in range(len(symbols)):  # one row at a time: memory stays sessions x symbols
                both = present[:, i:i + 1] & ~np.isnan(y)
                count[i] = both.sum(axis=0)
                share[i] = (both & (np.abs(x[:, i:i + 1] - y) <= SAME_RETURN_TOLERANCE)).sum(axis=0) / np.maximum(count[i], 1)
            same[lag] = share, count
        clipped = {lag: _block_clip(y) for lag, y in lagged.items()}
        corr = {lag: _cross_corr(clipped[0], clipped[lag]) for lag in (0, 1, -1)}
        for i in range(len(symbols)):
            for j in range(i + 1, len(symbols)):
                if same[0][1][i, j] < BLOCK_MIN_SESSIONS or not (moving[i] and moving[j]):
                    continue  # too few common sessions, or a flat series (a cash ETF between dividends) equals any flat one
                lag = max((0, 1, -1), key=lambda k: same[k][0][i, j])
                if same[lag][0][i, j] >= COPY_SHARE:
                    hit = ["copy", lag, start, stop, float(same[lag][0][i, j]), 1.0]
                else:
                    lag = 1 if abs(np.nan_to_num(corr[1][i, j])) >= abs(np.nan_to_num(corr[-1][i, j])) else -1
                    shifted, same_day = float(np.nan_to_num(corr[lag][i, j])), float(np.nan_to_num(corr[0][i, j]))
                    if not (abs(shifted) >= SHIFT_CORRELATION and abs(shifted) >= abs(same_day) + SHIFT_MARGIN):
                        continue
                    hit = ["shift", lag, start, stop, shifted, same_day]
                found = hits.setdefault((i, j), [])
                if found and found[-1][:2] == hit[:2] and found[-1][3] == start:
                    found[-1][3], found[-1][4] = stop, min(found[-1][4], hit[4], key=abs)
                else:
                    found.append(hit)
    flags = []
    for (i, j), found in hits.items():
        a, b = symbols[i], symbols[j]
        for kind, lag, start, stop, value, same_day in found:
            common = days[start:stop][~np.isnan(values[start:stop, i]) & ~np.isnan(values[start:stop, j])]
            span = f"{common[0].date()}..{common[-1].date()}"
            when = "on the same session" if lag == 0 else f"one session {'later' if lag == 1 else 'earlier'}"
            if kind == "copy":
                detail = (f"{a} and {b} have the same daily Close returns ({b}'s {when}) on at least {value:.0%} of the "
                          f"sessions {span} ({len(common)} sessions): one file is a copy of the other, saved under the wrong name?")
                rule = (f"two symbols are never copies of each other (>= {COPY_SHARE:.0%} equal daily returns in a block of "
                        f"{BLOCK_SESSIONS} sessions)")
                column = "Close"
            else:
                detail = (f"{a}'s daily moves match {b}'s {when} (correlation {value:+.2f}, against {same_day:+.2f} on the "
                          f"same session) over {span}: the dates of one of the two files are shifted by one session")
                rule = (f"co-moving series move on the same session (a correlation at one session's lag >= {SHIFT_CORRELATION:g} "
                        f"and >= {SHIFT_MARGIN:g} above the same-session one is a shift)")
                column = "Date"
            flags.append((BarFlag(a, common[0], column, detail, rule, through=common[-1]), b))
    return flags


def cross_flags(frames: dict[str, pd.DataFrame], etfs) -> list[BarFlag]:
    """Rules 1 and 2 on validated ``frames`` ({symbol: bars}); rule 1 only between symbols in ``etfs``."""
    flags = []
    for a, b in partners(frames, etfs):
        flags += pair_flags(frames, a, b)
    shifted = copy_flags(frames)
    # the suspect of a copy or shift is the symbol found in such flags with more partners: a shifted IWM is shifted
    # against SPY and VIX, while SPY and VIX agree with each other
    found_with: dict[str, set] = {}
    for flag, other in shifted:
        found_with.setdefault(flag.symbol, set()).add(other)
        found_with.setdefault(other, set()).add(flag.symbol)
    for flag, other in shifted:
        if len(found_with[other]) > len(found_with[flag.symbol]):
            flag = dataclasses.replace(flag, symbol=other)
        flags.append(flag)
    flags.sort(key=lambda f: (f.date, f.symbol))
    return flags
