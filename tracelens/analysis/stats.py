"""Distribution-free statistics for comparing two samples of requests, in numpy only.

Used by canary judgement (tracelens.canary) and cohort diffs (tracelens.analysis.diff).
It lives in ``analysis`` (not ``canary``) so that both layers can import it.

* :func:`mann_whitney_u`: rank-sum test with tie correction, normal approximation with
  continuity correction, exact null distribution for small samples without ties
  (agrees with ``scipy.stats.mannwhitneyu``; checked in tests/analysis/test_stats.py).
* :func:`hodges_lehmann`: median of all pairwise differences ``y - x`` with the
  distribution-free (Moses) confidence interval read off the Mann-Whitney null
  distribution. Never materialises the ``n*m`` differences: order statistics of the
  differences are found by bisection with vectorised ``searchsorted`` counts, so
  10^5 x 10^5 requests cost milliseconds, not 10^10 subtractions.
* :func:`fisher_exact`: exact test for two proportions (2x2 table). Fisher rather than
  Barnard/Boschloo because canaries are judged on 10^3..10^6 requests: Boschloo is more
  powerful for small tables but costs O(n1*n2) tables per nuisance-parameter grid point,
  which is prohibitive at per-request sample sizes, while at those sizes Fisher's
  conservativeness is negligible. The hypergeometric tail is a cumulative sum of
  log-probability ratios, O(number of errors), exact and vectorised.
* :func:`binomial_test`: exact one-sample test against a fixed rate (absolute thresholds,
  percentile exceedance tests).
* :func:`percentile`: the linear-interpolation percentile (numpy's default), named so
  every caller uses the same definition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

Alternative = Literal["two-sided", "greater", "less"]
_NORMAL = NormalDist()
#: Exact Mann-Whitney null distribution is used up to this smaller-sample size (scipy: 8).
EXACT_MAX_SMALLER = 8
#: ... and up to this many cells in the distribution table (memory/time guard).
EXACT_MAX_CELLS = 2_000_000
#: Below this many pairs, differences are materialised and partitioned (faster than bisection).
MATERIALISE_MAX_PAIRS = 250_000


def _as_sample(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[~np.isnan(array)]


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z (accurate in the far tail, via erfc)."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def normal_quantile(p: float) -> float:
    """The standard normal quantile."""
    return _NORMAL.inv_cdf(p)


def percentile(values: npt.ArrayLike, q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation; NaN for no values."""
    sample = _as_sample(values)
    if sample.size == 0:
        return math.nan
    return float(np.percentile(sample, q))


# --- ranks ------------------------------------------------------------------------------


