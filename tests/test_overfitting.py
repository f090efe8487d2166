"""research.overfitting against independent computations: the deflated Sharpe from the paper's formula and worked
example, PBO against a brute-force CSCV on the full returns and on synthetic trials, SPA against a direct arch call,
and the coverage of the bootstrap intervals on returns of known mean."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from analyzers import stats
from research import overfitting as of


def moments_of(returns: np.ndarray, blocks: int = 16) -> of.BlockMoments:
    return of.BlockMoments(*stats.block_moments(returns, blocks))


def test_deflated_sharpe_matches_the_papers_worked_example():
    # Bailey & Lopez de Prado (2014), numerical example: 100 trials, 5 years of daily returns (T = 1,250), best
    # annualised Sharpe 2.5, variance of annualised Sharpes 0.5, skew -3, kurtosis 10 -> SR0 = 0.1132, DSR = 0.9004
    periods = 250
    sr, var = 2.5 / math.sqrt(periods), 0.5 / periods
    assert of.expected_max_sharpe(100, var) == pytest.approx(0.1132, abs=5e-5)
    assert of.deflated_sharpe(sr, 100, var, 1250, -3.0, 10.0) == pytest.approx(0.9004, abs=5e-5)


def test_deflated_sharpe_equals_hand_computation_on_returns():
    rng = np.random.default_rng(3)
    returns = rng.standard_t(5, size=(1000, 40)) * 0.01 + 0.0004
    frame = pd.DataFrame(returns)
    sharpes = frame.mean() / frame.std()
    best = int(sharpes.idxmax())
    x = frame[best]
    skew = ((x - x.mean()) ** 3).mean() / x.std(ddof=0) ** 3
    kurt = ((x - x.mean()) ** 4).mean() / x.std(ddof=0) ** 4
    var = sharpes.var()
    gamma = 0.5772156649015329
    sr0 = math.sqrt(var) * ((1 - gamma) * norm.ppf(1 - 1 / 40) + gamma * norm.ppf(1 - 1 / (40 * math.e)))
    expected = norm.cdf((sharpes[best] - sr0) * math.sqrt(999) / math.sqrt(1 - skew * sharpes[best] + (kurt - 1) / 4 * sharpes[best] ** 2))
    from_moments = moments_of(returns).sharpe()
    np.testing.assert_allclose(from_moments, sharpes.to_numpy(), rtol=1e-9)
    got_skew, got_kurt = of.shape_of(x.to_numpy())
    got = of.deflated_sharpe(from_moments[best], 40, float(np.var(from_moments, ddof=1)), 1000, got_skew, got_kurt)
    assert got == pytest.approx(expected, rel=1e-9)
    assert of.deflated_sharpe(sharpes[best], 1, 0.0, 1000, skew, kurt) > got  # one trial: no deflation


def brute_force_ranks(returns: np.ndarray, blocks: int) -> np.ndarray:
    """CSCV straight from the paper on the full returns matrix: per split, the in-sample best's OOS relative rank."""
    frame = pd.DataFrame(returns)
    edges = np.array_split(np.arange(len(frame)), blocks)
    ranks = []
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        rows_in = np.concatenate([edges[b] for b in chosen])
        rows_out = np.setdiff1d(np.arange(len(frame)), rows_in)
        sharpe_in = frame.iloc[rows_in].mean() / frame.iloc[rows_in].std()
        sharpe_out = frame.iloc[rows_out].mean() / frame.iloc[rows_out].std()
        pick = sharpe_in.idxmax()
        ranks.append(sharpe_out.rank()[pick] / (len(frame.columns) + 1))
    return np.array(ranks)


