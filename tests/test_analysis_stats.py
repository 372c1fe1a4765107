"""Our numpy statistics against scipy (test-only dependency) and brute force on fixed samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tracelens.analysis import stats

scipy_stats = pytest.importorskip("scipy.stats")

RNG = np.random.default_rng(20260101)
SAMPLES = {
    "small-no-ties": (np.array([1.1, 2.3, 3.7, 0.4, 5.5]), np.array([2.2, 6.1, 7.3, 4.4, 8.8, 9.1])),
    "small-ties": (np.array([1, 2, 2, 3, 5, 5, 5]), np.array([2, 3, 3, 4, 6, 6, 7, 8])),
    "medium-lognormal": (RNG.lognormal(4.6, 0.5, 120), RNG.lognormal(4.8, 0.5, 95)),
    "large-rounded": (np.round(RNG.lognormal(4.6, 0.5, 1500)), np.round(RNG.lognormal(4.65, 0.5, 1200))),
    "all-equal-but-one": (np.zeros(40), np.r_[np.zeros(39), 1.0]),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_mann_whitney_matches_scipy(name, alternative):
    x, y = SAMPLES[name]
    ours = stats.mann_whitney_u(x, y, alternative=alternative)
    theirs = scipy_stats.mannwhitneyu(x, y, alternative=alternative, method=ours.method)
    assert ours.statistic == pytest.approx(theirs.statistic)
    assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-14)


@pytest.mark.parametrize("n_x,n_y", [(3, 4), (5, 8), (8, 8), (2, 20), (8, 30)])
def test_exact_mann_whitney_matches_scipy(n_x, n_y):
    rng = np.random.default_rng(n_x * 100 + n_y)
    x, y = rng.normal(0, 1, n_x), rng.normal(0.7, 1, n_y)
    for alternative in ("two-sided", "greater", "less"):
        ours = stats.mann_whitney_u(x, y, alternative=alternative, method="exact")
        theirs = scipy_stats.mannwhitneyu(x, y, alternative=alternative, method="exact")
        assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-9)


def test_null_distribution_counts_are_gaussian_binomial():
    counts = stats.mann_whitney_null_counts(3, 4)
    assert counts.sum() == math.comb(7, 3)
    assert list(counts) == list(counts[::-1])  # symmetric
    assert list(counts[:4]) == [1, 1, 2, 3]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_hodges_lehmann_shift_is_median_of_pairwise_differences(name):
    x, y = SAMPLES[name]
    result = stats.hodges_lehmann(x, y)
    diffs = np.subtract.outer(np.asarray(y, float), np.asarray(x, float)).ravel()
    assert result.shift == pytest.approx(float(np.median(diffs)))
    # every bound is an actual order statistic of the differences
    ordered = np.sort(diffs)
    for bound in (result.low, result.high):
        if math.isfinite(bound):
            assert np.any(ordered == bound)
    assert result.low <= result.shift <= result.high


def test_order_statistics_exact_against_sorting():
    x, y = SAMPLES["medium-lognormal"]
    ordered = np.sort(np.subtract.outer(y, x).ravel())
    for k in (1, 2, 17, 5000, ordered.size // 2, ordered.size - 1, ordered.size):
        for method in ("bisect", "sort"):
            assert stats.pairwise_difference_order_statistic(x, y, k, method=method) == ordered[k - 1]
    xr, yr = SAMPLES["small-ties"]  # ties: many equal differences
    ordered = np.sort(np.subtract.outer(yr.astype(float), xr.astype(float)).ravel())
    for k in range(1, ordered.size + 1):
        assert stats.pairwise_difference_order_statistic(xr, yr, k, method="bisect") == ordered[k - 1]


def test_hodges_lehmann_interval_small_exact_matches_textbook():
    # Hollander & Wolfe style: with n=m=5 the exact 95.2 % interval uses C = 3
    # (P(U <= 2) = 4/252 = 0.0159 <= 0.025 < P(U <= 3) = 7/252).
    x = np.array([1.0, 2.0, 4.0, 7.0, 11.0])
    y = np.array([3.0, 5.5, 8.0, 12.5, 20.0])
    result = stats.hodges_lehmann(x, y, confidence=0.95)
    ordered = np.sort(np.subtract.outer(y, x).ravel())
    assert result.low == ordered[2]
    assert result.high == ordered[25 - 3]


def test_hodges_lehmann_interval_covers_true_shift_about_95_percent():
    rng = np.random.default_rng(7)
    covered = 0
    trials = 300
    for _ in range(trials):
        x = rng.exponential(100.0, 30)
        y = rng.exponential(100.0, 25) + 40.0
        r = stats.hodges_lehmann(x, y, confidence=0.95)
        covered += r.low <= 40.0 <= r.high
    assert 0.91 <= covered / trials <= 0.99


def test_hodges_lehmann_large_samples_fast_and_close_to_shift():
    rng = np.random.default_rng(3)
    x = rng.lognormal(5, 0.6, 20_000)
    y = rng.lognormal(5, 0.6, 20_000) + 25.0
    r = stats.hodges_lehmann(x, y)
    assert r.low < 25.0 < r.high
    assert r.high - r.low < 10.0


FISHER_TABLES = [(0, 6000, 0, 6000), (4, 600, 0, 12000), (3, 10, 1, 12), (25, 1000, 1, 1000), (0, 5, 5, 5), (7, 7, 0, 3), (150, 100_000, 120, 100_000)]


@pytest.mark.parametrize("table", FISHER_TABLES)
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_fisher_matches_scipy(table, alternative):
    a, n_a, b, n_b = table
    ours = stats.fisher_exact(a, n_a, b, n_b, alternative=alternative)
    theirs = scipy_stats.fisher_exact([[a, n_a - a], [b, n_b - b]], alternative=alternative)
    assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-7, abs=1e-300)


@pytest.mark.parametrize("k,n,p", [(0, 10, 0.1), (3, 10, 0.1), (25, 1000, 0.01), (9, 1000, 0.01), (120, 1500, 0.05), (990, 1000, 0.99)])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_binomial_matches_scipy(k, n, p, alternative):
    ours = stats.binomial_test(k, n, p, alternative=alternative)
    theirs = scipy_stats.binomtest(k, n, p, alternative=alternative).pvalue
    assert ours == pytest.approx(theirs, rel=1e-7, abs=1e-300)


def test_percentile_is_linear_interpolation():
    assert stats.percentile([1, 2, 3, 4], 50) == 2.5
    assert math.isnan(stats.percentile([], 95))


@pytest.mark.parametrize("k,mu", [(0, 3.0), (3, 3.0), (12, 3.0), (80, 100.0), (130, 100.0), (5000, 5200.0)])
def test_poisson_matches_scipy(k, mu):
    assert stats.poisson_test(k, mu, alternative="greater") == pytest.approx(scipy_stats.poisson.sf(k - 1, mu), rel=1e-7, abs=1e-300)
    assert stats.poisson_test(k, mu, alternative="less") == pytest.approx(scipy_stats.poisson.cdf(k, mu), rel=1e-7, abs=1e-300)


def test_hodges_lehmann_on_heavily_tied_large_samples_is_fast_and_exact():
    x = np.full(6000, 100.0)
    y = np.r_[np.full(500, 100.0), np.full(100, 900.0)]
    r = stats.hodges_lehmann(x, y)
    assert r.shift == 0.0
    for k in (1, 3_000_000, 3_600_000):
        assert stats.pairwise_difference_order_statistic(x, y, k, method="bisect") == (0.0 if k <= 3_000_000 else 800.0)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_values = st.lists(st.integers(min_value=0, max_value=30).map(lambda v: v / 4), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(x=_values, y=_values, data=st.data())
def test_order_statistic_bisection_equals_sorting_on_tied_data(x, y, data):
    xs, ys = np.asarray(x), np.asarray(y)
    ordered = np.sort(np.subtract.outer(ys, xs).ravel())
    k = data.draw(st.integers(min_value=1, max_value=ordered.size))
    assert stats.pairwise_difference_order_statistic(xs, ys, k, method="bisect") == ordered[k - 1]


@settings(max_examples=40, deadline=None)
@given(x=_values, y=_values)
def test_mann_whitney_matches_scipy_on_random_tied_samples(x, y):
    ours = stats.mann_whitney_u(x, y)
    theirs = scipy_stats.mannwhitneyu(x, y, method=ours.method)
    assert ours.statistic == pytest.approx(theirs.statistic)
    if not np.isnan(theirs.pvalue):
        assert ours.pvalue == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-12)
