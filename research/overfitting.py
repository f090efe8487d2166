"""How much of a swept best is luck: deflated Sharpe, the probability of backtest overfitting, Hansen's SPA, and
stationary-bootstrap intervals. Pure functions over numbers; nothing here knows a strategy, a feed or an engine.

What they read, so a sweep never holds its daily-returns matrix:
- ``deflated_sharpe``: the best trial's Sharpe, skew, kurtosis and length, the number of trials and the variance of
  Sharpe across trials (per-trial moments).
- ``pbo``: per-trial, per-block moments of the excess returns (``BlockMoments``, from ``analyzers.stats.block_moments``:
  32 numbers per trial at 16 blocks) -- the Sharpe of any union of blocks follows from them exactly.
- ``spa``: the daily returns of a bounded set of candidate trials (the caller picks them, e.g. the top K by the
  sweep's metric) and of the benchmark.
- ``bootstrap_intervals``/``prob_sharpe_beats``: one run's daily returns (and the risk-free returns of its sessions).

References: Bailey & Lopez de Prado (2014), "The deflated Sharpe ratio"; Bailey, Borwein, Lopez de Prado & Zhu (2015),
"The probability of backtest overfitting"; Hansen (2005), "A test for superior predictive ability" (``arch``'s SPA);
Politis & Romano (1994), the stationary bootstrap (``arch``'s StationaryBootstrap for the intervals; the SPA draws its own blocks).
"""
from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps
from threadpoolctl import threadpool_limits

from analyzers import stats

EULER_GAMMA = 0.5772156649015329
DEFAULT_BLOCKS = 16  # CSCV blocks: C(16, 8) = 12,870 splits (Bailey et al. use 16)
BOOTSTRAP_REPS = 1000
SPA_REPS = 1000
SEED = 19  # every bootstrap here is seeded: the same inputs give byte-identical outputs
MEAN_BLOCK = 21  # mean block length of the stationary bootstrap [sessions]: a month of volatility clustering
CHUNK_CELLS = 250_000  # splits x trials per step of the CSCV arithmetic (2 MB per temporary: cache-sized, 1.4x faster than 16 MB)
PBO_THREADS = min(2, os.cpu_count() or 1)  # threads over the trials (BLAS itself on one)
KEEP_CELLS = 16_000_000  # splits x trials whose scores the first pass keeps for the second (128 MB) instead of recomputing


@dataclass
class BlockMoments:
    """Per-block moments of the excess session returns of many trials: ``counts`` (blocks,) sessions per block (the
    same for every trial), ``sums`` and ``squares`` (blocks, trials): the sum and the sum of squares of each trial's
    excess returns in each block."""

    counts: np.ndarray
    sums: np.ndarray
    squares: np.ndarray

    @property
    def trials(self) -> int:
        return self.sums.shape[1]

    @classmethod
    def concat(cls, parts: list["BlockMoments"]) -> "BlockMoments":
        """The trials of ``parts`` side by side (they must share blocks)."""
        counts = parts[0].counts
        if any(not np.array_equal(p.counts, counts) for p in parts):
            raise ValueError("block moments of different session blocks cannot be joined")
        return cls(counts, np.concatenate([p.sums for p in parts], axis=1), np.concatenate([p.squares for p in parts], axis=1))

    def select(self, trials) -> "BlockMoments":
        return BlockMoments(self.counts, self.sums[:, trials], self.squares[:, trials])

    def distinct(self) -> np.ndarray:
        """Positions of the first trial of each distinct return series, in trial order: trials with the same block
        moments (every sum and sum of squares equal: a parameter that changed nothing) are one trial. They are told
        apart by a hash of their bytes (``analyzers.stats.first_of_each``)."""
        return stats.first_of_each(self.sums.T, self.squares.T)

    def sharpe(self) -> np.ndarray:
        """Each trial's Sharpe per session over all blocks (mean / sample std of its excess returns, not annualised)."""
        return sharpe_from_sums(self.counts.sum(), self.sums.sum(axis=0), self.squares.sum(axis=0))


