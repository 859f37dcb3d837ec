"""How sure the numbers are: the one place the report, verdict, model card, tables and
selection get their intervals, paired tests and "tied" marks from.

Choices (docs/mobile-testing.md explains how to read them):

- An accuracy on a set of images is k correct of n, and its 95% interval is the **Wilson
  score interval**. It stays inside [0, 1], is not degenerate at 0/n or n/n (the Wald
  interval is), and covers close to 95% even for a dozen images, where the exact
  Clopper-Pearson interval is wider than it needs to be (it guarantees *at least* 95%).
- A drop between two paths on the *same* images is a paired comparison: only the images one
  path gets right and the other wrong (the discordant pairs) carry information. The test is
  the **exact McNemar test** (a two-sided binomial test of the discordant pairs at 1/2), right
  for the small counts of a holdout; the interval of the difference is **Newcombe's hybrid
  score interval for paired proportions** (Newcombe 1998, method 10), built from the two
  Wilson intervals and so well behaved at 0 and 1 as well.
- Grid cells are compared **paired over the same folds**: the per-fold difference to the
  best cell, its mean and a Student-t 95% interval. A cell whose interval reaches 0 is
  *tied* with the best: the folds cannot tell them apart.

These are a few lines each, written out here so the formulas are visible; the tests check
them against scipy (``binomtest(...).proportion_ci``) and published values.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: two-sided 95%


def wilson_interval(correct: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``correct`` / ``n``; (nan, nan) when n is 0."""
    if n <= 0:
        return (math.nan, math.nan)
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # at 0/n and n/n the bound is exactly 0 or 1; rounding must not leave 1e-17 outside
    low = 0.0 if correct == 0 else max(0.0, centre - half)
    return (low, 1.0 if correct == n else min(1.0, centre + half))


def mcnemar_exact(only_first: int, only_second: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs (images only the first,
    or only the second, gets right) as a binomial test at 1/2. 1.0 when there are none."""
    n = only_first + only_second
    if n == 0:
        return 1.0
    k = min(only_first, only_second)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_difference_interval(
    both: int, only_first: int, only_second: int, neither: int, z: float = Z95
) -> tuple[float, float]:
    """Newcombe's (1998, method 10) interval of p_first - p_second on the same images,
    from the 2×2 table of right/wrong (both right, only first, only second, neither)."""
    n = both + only_first + only_second + neither
    if n == 0:
        return (math.nan, math.nan)
    p1, p2 = (both + only_first) / n, (both + only_second) / n
    l1, u1 = wilson_interval(both + only_first, n, z)
    l2, u2 = wilson_interval(both + only_second, n, z)
    margins = (both + only_first) * (only_second + neither) * (both + only_second)
    margins *= only_first + neither
    # Newcombe's phi: the 2×2 correlation, shrunk towards 0 by n/2 when positive
    product = both * neither - only_first * only_second
    shrunk = product - n / 2 if product > n / 2 else min(product, 0)
    phi = shrunk / math.sqrt(margins) if margins else 0.0
    lower = math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return (max(-1.0, p1 - p2 - lower), min(1.0, p1 - p2 + upper))


def paired_drop(first_right, second_right) -> dict:
    """The drop p_first - p_second between two paths on the same images (boolean
    sequences in the same image order): difference, its interval, exact McNemar p."""
    pairs = list(zip(first_right, second_right, strict=True))
    both = sum(1 for a, b in pairs if a and b)
    only_first = sum(1 for a, b in pairs if a and not b)
    only_second = sum(1 for a, b in pairs if b and not a)
    neither = len(pairs) - both - only_first - only_second
    low, high = paired_difference_interval(both, only_first, only_second, neither)
    return dict(
        drop=(only_first - only_second) / len(pairs) if pairs else math.nan,
        drop_low=low,
        drop_high=high,
        p_value=mcnemar_exact(only_first, only_second),
        discordant=f"{only_first}/{only_second}",
    )


def decide_against(correct: int, n: int, threshold: float) -> str:
    """'pass' when the whole 95% interval is at or above ``threshold``, 'fail' when it is
    wholly below, 'undecided' when it straddles it (or there are no images)."""
    low, high = wilson_interval(correct, n)
    if n <= 0:
        return "undecided"
    if low >= threshold:
        return "pass"
    if high < threshold:
        return "fail"
    return "undecided"


def images_needed(accuracy: float, threshold: float, limit: int = 1_000_000) -> int | None:
    """How many images the interval needs to clear ``threshold`` if the accuracy stays at
    the measured value: the smallest n whose Wilson interval at ``accuracy`` lies wholly on
    one side. None when the accuracy equals the threshold (no n decides) or beyond limit."""
    if not math.isfinite(accuracy) or accuracy == threshold:
        return None

    def decided(n: int) -> bool:
        low, high = wilson_interval(accuracy * n, n)
        return low >= threshold if accuracy > threshold else high < threshold

    high = 1
    while not decided(high):
        high *= 2
        if high > limit:
            return None
    low = high // 2
    while high - low > 1:  # decided(n) is monotone in n: bisect to the first decided n
        middle = (low + high) // 2
        low, high = (low, middle) if decided(middle) else (middle, high)
    return high


def t_quantile(df: int) -> float:
    """Student t's 97.5% quantile (two-sided 95%) for ``df`` degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def paired_gap(best: list[float], other: list[float]) -> tuple[float, float, float]:
    """Mean of best - other over the same folds and its 95% t interval. With one fold the
    interval is unbounded (one number cannot show a spread)."""
    gaps = [a - b for a, b in zip(best, other, strict=True)]
    k = len(gaps)
    if k == 0:
        return (math.nan, math.nan, math.nan)
    mean = sum(gaps) / k
    if k == 1:
        return (mean, -math.inf, math.inf)
    sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / (k - 1))
    half = t_quantile(k - 1) * sd / math.sqrt(k)
    return (mean, mean - half, mean + half)