def test_pbo_equals_brute_force_cscv():
    rng = np.random.default_rng(5)
    returns = rng.normal(0.0003, 0.01, size=(300, 12))
    got = of.pbo(moments_of(returns, 6))
    expected = brute_force_ranks(returns, 6)
    assert got.splits == got.all_splits == 20
    # cscv_halves orders splits by their in-sample half: halves holding block 0, then their complements
    halves = of.cscv_halves(6)
    order = [list(itertools.combinations(range(6), 3)).index(tuple(np.flatnonzero(h))) for h in halves]
    np.testing.assert_allclose(got.ranks, expected[order], rtol=1e-12)
    assert got.pbo == pytest.approx(np.mean(expected <= 0.5))


def test_pbo_of_pure_noise_is_near_half_and_of_a_real_edge_near_zero():
    values, edged = [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        returns = rng.normal(0.0, 0.01, size=(1000, 100))
        values.append(of.pbo(moments_of(returns)).pbo)
        returns[:, 17] += 0.0025  # one trial with a real edge (annualised Sharpe ~4)
        edged.append(of.pbo(moments_of(returns)).pbo)
    # documented range: noise gives PBO 0.2..0.8 on a single draw (the splits share their blocks) and 0.35..0.65 on average
    assert all(0.2 <= v <= 0.8 for v in values), values
    assert 0.35 <= np.mean(values) <= 0.65, values
    assert max(edged) <= 0.05, edged


def test_pbo_sampled_splits_when_many_trials(monkeypatch):
    monkeypatch.setattr(of, "SPLIT_BUDGET", 1000)
    monkeypatch.setattr(of, "MIN_SPLITS", 40)
    returns = np.random.default_rng(1).normal(0.0, 0.01, size=(400, 50))
    result = of.pbo(moments_of(returns))
    assert result.splits == 40 and result.all_splits == 12870
    halves = of.cscv_halves(16, 50)
    np.testing.assert_array_equal(halves[:20] + halves[20:], 1.0)  # complementary pairs
    assert of.pbo(moments_of(returns)).pbo == result.pbo  # seeded


def spa_case(seed: int, edge: float, sessions: int = 800, models: int = 5):
    rng = np.random.default_rng(seed)
    bench = rng.normal(0.0003, 0.01, sessions)
    cands = 0.6 * bench[:, None] + rng.normal(0.0001, 0.008, (sessions, models))
    cands[:, 2] += edge
    return bench, cands


@pytest.mark.parametrize("seed, edge", [(11, 0.002), (12, 0.0), (13, -0.001), (14, 0.0006)])
def test_spa_statistic_equals_arch_given_arch_resamples(seed, edge):
    """The same resamples (arch's own StationaryBootstrap, as its SPA draws them) give arch's p-values exactly."""
    from arch.bootstrap import SPA, StationaryBootstrap

    bench, cands = spa_case(seed, edge)
    direct = SPA(-bench, -cands, block_size=21, reps=400, seed=7)
    direct.compute()
    loss_diff = cands - bench[:, None]
    draws = StationaryBootstrap(21, loss_diff, seed=7).bootstrap(400)
    means = np.array([data[0][0].mean(axis=0) for data in draws])
    got = of.spa_from_resamples(loss_diff, means, block_size=21)
    assert got == {k: float(v) for k, v in direct.pvalues.items()}


def test_spa_variances_equal_the_direct_sum_over_lags():
    """The FFT autocovariances equal arch's loop over lags: the consistent threshold flips at the same mean."""
    from arch.bootstrap import SPA

    bench, cands = spa_case(3, 0.0, sessions=500, models=3)
    direct = SPA(-bench, -cands, block_size=10, reps=10, seed=1)
    direct._compute_variance()  # arch's own O(T^2) loop
    loss_diff = cands - bench[:, None]
    t, mean = 500, loss_diff.mean(axis=0)
    threshold = -np.sqrt(direct._loss_diff_var / t * 2 * np.log(np.log(t)))
    # shift one column's mean to just above and just below arch's threshold: the consistent p-value follows it
    for side, nudge in (("valid", 1e-9), ("invalid", -1e-9)):
        shifted = loss_diff.copy()
        shifted[:, 0] += threshold[0] + nudge - mean[0]
        shifted[:, 1:] -= 1.0  # the others far below: only column 0 decides
        big = np.full((50, 3), -5.0)
        big[:, 0] = shifted[:, 0].mean() + np.linspace(-1e-3, 1e-3, 50)
        got = of.spa_from_resamples(shifted, big, block_size=10)
        centre = shifted[:, 0].mean() if side == "valid" else 0.0
        assert got["consistent"] == np.mean(big[:, 0] - centre > shifted[:, 0].mean())


def test_stationary_resample_sums_draw_whole_sessions_with_the_stationary_variance():
    t, block = 60, 5.0
    counts = of.stationary_resample_sums(np.eye(t), reps=20_000, seed=3, block_size=block)
    np.testing.assert_array_equal(counts.sum(axis=1), t)  # T sessions per resample
    assert np.all(counts == np.round(counts)) and counts.min() >= 0
    assert np.abs(counts.mean(axis=0) - 1.0).max() < 0.05  # every session equally likely (sd ~0.01)
    # the variance of a resampled mean is the stationary bootstrap's closed form (Politis & Romano 1994, eq. 6)
    x = np.random.default_rng(4).normal(size=(t, 1)).cumsum(axis=0) * 0.1 + np.sin(np.arange(t))[:, None]
    means = of.stationary_resample_sums(x, reps=40_000, seed=5, block_size=block)[:, 0] / t
    d = x[:, 0] - x[:, 0].mean()
    p = 1 / block
    closed = (d @ d + 2 * sum(((1 - i / t) * (1 - p) ** i + (i / t) * (1 - p) ** (t - i)) * (d[:-i] @ d[i:])
                              for i in range(1, t))) / t / t
    assert means.var() == pytest.approx(closed, rel=0.03)  # 40,000 draws: sd of the estimate ~0.7%
    assert means.mean() == pytest.approx(x.mean(), abs=4 * math.sqrt(closed / 40_000))


@pytest.mark.parametrize("seed, edge", [(11, 0.002), (12, 0.0), (14, 0.0006), (15, 0.0003)])
def test_spa_agrees_with_a_direct_arch_call(seed, edge):
    """Own draws: the p-values agree with arch's within Monte Carlo error (2,000 replications each: sd <= 0.011
    per p-value, so 0.05 is over three sd of the difference)."""
    from arch.bootstrap import SPA

    bench, cands = spa_case(seed, edge)
    direct = SPA(-bench, -cands, block_size=21, reps=2000, seed=7)
    direct.compute()
    got = of.spa_pvalue(bench, cands, reps=2000, seed=7, block_size=21)
    for key in ("lower", "consistent", "upper"):
        assert got[key] == pytest.approx(float(direct.pvalues[key]), abs=0.05)
    assert of.spa_pvalue(bench, cands, reps=2000, seed=7, block_size=21) == got  # byte-identical rerun


def test_spa_gives_no_p_value_on_returns_that_are_not_finite():
    bench, cands = spa_case(11, 0.002)
    cands[100, 1] = np.nan
    assert all(math.isnan(v) for v in of.spa_pvalue(bench, cands, reps=100, seed=1).values())
    assert of.verdict(10, 0.99, 0.1, None).endswith("this best is unlikely to be luck alone")  # n/a is not evidence
    assert "SPA p-value n/a" in of.verdict(10, 0.99, 0.1, math.nan)


def test_spa_finds_an_edge_and_not_a_handicap():
    bench, cands = spa_case(11, 0.002)
    assert of.spa_pvalue(bench, cands, reps=1000, seed=1)["consistent"] < 0.05
    bench, cands = spa_case(13, -0.001)
    assert of.spa_pvalue(bench, cands, reps=1000, seed=1)["consistent"] > 0.2


def test_bootstrap_sharpe_interval_covers_the_true_sharpe():
    mu, sigma, covered = 0.0005, 0.01, 0
    series = 60
    for seed in range(series):
        returns = np.random.default_rng(100 + seed).normal(mu, sigma, 500)
        low, high = of.bootstrap_intervals(returns, reps=300, seed=seed, block_size=5)["Sharpe"]
        covered += low <= mu / sigma * math.sqrt(252) <= high
    assert 0.85 * series <= covered <= series  # nominal 95% (binomial sd ~3% at 60 series)


def test_bootstrap_intervals_are_seeded_and_hold_the_measured_figures():
    returns = pd.Series(np.random.default_rng(2).normal(0.0004, 0.012, 1000))
    rf = np.full(1000, 0.0001)
    a = of.bootstrap_intervals(returns, rf, years=1000 / 252)
    assert a == of.bootstrap_intervals(returns, rf, years=1000 / 252)
    equity = 100 * np.cumprod(np.r_[1.0, 1 + returns.to_numpy()])
    cagr = 100 * ((equity[-1] / equity[0]) ** (252 / 1000) - 1)
    assert of.inside(cagr, a["CAGR [%]"]) and a["CAGR [%]"][0] < a["CAGR [%]"][1]
    assert of.inside(stats.sharpe(returns, rf), a["Sharpe"])
    assert a["Max drawdown [%]"][1] <= 0
    assert not of.inside(99.0, a["CAGR [%]"])


def test_prob_sharpe_beats():
    rng = np.random.default_rng(4)
    a = rng.normal(0.001, 0.01, 1000)
    assert of.prob_sharpe_beats(a, a - 0.0008, reps=200) == 1.0
    assert of.prob_sharpe_beats(a - 0.0008, a, reps=200) == 0.0
    noise = of.prob_sharpe_beats(a, rng.normal(0.001, 0.01, 1000), reps=200)
    assert 0.0 < noise < 1.0


def test_verdict_sentence():
    assert of.verdict(1000, 0.41, 0.38, 0.2) == ("best of 1,000 trials; deflated Sharpe 0.41; PBO 0.38; SPA p-value 0.20: "
                                                "this best cannot be told apart from luck")
    assert of.verdict(5, 0.99, 0.1, 0.01).endswith("unlikely to be luck alone")
    assert of.verdict(5, 0.99, 0.7, 0.01).endswith("half the splits or more: this best is overfit")


def test_interval_of_a_run_that_never_varies_is_empty_without_warnings():
    import warnings

    flat = pd.Series(np.zeros(300))  # idle cash earning 0%
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = of.bootstrap_intervals(flat, reps=50)
    assert all(math.isnan(v) for v in out["Sharpe"]) and out["CAGR [%]"] == (0.0, 0.0)
    assert out["Max drawdown [%]"] == (0.0, 0.0)


@pytest.mark.parametrize("blocks, trials, splits", [(16, 100, 12870), (22, 10, 200_000), (64, 10_000, 1_000)])
def test_cscv_halves_beyond_twenty_blocks_are_sampled_not_listed(blocks, trials, splits):
    """C(64, 32) = 1.8e18 halves cannot be listed: a seeded sample of distinct complementary pairs, in well under a
    second and a few MB (a listing killed the process at --pbo-blocks 100000)."""
    import time

    started = time.perf_counter()
    halves = of.cscv_halves(blocks, trials)
    assert time.perf_counter() - started < 5.0
    pairs = len(halves) // 2
    assert len(halves) == splits and (halves[:pairs] + halves[pairs:] == 1.0).all()
    assert (halves[:pairs, 0] == 1.0).all() and (halves.sum(axis=1) == blocks // 2).all()
    assert len({tuple(row) for row in halves[:pairs]}) == pairs  # distinct
    assert (of.cscv_halves(blocks, trials) == halves).all()  # seeded
    if blocks > 20:  # every other block is drawn about equally often
        share = halves[:pairs, 1:].mean(axis=0)
        assert np.abs(share - (blocks // 2 - 1) / (blocks - 1)).max() < 0.06