def sharpe_from_sums(count, total, squares) -> np.ndarray:
    """mean / sample std (ddof=1) from the count, sum and sum of squares of returns; NaN without variation."""
    count = np.asarray(count, dtype=float)
    mean = total / count
    var = (squares - count * mean * mean) / (count - 1.0)
    scale = np.maximum(np.abs(squares) / count, 1e-300)
    ok = var > 1e-12 * scale  # a variance at rounding level of the sums is no variation
    return np.where(ok, mean / np.sqrt(np.where(ok, var, 1.0)), np.nan)


# ---------------------------------------------------------------------------------------------- deflated Sharpe

def expected_max_sharpe(trials: int, sharpe_variance: float) -> float:
    """SR0: the expected largest of ``trials`` Sharpe ratios whose true value is 0 and whose estimates vary with
    ``sharpe_variance`` (Bailey & Lopez de Prado 2014, eq. for E[max SR]):
    sqrt(V) x ((1 - gamma) x Z^-1(1 - 1/N) + gamma x Z^-1(1 - 1/(N e))), gamma the Euler-Mascheroni constant.
    0 for a single trial."""
    if trials <= 1 or not sharpe_variance > 0:
        return 0.0
    n = float(trials)
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * sps.norm.ppf(1.0 - 1.0 / n)
                                         + EULER_GAMMA * sps.norm.ppf(1.0 - 1.0 / (n * math.e)))


def deflated_sharpe(sharpe: float, trials: int, sharpe_variance: float, sessions: int, skew: float, kurtosis: float) -> float:
    """The deflated Sharpe ratio: the probability that the true Sharpe of the selected trial is above zero, given
    that it is the best of ``trials``. ``sharpe`` and ``sharpe_variance`` are per session (not annualised), over
    ``sessions`` returns of skewness ``skew`` and (Pearson, normal = 3) ``kurtosis``:
    Z[(SR - SR0) x sqrt(T - 1) / sqrt(1 - skew x SR + (kurtosis - 1) / 4 x SR^2)], SR0 = ``expected_max_sharpe``."""
    if not np.isfinite(sharpe) or sessions < 2:
        return float("nan")
    sr0 = expected_max_sharpe(trials, sharpe_variance)
    denominator = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe * sharpe
    if not denominator > 0:
        return float("nan")
    return float(sps.norm.cdf((sharpe - sr0) * math.sqrt(sessions - 1.0) / math.sqrt(denominator)))


def shape_of(returns: np.ndarray) -> tuple[float, float]:
    """Skewness and Pearson kurtosis (normal = 3) of returns (population moments, as in the paper)."""
    returns = np.asarray(returns, dtype=float)
    return float(sps.skew(returns)), float(sps.kurtosis(returns, fisher=False))


# ------------------------------------------------------------------------------------------- PBO by CSCV

@dataclass
class PBOResult:
    """``pbo``: share of the CSCV splits where the in-sample best trial ranks at or below the median out of sample
    (logit <= 0). ``ranks``: for each split, the in-sample best's relative out-of-sample rank in (0, 1) (rank / (N + 1),
    1 = best; ties share their mean rank). ``logits``: log(rank / (1 - rank)). ``blocks``, ``trials``; ``splits``
    used of ``all_splits`` (a seeded sample of complementary pairs when trials x splits is above ``SPLIT_BUDGET``)."""

    pbo: float
    ranks: np.ndarray
    logits: np.ndarray
    blocks: int
    splits: int
    all_splits: int
    trials: int

    def rank_histogram(self, bins: int = 10) -> list[dict]:
        """The distribution of ``ranks`` in ``bins`` equal bins of (0, 1): [{"from", "to", "share"}]."""
        counts, edges = np.histogram(self.ranks, bins=bins, range=(0.0, 1.0))
        return [{"from": round(float(a), 4), "to": round(float(b), 4), "share": float(c) / max(len(self.ranks), 1)}
                for a, b, c in zip(edges[:-1], edges[1:], counts)]