def average_ranks(values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Ranks 1..n with ties given their average rank, and the sizes of the tie groups."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    new_group = np.empty(values.size, dtype=bool)
    if values.size:
        new_group[0] = True
        new_group[1:] = sorted_values[1:] != sorted_values[:-1]
    starts = np.flatnonzero(new_group)
    sizes = np.diff(np.append(starts, values.size))
    # average of ranks start+1 .. start+size
    group_rank = starts + (sizes + 1) / 2.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(group_rank, sizes)
    return ranks, sizes.astype(np.int64)


# --- Mann-Whitney U ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MannWhitneyResult:
    """``statistic`` is U of the first sample (x); ``effect`` is U / (n_x n_y), the
    probability that a random x exceeds a random y (ties count half)."""

    statistic: float
    pvalue: float
    n_x: int
    n_y: int
    method: Literal["exact", "asymptotic"]
    alternative: Alternative
    z: float

    @property
    def effect(self) -> float:
        return self.statistic / (self.n_x * self.n_y) if self.n_x and self.n_y else math.nan


def mann_whitney_null_counts(n_x: int, n_y: int) -> npt.NDArray[np.float64]:
    """Number of arrangements giving each U = 0..n_x*n_y under H0 (no ties).

    These are the coefficients of the Gaussian binomial [n_x+n_y choose n_x]_q, built as
    prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i) with polynomial multiply/divide in float64
    (exact integers up to 2^53, then relative error ~1e-16, fine for p-values).
    """
    m, n = min(n_x, n_y), max(n_x, n_y)
    size = m * n + 1
    poly = np.zeros(size + n + m + 1, dtype=np.float64)
    poly[0] = 1.0
    for i in range(1, m + 1):
        shift = n + i
        poly[shift:] -= poly[:-shift].copy()  # multiply by (1 - q^(n+i))
        for r in range(i):  # divide by (1 - q^i): running sum with stride i
            poly[r::i] = np.cumsum(poly[r::i])
    return poly[:size]


def _exact_pvalue(u_x: float, n_x: int, n_y: int, alternative: Alternative) -> float:
    counts = mann_whitney_null_counts(n_x, n_y)
    pmf = counts / counts.sum()
    cdf = np.cumsum(pmf)
    u = int(round(u_x))
    p_le = float(cdf[u])
    p_ge = float(1.0 - cdf[u - 1]) if u > 0 else 1.0
    if alternative == "greater":
        return p_ge
    if alternative == "less":
        return p_le
    return min(1.0, 2.0 * min(p_le, p_ge))


def _u_sigma(n_x: int, n_y: int, tie_sizes: npt.NDArray[np.int64]) -> float:
    n = n_x + n_y
    tie_term = float(np.sum(tie_sizes.astype(np.float64) ** 3 - tie_sizes)) / (n * (n - 1)) if n > 1 else 0.0
    variance = n_x * n_y / 12.0 * ((n + 1) - tie_term)
    return math.sqrt(max(variance, 0.0))


def mann_whitney_u(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    alternative: Alternative = "two-sided",
    method: Literal["auto", "exact", "asymptotic"] = "auto",
    continuity: bool = True,
) -> MannWhitneyResult:
    """Mann-Whitney U test of x against y (same conventions as scipy.stats.mannwhitneyu).

    ``alternative="greater"``: x tends to be larger than y. ``method="auto"`` uses the
    exact null distribution when the smaller sample has at most 8 values and there are no
    ties, the tie-corrected normal approximation otherwise. NaNs are dropped.
    """
    xs, ys = _as_sample(x), _as_sample(y)
    n_x, n_y = xs.size, ys.size
    if n_x == 0 or n_y == 0:
        return MannWhitneyResult(math.nan, math.nan, n_x, n_y, "asymptotic", alternative, math.nan)
    ranks, tie_sizes = average_ranks(np.concatenate([xs, ys]))
    u_x = float(ranks[:n_x].sum() - n_x * (n_x + 1) / 2.0)
    has_ties = bool(np.any(tie_sizes > 1))
    if method == "auto":
        small = min(n_x, n_y) <= EXACT_MAX_SMALLER and (n_x * n_y + 1) * min(n_x, n_y) <= EXACT_MAX_CELLS
        method = "exact" if small and not has_ties else "asymptotic"
    mu = n_x * n_y / 2.0
    sigma = _u_sigma(n_x, n_y, tie_sizes)
    if method == "exact":
        p = _exact_pvalue(u_x, n_x, n_y, alternative)
        z = (u_x - mu) / sigma if sigma > 0 else 0.0
        return MannWhitneyResult(u_x, p, n_x, n_y, "exact", alternative, z)
    if sigma == 0:  # every value tied: no evidence either way
        return MannWhitneyResult(u_x, 1.0, n_x, n_y, "asymptotic", alternative, 0.0)
    correction = 0.5 if continuity else 0.0
    if alternative == "greater":
        z = (u_x - mu - correction) / sigma
        p = normal_sf(z)
    elif alternative == "less":
        z = (u_x - mu + correction) / sigma
        p = normal_sf(-z)
    else:
        u_big = max(u_x, n_x * n_y - u_x)
        z = (u_big - mu - correction) / sigma
        p = min(1.0, 2.0 * normal_sf(z))
        z = math.copysign(z, u_x - mu)
    return MannWhitneyResult(u_x, float(p), n_x, n_y, "asymptotic", alternative, float(z))


# --- Hodges-Lehmann -----------------------------------------------------------------------


def _first_index_le(x_sorted: npt.NDArray[np.float64], y: npt.NDArray[np.float64], d: float) -> npt.NDArray[np.int64]:
    """For each y_j, the first i with y_j - x_i <= d (x sorted ascending, so y_j - x_i
    falls with i). ``searchsorted(x, y - d)`` gives it up to floating-point rounding of
    ``y - d``; the fix-up loops compare the actual differences and jump whole groups of
    tied x values, so counts agree exactly with the differences a caller computes."""
    n = x_sorted.size
    if n == 0:
        return np.zeros(y.size, dtype=np.int64)
    idx = np.searchsorted(x_sorted, y - d, side="left")
    for _ in range(64):  # move left while the previous difference is still <= d
        prev = np.maximum(idx - 1, 0)
        step = (idx > 0) & (y - x_sorted[prev] <= d)
        if not step.any():
            break
        idx = np.where(step, np.searchsorted(x_sorted, x_sorted[prev], side="left"), idx)
    for _ in range(64):  # move right while the current difference is > d
        cur = np.minimum(idx, n - 1)
        step = (idx < n) & (y - x_sorted[cur] > d)
        if not step.any():
            break
        idx = np.where(step, np.searchsorted(x_sorted, x_sorted[cur], side="right"), idx)
    return idx


def _count_diffs_le(x_sorted: npt.NDArray[np.float64], y: npt.NDArray[np.float64], d: float) -> int:
    """How many pairwise differences y_j - x_i are <= d (x sorted ascending)."""
    idx = _first_index_le(x_sorted, y, d)
    return int(x_sorted.size * y.size - idx.sum())


def _smallest_diff_above(x_sorted: npt.NDArray[np.float64], y: npt.NDArray[np.float64], d: float) -> float:
    """min over pairs of y_j - x_i subject to y_j - x_i > d (inf if none)."""
    idx = _first_index_le(x_sorted, y, d) - 1  # the last x_i with y_j - x_i > d
    ok = idx >= 0
    if not ok.any():
        return math.inf
    return float((y[ok] - x_sorted[idx[ok]]).min())


def _diffs_between(x_sorted: npt.NDArray[np.float64], y: npt.NDArray[np.float64], lo: float, hi: float) -> npt.NDArray[np.float64]:
    """Every difference y_j - x_i with lo < d <= hi (ragged index ranges, vectorised)."""
    first = _first_index_le(x_sorted, y, hi)  # diff <= hi from here on
    stop = _first_index_le(x_sorted, y, lo)  # diff <= lo from here on
    lengths = np.maximum(stop - first, 0)
    total = int(lengths.sum())
    j = np.repeat(np.arange(y.size), lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    i = np.repeat(first, lengths) + offsets
    return y[j] - x_sorted[i]


def _initial_bracket(
    xs: npt.NDArray[np.float64], ys: npt.NDArray[np.float64], k: int, rng: np.random.Generator
) -> tuple[float, float]:
    """A bracket (lo, hi] likely to hold the k-th difference, from a random sample of
    pairs: its quantiles at k/N +- 5 standard errors. The caller verifies it."""
    total = xs.size * ys.size
    m = 5_000
    sample = np.sort(ys[rng.integers(0, ys.size, m)] - xs[rng.integers(0, xs.size, m)])
    p = k / total
    spread = 5.0 * math.sqrt(p * (1.0 - p) / m) + 2.0 / m
    lo_i = int(math.floor((p - spread) * m)) - 1
    hi_i = int(math.ceil((p + spread) * m))
    lo = float(sample[lo_i]) if lo_i >= 0 else float(ys[0] - xs[-1]) - 1.0
    hi = float(sample[hi_i]) if hi_i < m else float(ys[-1] - xs[0])
    return lo, hi


def pairwise_difference_order_statistic(
    x: npt.ArrayLike, y: npt.ArrayLike, k: int, *, method: Literal["auto", "bisect", "sort"] = "auto"
) -> float:
    """The k-th smallest (1-based) of the n_x*n_y differences y_j - x_i, exactly.

    Small inputs: materialise and partition. Large inputs: keep a bracket (lo, hi] with
    count(<= lo) < k <= count(<= hi) (counts by vectorised searchsorted, O(n log n)),
    start it from a random sample of pairs, bisect until it holds at most a few times
    n differences, then enumerate those and partition: exact, never n*m memory.
    """
    xs = np.sort(_as_sample(x))
    ys = np.sort(_as_sample(y))
    total = xs.size * ys.size
    if not 1 <= k <= total:
        msg = f"k must be in 1..{total}, got {k}"
        raise ValueError(msg)
    if method == "sort" or (method == "auto" and total <= MATERIALISE_MAX_PAIRS):
        return float(np.partition(np.subtract.outer(ys, xs).ravel(), k - 1)[k - 1])
    cap = max(4 * (xs.size + ys.size), 50_000)
    lo, hi = _initial_bracket(xs, ys, k, np.random.default_rng(k))
    c_lo, c_hi = _count_diffs_le(xs, ys, lo), _count_diffs_le(xs, ys, hi)
    if not c_lo < k:
        lo, c_lo = float(ys[0] - xs[-1]) - 1.0, 0
    if not k <= c_hi:
        hi, c_hi = float(ys[-1] - xs[0]), total
    for step in range(200):
        if c_hi - c_lo <= cap:
            break
        if step % 8 == 0:  # many tied differences: is the next one above lo already it?
            candidate = _smallest_diff_above(xs, ys, lo)
            if _count_diffs_le(xs, ys, candidate) >= k:
                return candidate
        mid = lo + (hi - lo) / 2.0
        if not lo < mid < hi:  # adjacent floats: every difference in (lo, hi] equals hi
            return hi
        c_mid = _count_diffs_le(xs, ys, mid)
        if c_mid >= k:
            hi, c_hi = mid, c_mid
        else:
            lo, c_lo = mid, c_mid
    inside = _diffs_between(xs, ys, lo, hi)
    return float(np.partition(inside, k - c_lo - 1)[k - c_lo - 1])


def pairwise_difference_order_statistics(x: npt.ArrayLike, y: npt.ArrayLike, ks: list[int]) -> dict[int, float]:
    """Several order statistics of the pairwise differences at once: small inputs are
    materialised and partitioned once for all ``ks``; large ones are selected one by one."""
    xs, ys = np.sort(_as_sample(x)), np.sort(_as_sample(y))
    total = xs.size * ys.size
    wanted = sorted(set(ks))
    if wanted and total <= MATERIALISE_MAX_PAIRS and 1 <= wanted[0] and wanted[-1] <= total:
        diffs = np.partition(np.subtract.outer(ys, xs).ravel(), [k - 1 for k in wanted])
        return {k: float(diffs[k - 1]) for k in wanted}
    return {k: pairwise_difference_order_statistic(xs, ys, k) for k in wanted}


@dataclass(frozen=True, slots=True)
class HodgesLehmannResult:
    """Shift estimate of y relative to x (positive: y larger) with a confidence interval."""

    shift: float
    low: float
    high: float
    confidence: float
    n_x: int
    n_y: int


def _ci_rank(n_x: int, n_y: int, confidence: float, tie_sizes: npt.NDArray[np.int64], has_ties: bool) -> int:
    """C such that [D_(C), D_(N+1-C)] covers the shift with >= ``confidence`` (0: unbounded)."""
    alpha_half = (1.0 - confidence) / 2.0
    n_pairs = n_x * n_y
    small = min(n_x, n_y) <= EXACT_MAX_SMALLER * 3 and (n_pairs + 1) * min(n_x, n_y) <= EXACT_MAX_CELLS
    if small and not has_ties:
        counts = mann_whitney_null_counts(n_x, n_y)
        cdf = np.cumsum(counts / counts.sum())
        # largest u with P(U <= u) <= alpha/2; C = u + 1 (P(U <= C - 1) <= alpha/2)
        below = np.flatnonzero(cdf <= alpha_half + 1e-12)
        return int(below[-1]) + 1 if below.size else 0
    sigma = _u_sigma(n_x, n_y, tie_sizes)
    c = math.floor(n_pairs / 2.0 - normal_quantile(1.0 - alpha_half) * sigma)
    return max(c, 0)


def hodges_lehmann(x: npt.ArrayLike, y: npt.ArrayLike, *, confidence: float = 0.95) -> HodgesLehmannResult:
    """Hodges-Lehmann estimate of the shift of y relative to x: the median of all
    pairwise differences y_j - x_i, with the distribution-free (Moses) interval
    [D_(C), D_(N+1-C)] where C comes from the Mann-Whitney null distribution (exact for
    small samples without ties, tie-corrected normal approximation otherwise)."""
    xs, ys = _as_sample(x), _as_sample(y)
    n_x, n_y = xs.size, ys.size
    if n_x == 0 or n_y == 0:
        return HodgesLehmannResult(math.nan, math.nan, math.nan, confidence, n_x, n_y)
    n_pairs = n_x * n_y
    _, tie_sizes = average_ranks(np.concatenate([xs, ys]))
    c = _ci_rank(n_x, n_y, confidence, tie_sizes, bool(np.any(tie_sizes > 1)))
    median_ks = [n_pairs // 2 + 1] if n_pairs % 2 else [n_pairs // 2, n_pairs // 2 + 1]
    ci_ks = [c, n_pairs + 1 - c] if c >= 1 else []
    found = pairwise_difference_order_statistics(xs, ys, median_ks + ci_ks)
    shift = float(np.mean([found[k] for k in median_ks]))
    low, high = (found[c], found[n_pairs + 1 - c]) if ci_ks else (-math.inf, math.inf)
    return HodgesLehmannResult(float(shift), float(low), float(high), confidence, n_x, n_y)


# --- proportions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProportionTestResult:
    """Exact test on a 2x2 table [[a, n_a - a], [b, n_b - b]]: is the rate a/n_a
    different from (greater/less than) b/n_b?"""

    a: int
    n_a: int
    b: int
    n_b: int
    pvalue: float
    odds_ratio: float
    alternative: Alternative

    @property
    def rate_a(self) -> float:
        return self.a / self.n_a if self.n_a else math.nan

    @property
    def rate_b(self) -> float:
        return self.b / self.n_b if self.n_b else math.nan


def _hypergeom_pmf(total: int, successes: int, draws: int) -> tuple[int, npt.NDArray[np.float64]]:
    """Support start and pmf of the number of successes among ``draws`` draws without
    replacement from ``total`` items of which ``successes`` are successes."""
    k_min = max(0, draws + successes - total)
    k_max = min(draws, successes)
    ks = np.arange(k_min, k_max, dtype=np.float64)
    # log pmf(k+1) - log pmf(k) = log((K-k)(n-k)) - log((k+1)(N-K-n+k+1))
    ratios = np.log((successes - ks) * (draws - ks)) - np.log((ks + 1.0) * (total - successes - draws + ks + 1.0))
    log_pmf = np.concatenate([[0.0], np.cumsum(ratios)])
    log_first = (
        math.lgamma(successes + 1)
        - math.lgamma(k_min + 1)
        - math.lgamma(successes - k_min + 1)
        + math.lgamma(total - successes + 1)
        - math.lgamma(draws - k_min + 1)
        - math.lgamma(total - successes - draws + k_min + 1)
        - (math.lgamma(total + 1) - math.lgamma(draws + 1) - math.lgamma(total - draws + 1))
    )
    return k_min, np.exp(log_pmf + log_first)


def fisher_exact(a: int, n_a: int, b: int, n_b: int, *, alternative: Alternative = "two-sided") -> ProportionTestResult:
    """Fisher's exact test for a/n_a vs b/n_b (same p-values as scipy.stats.fisher_exact
    on [[a, n_a-a], [b, n_b-b]]). ``greater``: the first rate is higher."""
    if not (0 <= a <= n_a and 0 <= b <= n_b):
        msg = f"counts must satisfy 0 <= a <= n_a and 0 <= b <= n_b, got {a}/{n_a}, {b}/{n_b}"
        raise ValueError(msg)
    c, d = n_a - a, n_b - b
    odds = (a * d) / (c * b) if c * b else (math.inf if a * d else math.nan)
    if n_a == 0 or n_b == 0 or a + b == 0 or c + d == 0:
        return ProportionTestResult(a, n_a, b, n_b, 1.0, odds, alternative)
    k_min, pmf = _hypergeom_pmf(n_a + n_b, a + b, n_a)
    i = a - k_min
    if alternative == "greater":
        p = float(pmf[i:].sum())
    elif alternative == "less":
        p = float(pmf[: i + 1].sum())
    else:
        # tables at least as extreme: probability <= observed (relative tolerance as scipy)
        p = float(pmf[pmf <= pmf[i] * (1.0 + 1e-7)].sum())
    return ProportionTestResult(a, n_a, b, n_b, min(1.0, p), odds, alternative)


def _binomial_pmf(n: int, p: float) -> npt.NDArray[np.float64]:
    """pmf of Binomial(n, p) over 0..n from cumulative log ratios (vectorised, exact
    to rounding; no per-k lgamma calls)."""
    if p <= 0.0 or p >= 1.0:
        pmf = np.zeros(n + 1)
        pmf[0 if p <= 0.0 else n] = 1.0
        return pmf
    ks = np.arange(n, dtype=np.float64)
    # log pmf(k+1) - log pmf(k) = log((n-k)/(k+1)) + log(p/(1-p))
    steps = np.log((n - ks) / (ks + 1.0)) + (math.log(p) - math.log1p(-p))
    log_pmf = n * math.log1p(-p) + np.concatenate([[0.0], np.cumsum(steps)])
    return np.exp(log_pmf)


def binomial_test(k: int, n: int, p: float, *, alternative: Alternative = "two-sided") -> float:
    """Exact binomial test p-value for k successes in n trials at rate p (as
    scipy.stats.binomtest; two-sided sums outcomes no more likely than k)."""
    if not 0 <= k <= n:
        msg = f"need 0 <= k <= n, got k={k}, n={n}"
        raise ValueError(msg)
    if n == 0:
        return 1.0
    pmf = _binomial_pmf(n, p)
    if alternative == "greater":
        return float(min(1.0, pmf[k:].sum()))
    if alternative == "less":
        return float(min(1.0, pmf[: k + 1].sum()))
    return float(min(1.0, pmf[pmf <= pmf[k] * (1.0 + 1e-7)].sum()))


def poisson_test(k: int, expected: float, *, alternative: Alternative = "two-sided") -> float:
    """Exact Poisson test p-value for ``k`` events when ``expected`` were expected
    (as scipy.stats.poisson cdf/sf; two-sided sums outcomes no more likely than k)."""
    if k < 0 or expected < 0:
        msg = f"need k >= 0 and expected >= 0, got k={k}, expected={expected}"
        raise ValueError(msg)
    if expected == 0:
        return 1.0 if (k == 0 or alternative == "less") else 0.0
    # enough of the support that the tail beyond it is negligible (> 12 sd above the mean)
    upper = int(max(k, expected + 12.0 * math.sqrt(expected) + 20.0)) + 1
    ks = np.arange(upper, dtype=np.float64)
    log_pmf = -expected + np.concatenate([[0.0], np.cumsum(math.log(expected) - np.log(ks[1:]))])
    pmf = np.exp(log_pmf)
    if alternative == "greater":
        return float(min(1.0, max(0.0, 1.0 - pmf[:k].sum())) if k < expected else min(1.0, pmf[k:].sum()))
    if alternative == "less":
        return float(min(1.0, pmf[: k + 1].sum()))
    return float(min(1.0, pmf[pmf <= pmf[k] * (1.0 + 1e-7)].sum()))