def percent_interval(correct: int, n: int) -> str:
    """'83% (10/12; 95% CI 55-95%)': an accuracy as the report and card state it."""
    if n <= 0:
        return "n/a (0 images)"
    low, high = wilson_interval(correct, n)
    return f"{correct / n:.0%} ({correct}/{n}; 95% CI {low:.0%}-{high:.0%})"


def tolerance_statement(folds, chosen, tolerance_points: float) -> str:
    """Reduction's tolerance in the terms of the grid's ties. ``folds``: per-fold accuracy,
    one column per cell (a DataFrame); ``chosen``: the chosen column. The chosen cell's gap
    to the best cell, paired over the same folds, with its 95% interval (or, when the chosen
    cell is the best, the runner-up's gap), and whether the tolerance is finer than that."""
    means = folds.mean().sort_values(ascending=False, kind="stable")
    best = means.index[0]
    other = chosen if chosen != best else (means.index[1] if len(means) > 1 else None)
    if other is None:
        return f"one cell: the {tolerance_points:g}-point tolerance compares nothing"
    pair = folds[[best, other]].dropna()
    mean, low, high = (100 * v for v in paired_gap(pair[best].tolist(), pair[other].tolist()))
    who = "the chosen cell" if other == chosen else "the chosen cell is the best; the runner-up"
    if not math.isfinite(low):
        return f"{who} is {mean:.1f} points below the best; one fold cannot show the noise"
    half = (high - low) / 2
    tied = "tied: within fold noise" if low <= 0 else "beyond fold noise"
    finer = "finer than" if tolerance_points < half else "no finer than"
    return (
        f"{who} is {mean:.1f} points below the best cell (95% interval of the paired per-fold "
        f"gap {low:.1f} to {high:.1f} points: {tied}); the {tolerance_points:g}-point tolerance "
        f"is {finer} the fold noise of ±{half:.1f} points"
    )