# splits x trials evaluated per pass at most: every split up to ~500 trials at 16 blocks (12,870 x 500); beyond,
# a seeded sample of complementary pairs of splits, at least MIN_SPLITS of them
SPLIT_BUDGET = 6_500_000
MIN_SPLITS = 1_000
ENUMERATED_PAIRS = 100_000  # more pairs than this (S > 20 blocks): sampled without listing them all
MAX_BLOCKS = 64  # --pbo-blocks at most (59 sessions a block over 2010-2024)


def cscv_halves(blocks: int, trials: int = 0, *, seed: int = SEED) -> np.ndarray:
    """In-sample halves of the CSCV splits as a (2P x blocks) 0/1 matrix: P halves holding block 0, then their
    complements in the same order (the out-of-sample half of split i is row (i + P) mod 2P). Every one of the
    C(blocks, blocks / 2) splits when ``trials`` x splits fits ``SPLIT_BUDGET``; else a seeded sample of pairs,
    and beyond ``ENUMERATED_PAIRS`` pairs (more than 20 blocks) at most that many, drawn without listing them."""
    if blocks < 2 or blocks % 2:
        raise ValueError(f"CSCV needs an even number of blocks >= 2, not {blocks}")
    pairs = math.comb(blocks, blocks // 2) // 2
    keep = max(MIN_SPLITS, SPLIT_BUDGET // max(trials, 1)) // 2
    if pairs > ENUMERATED_PAIRS:
        first = _sampled_halves(blocks, min(keep, ENUMERATED_PAIRS), seed)
    else:
        first = [c for c in itertools.combinations(range(blocks), blocks // 2) if c[0] == 0]
        if keep < pairs:
            chosen = np.sort(np.random.default_rng(seed).choice(pairs, size=keep, replace=False))
            first = [first[i] for i in chosen]
    halves = np.zeros((2 * len(first), blocks))
    for i, row in enumerate(first):
        halves[i, list(row)] = 1.0
    halves[len(first):] = 1.0 - halves[:len(first)]
    return halves


def _sampled_halves(blocks: int, count: int, seed: int) -> list[tuple[int, ...]]:
    """``count`` distinct halves holding block 0, drawn uniformly (seeded) without listing all C(blocks, blocks / 2)
    of them: block 0 and blocks / 2 - 1 of the others, drawn again when a half repeats."""
    rng = np.random.default_rng(seed)
    seen: dict[tuple[int, ...], None] = {}
    while len(seen) < count:
        for row in np.sort(rng.random((count, blocks - 1)).argsort(axis=1)[:, :blocks // 2 - 1] + 1, axis=1):
            seen.setdefault((0, *map(int, row)), None)
            if len(seen) == count:
                break
    return list(seen)


def _half_scores(halves: np.ndarray, moments: BlockMoments, lo: int, hi: int) -> np.ndarray:
    """For each half (row) and trial lo..hi, a score ordered as the Sharpe over that half: sum / sqrt(sum of squared
    deviations), which is Sharpe x n / sqrt(n - 1) with n the half's sessions, the same for every trial of a row.
    No variation gives -inf (ranks last)."""
    n = (halves @ moments.counts)[:, None]
    total, squares = halves @ moments.sums[:, lo:hi], halves @ moments.squares[:, lo:hi]
    score = total * total
    score /= n
    np.subtract(squares, score, out=score)  # sum of squared deviations
    flat = score <= 1e-12 * squares
    np.sqrt(score, out=score)
    np.divide(total, score, out=score)
    score[flat] = -np.inf
    return score


def pbo(moments: BlockMoments, *, seed: int = SEED) -> PBOResult:
    """The probability of backtest overfitting by combinatorially symmetric cross-validation (Bailey et al. 2015).

    The sessions are cut into ``len(moments.counts)`` blocks (even, S); each split takes S/2 blocks as in-sample and
    the rest as out-of-sample. For each split the trial with the best in-sample Sharpe is found, and its Sharpe rank
    among all trials out of sample. PBO is the share of splits where it ranks at or below the median. The Sharpe of
    each half comes from the block sums (no returns matrix); two passes over the trials, a few at a time, keep the
    temporaries at ``CHUNK_CELLS``; ``PBO_THREADS`` threads share the trials. BLAS runs on one thread here: on a
    shared machine its threads cost more than they give on these small products. All C(S, S/2) splits are used while splits x trials <= ``SPLIT_BUDGET``,
    else a seeded random sample of complementary pairs (``cscv_halves``): PBO's sampling error is then at most
    0.5 / sqrt(splits) (0.016 at 1,000)."""
    blocks = len(moments.counts)
    n = moments.trials
    if n < 2:
        raise ValueError("PBO needs at least 2 trials")
    halves = cscv_halves(blocks, n, seed=seed)
    splits = len(halves)
    chunk = max(1, CHUNK_CELLS // splits)
    with threadpool_limits(1, "blas"):
        return _pbo(moments, halves, chunk, PBO_THREADS)


def _pbo(moments: BlockMoments, halves: np.ndarray, chunk: int, threads: int = 1) -> PBOResult:
    blocks, n, splits = len(moments.counts), moments.trials, len(halves)
    partner = (np.arange(splits) + splits // 2) % splits
    rows = np.arange(splits)
    kept = np.empty((splits, n)) if splits * n <= KEEP_CELLS else None
    starts = list(range(0, n, chunk))
    count = max(1, min(threads, len(starts)))
    shares = [starts[len(starts) * k // count:len(starts) * (k + 1) // count] for k in range(count)]  # in trial order

    def scores(lo: int) -> np.ndarray:
        return kept[:, lo:lo + chunk] if kept is not None else _half_scores(halves, moments, lo, min(lo + chunk, n))

    def best_of(share: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Per split, the best in-sample score among the share's trials and that trial's out-of-sample score."""
        best_in, best_out = np.full(splits, -np.inf), np.full(splits, -np.inf)
        for lo in share:
            score = _half_scores(halves, moments, lo, min(lo + chunk, n))
            if kept is not None:
                kept[:, lo:lo + score.shape[1]] = score
            pick = np.argmax(score, axis=1)  # the first best within the chunk
            value = score[rows, pick]
            better = value > best_in  # strictly: the first best trial wins ties
            best_in[better] = value[better]
            best_out[better] = score[partner, pick][better]
        return best_in, best_out

    def counts_of(share: list[int], threshold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row, how many of the share's trials score below and equal to ``threshold``."""
        below, equal = np.zeros(splits), np.zeros(splits)
        for lo in share:
            score = scores(lo)
            below += (score < threshold).sum(axis=1)
            equal += (score == threshold).sum(axis=1)  # includes the best itself
        return below, equal

    with ThreadPoolExecutor(count) as pool:  # numpy frees the GIL in the arithmetic: the shares run side by side
        best_in, best_out = np.full(splits, -np.inf), np.full(splits, -np.inf)
        for share_in, share_out in pool.map(best_of, shares):  # in trial order: the first best wins ties
            better = share_in > best_in
            best_in[better], best_out[better] = share_in[better], share_out[better]
        threshold = best_out[partner][:, None]  # row j of the scores is the out-of-sample half of split partner[j]
        below, equal = np.zeros(splits), np.zeros(splits)
        for share_below, share_equal in pool.map(counts_of, shares, [threshold] * count):
            below += share_below
            equal += share_equal
    below, equal = below[partner], equal[partner]
    ranks = (below + (equal + 1.0) / 2.0) / (n + 1.0)
    logits = np.log(ranks / (1.0 - ranks))
    all_splits = math.comb(blocks, blocks // 2)
    return PBOResult(float(np.mean(logits <= 0.0)), ranks, logits, blocks, splits, all_splits, n)


# ------------------------------------------------------------------------------------------- Hansen's SPA

def spa_pvalue(benchmark: np.ndarray, candidates: np.ndarray, *, reps: int = SPA_REPS, seed: int = SEED,
               block_size: int = MEAN_BLOCK) -> dict[str, float]:
    """Hansen's test of superior predictive ability: can any of ``candidates`` (sessions x K daily returns) beat
    ``benchmark`` (daily returns on the same sessions)? ``reps`` stationary-bootstrap resamples of mean block
    ``block_size`` (``stationary_resample_sums``, seeded). Returns the "lower", "consistent" (Hansen's recommended)
    and "upper" p-values: small means some candidate beats the benchmark; NaN when a return is not finite.

    The statistic is ``arch.bootstrap.SPA``'s (``spa_from_resamples``; losses are negative returns): given the same
    resamples it gives arch's p-values exactly, and with its own draws they agree within Monte Carlo error (both
    tested). It is computed here because arch's takes ~0.36 s at 1,000 replications and 3,774 sessions (a Python
    loop over the replications that builds each resample, and an O(sessions^2) loop for the variances), more than
    the whole check may add to a 10,000-combination sweep; this takes ~0.03 s (block sums from prefix sums, the
    autocovariances by FFT)."""
    candidates = np.asarray(candidates, dtype=float)
    if candidates.ndim == 1:
        candidates = candidates[:, None]
    loss_diff = candidates - np.asarray(benchmark, dtype=float)[:, None]  # benchmark's loss minus each candidate's
    if not np.isfinite(loss_diff).all():  # a NaN would fail every comparison and read as p = 0, "beats it for sure"
        return {"lower": math.nan, "consistent": math.nan, "upper": math.nan}
    sums = stationary_resample_sums(loss_diff, reps=reps, seed=seed, block_size=block_size)
    return spa_from_resamples(loss_diff, sums / loss_diff.shape[0], block_size=block_size)


def spa_from_resamples(loss_diff: np.ndarray, resampled_means: np.ndarray, *, block_size: float) -> dict[str, float]:
    """The SPA p-values of ``loss_diff`` (sessions x K: the benchmark's loss minus each model's, so positive means
    the model is better) from the column means of its bootstrap resamples (reps x K), as ``arch.bootstrap.SPA`` 8.x
    computes them (non-nested; arch uses the variances only for the consistent p-value's threshold and does not
    divide the resampled means by them):

    - each column's variance: the stationary bootstrap's, ``(c_0 + 2 sum_i kappa_i c_i) / T`` with ``c_i`` the
      i-th autocovariance sum of the demeaned column and ``kappa_i = (1 - i/T)(1 - p)^i + (i/T)(1 - p)^(T - i)``,
      ``p = 1 / block_size`` (the autocovariances by FFT);
    - the recentring means: "upper" every column's mean, "consistent" 0 for the columns whose mean is below
      ``-sqrt(variance / T * 2 log log T)``, "lower" 0 for the columns with a negative mean;
    - each p-value: the share of resamples whose largest recentred mean is above the largest sample mean."""
    loss_diff = np.asarray(loss_diff, dtype=float)
    t = loss_diff.shape[0]
    mean = loss_diff.mean(axis=0)
    demeaned = loss_diff - mean
    size = 1 << max(1, int(math.ceil(math.log2(2 * t))))  # zero padding: no circular wrap of the lags
    spectrum = np.fft.rfft(demeaned, n=size, axis=0)
    autocov = np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=0)[:t]  # c_i, i = 0 .. T-1
    lag = np.arange(1, t)
    p = 1.0 / block_size
    kappa = (1.0 - lag / t) * (1.0 - p) ** lag + (lag / t) * (1.0 - p) ** (t - lag)
    variance = (autocov[0] + 2.0 * (kappa[:, None] * autocov[1:]).sum(axis=0)) / t
    valid = mean >= -np.sqrt(variance / t * 2.0 * np.log(np.log(t)))
    centres = {"lower": np.where(mean < 0, 0.0, mean),
               "consistent": np.where(valid, mean, 0.0), "upper": mean}
    observed = mean.max()
    return {key: float(np.mean((np.asarray(resampled_means) - centre).max(axis=1) > observed))
            for key, centre in centres.items()}


def stationary_resample_sums(values: np.ndarray, *, reps: int, seed: int, block_size: float) -> np.ndarray:
    """(reps x K) column sums of ``reps`` stationary-bootstrap resamples (Politis & Romano 1994) of ``values``
    (T x K): each resample is T sessions in blocks that start on a uniformly drawn session and run on (wrapping past
    the last session to the first) for a geometric number of sessions of mean ``block_size``, the last block cut at
    T. The sums come from prefix sums of the blocks (O(reps x T / block_size x K)), never from the resampled
    sessions. Seeded: the same inputs give the same sums."""
    values = np.asarray(values, dtype=float)
    t, k = values.shape
    p = 1.0 / block_size
    rng = np.random.default_rng(seed)
    expected = t * p  # blocks needed on average
    width = int(math.ceil(expected + 8.0 * math.sqrt(expected) + 16.0))
    lengths = rng.geometric(min(p, 1.0), size=(reps, width))
    ends = np.cumsum(lengths, axis=1)
    while (ends[:, -1] < t).any():  # seldom: more blocks for resamples that do not reach T sessions yet
        lengths = np.concatenate([lengths, rng.geometric(min(p, 1.0), size=(reps, width))], axis=1)
        ends = np.cumsum(lengths, axis=1)
    starts = rng.integers(0, t, size=lengths.shape)
    used = np.diff(np.minimum(ends, t), axis=1, prepend=0)  # each block's sessions within the resample (0 past T)
    prefix = np.zeros((2 * t + 1, k))
    np.cumsum(np.concatenate([values, values]), axis=0, out=prefix[1:])  # twice over: a block may wrap
    sums = np.empty((reps, k))
    step = max(1, 2_000_000 // (lengths.shape[1] * k))  # resamples per step: temporaries of ~2,000,000 floats
    for lo in range(0, reps, step):
        s, u = starts[lo:lo + step], used[lo:lo + step]
        sums[lo:lo + step] = (prefix[s + u] - prefix[s]).sum(axis=1)
    return sums


# ------------------------------------------------------------------------------------------- intervals

def resample_indices(sessions: int, *, reps: int = BOOTSTRAP_REPS, seed: int = SEED, block_size: int = MEAN_BLOCK) -> np.ndarray:
    """(reps x sessions) stationary-bootstrap resampling indexes (``arch.bootstrap.StationaryBootstrap``, mean block
    ``block_size``, seeded). Runs on the same sessions share them: their figures are then drawn on the same days."""
    from arch.bootstrap import StationaryBootstrap

    bs = StationaryBootstrap(block_size, np.arange(sessions), seed=seed)
    return np.stack([bs.update_indices() for _ in range(reps)]).astype(np.int32 if sessions < 2**31 else np.int64)


def _cagr(returns: np.ndarray, years: float) -> np.ndarray:
    """CAGR [%] of each row of session returns over ``years``."""
    growth = np.exp(np.log1p(returns).sum(axis=-1))
    return 100.0 * (growth ** (1.0 / years) - 1.0)


def _sharpe(excess: np.ndarray, periods: int = 252) -> np.ndarray:
    sd = excess.std(axis=-1, ddof=1)
    return np.where(sd > 0, excess.mean(axis=-1) / np.where(sd > 0, sd, 1.0) * math.sqrt(periods), np.nan)


def _max_drawdown(returns: np.ndarray) -> np.ndarray:
    """Max drawdown [%] (<= 0) of each row of session returns, from a starting value of 1."""
    value = np.cumprod(1.0 + returns, axis=-1)
    peak = np.maximum(np.maximum.accumulate(value, axis=-1), 1.0)
    return np.minimum(100.0 * (value / peak - 1.0).min(axis=-1), 0.0)


def bootstrap_intervals(returns: pd.Series, riskfree: np.ndarray | float = 0.0, *, years: float | None = None,
                        size: float = 0.95, reps: int = BOOTSTRAP_REPS, seed: int = SEED, block_size: int = MEAN_BLOCK,
                        indices: np.ndarray | None = None) -> dict[str, tuple[float, float]]:
    """Percentile intervals of ``size`` for CAGR [%], Sharpe (on returns in excess of ``riskfree``, per session or
    0.0) and Max drawdown [%] of a run, from ``reps`` stationary-bootstrap resamples of its session ``returns``
    (the risk-free return resampled with its session). ``years``: the calendar span the CAGR is over (default:
    sessions / 252). The resampled paths keep the run's length; the intervals say how much these figures could
    differ on another draw of the same kind of market, not on another market. ``indices``: ``resample_indices``
    already drawn (then ``reps``, ``seed`` and ``block_size`` are theirs)."""
    values = np.asarray(returns, dtype=float)
    rf = np.broadcast_to(np.asarray(riskfree, dtype=float), values.shape)
    idx = resample_indices(len(values), reps=reps, seed=seed, block_size=block_size) if indices is None else indices
    sample, rf_sample = values[idx], rf[idx]
    span = years if years else len(values) / 252.0
    tails = [(1.0 - size) / 2.0 * 100.0, (1.0 + size) / 2.0 * 100.0]
    out = {}
    for key, draws in (("CAGR [%]", _cagr(sample, span)), ("Sharpe", _sharpe(sample - rf_sample)),
                       ("Max drawdown [%]", _max_drawdown(sample))):
        if np.isnan(draws).all():  # e.g. Sharpe of a run that never varies: no interval (and no numpy warning)
            out[key] = (math.nan, math.nan)
            continue
        low, high = np.nanpercentile(draws, tails)
        out[key] = (float(low), float(high))
    return out


def prob_sharpe_beats(returns: np.ndarray, other: np.ndarray, riskfree: np.ndarray | float = 0.0, *,
                      reps: int = BOOTSTRAP_REPS, seed: int = SEED, block_size: int = MEAN_BLOCK,
                      indices: np.ndarray | None = None) -> float:
    """The share of stationary-bootstrap resamples (the same sessions drawn for both runs) in which the Sharpe of
    ``returns`` is above that of ``other`` (both in excess of ``riskfree``); ``indices`` as in ``bootstrap_intervals``."""
    a, b = np.asarray(returns, dtype=float), np.asarray(other, dtype=float)
    rf = np.broadcast_to(np.asarray(riskfree, dtype=float), a.shape)
    idx = resample_indices(len(a), reps=reps, seed=seed, block_size=block_size) if indices is None else indices
    ea, eb = a[idx] - rf[idx], b[idx] - rf[idx]
    return float(np.mean(np.nan_to_num(_sharpe(ea), nan=-np.inf) > np.nan_to_num(_sharpe(eb), nan=-np.inf)))


def inside(value: float, interval: tuple[float, float]) -> bool:
    """True when ``value`` lies within ``interval`` (inclusive)."""
    return interval[0] <= value <= interval[1]


# ------------------------------------------------------------------------------------------- the sentence

def verdict(trials: int, deflated: float, pbo_value: float | None, spa_p: float | None, *, level: float = 0.05,
            distinct: int | None = None) -> str:
    """One plain sentence on the best of a sweep, e.g. "best of 1,000 trials; deflated Sharpe 0.41; PBO 0.38; SPA
    p-value 0.62: this best cannot be told apart from luck" ("best of 1,000 trials (600 distinct)" when only
    ``distinct`` of them differ). The best holds up when its deflated Sharpe is at least 1 - ``level``, PBO below 0.5
    and the SPA p-value (when given) at most ``level``."""
    some = f" ({distinct:,} distinct)" if distinct is not None and distinct != trials else ""
    parts = [f"best of {trials:,} trial{'s' if trials != 1 else ''}{some}", f"deflated Sharpe {_two(deflated)}"]
    if pbo_value is not None:
        parts.append(f"PBO {_two(pbo_value)}")
    if spa_p is not None:
        parts.append(f"SPA p-value {_two(spa_p)}")
    if pbo_value is not None and pbo_value >= 0.5:
        why = "the in-sample best does no better than the median out of sample in half the splits or more: this best is overfit"
    elif deflated >= 1.0 - level and (spa_p is None or spa_p <= level):
        why = "this best is unlikely to be luck alone"
    else:
        why = "this best cannot be told apart from luck"
    return "; ".join(parts) + ": " + why


def _two(value: float | None) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.2f}"
