#!/usr/bin/env python3
"""Reference values for podbench's compare statistics, computed independently of the Swift code:
the Hodges-Lehmann shift and its Mann-Whitney confidence interval, with the exact null
distribution of U found by enumerating every split of the m + n ranks (not by the recursion the
Swift code uses). Prints the fixtures that Tests/PodBenchReportTests/ShiftEstimateTests.swift holds.

    python3 scripts/stat-fixtures.py
"""
import itertools
import math
import statistics


def null_cdf(m, n):
    counts = {}
    for a_ranks in itertools.combinations(range(m + n), m):
        a = set(a_ranks)
        u = sum(1 for i in a for j in range(m + n) if j not in a and j > i)  # pairs with b > a
        counts[u] = counts.get(u, 0) + 1
    total = math.comb(m + n, m)
    cdf, running = [], 0
    for u in range(m * n + 1):
        running += counts.get(u, 0)
        cdf.append(running / total)
    return cdf


def shift(a, b, confidence=0.95):
    d = sorted(y - x for y in b for x in a)
    est = statistics.median(d)
    cdf = null_cdf(len(a), len(b))
    best = None
    for k in range(1, len(d) // 2 + 2):
        if cdf[k - 1] <= (1 - confidence) / 2:
            best = (k, cdf[k - 1])
        else:
            break
    if best is None:
        return est, None, None, None
    k, tail = best
    return est, d[k - 1], d[len(d) - k], 1 - 2 * tail


fixtures = [
    ([10.0, 11.0, 12.0, 13.0, 14.0], [12.0, 13.5, 14.0, 15.0, 16.5]),
    ([1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 10.0]),
    ([0.5, 0.7, 0.2, 0.9, 0.4, 0.6], [0.8, 1.1, 0.9, 1.4, 1.0, 1.2, 0.95]),
    ([5.0, 5.1, 4.9], [6.0, 6.1, 5.9]),
    ([100.0, 102.0, 98.0, 101.0, 99.0, 100.5, 97.5, 103.0], [90.0, 91.0, 89.5, 92.0, 88.0, 90.5, 91.5, 93.0]),
]
for a, b in fixtures:
    est, lo, hi, conf = shift(a, b)
    print(f"a={a} b={b}: estimate={est!r} lower={lo!r} upper={hi!r} confidence={conf!r}")
for m, n in [(5, 5), (3, 3), (4, 4), (10, 10)]:
    cdf = null_cdf(m, n)
    k = max([k for k in range(1, m * n // 2 + 2) if cdf[k - 1] <= 0.025], default=None)
    print(f"m={m} n={n}: k={k}")
