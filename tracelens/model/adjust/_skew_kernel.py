"""Compiled top-down pass of the clock-skew adjuster (see clock_skew.py)."""

from __future__ import annotations

import numpy as np
from numba import njit

NO_WARNING, MAX_DELTA_EXCEEDED, DISABLED, MISSING_PARENT = 0, 1, 2, 3


@njit(cache=True)
def _skew(p_start, p_dur, c_start, c_dur):
    # Jaeger's calculateSkew: centre the child in its (already adjusted) parent
    if c_dur > p_dur:
        return p_start - c_start if c_start < p_start else 0
    if c_start >= p_start and c_start + c_dur <= p_start + p_dur:
        return 0
    return p_start + (p_dur - c_dur) // 2 - c_start


@njit(cache=True)
def skew_shifts(parent, host, start, duration, max_delta):
    """Per row: the shift applied, a warning code and the skew computed (applied or not).

    ``parent`` is the parent's row (-1 for roots, -2 when the parent id is missing),
    ``host`` a host-key code (-1 = unknown: always compared with the parent)."""
    n = parent.shape[0]
    count = np.zeros(n + 1, np.int64)
    for i in range(n):
        if parent[i] >= 0:
            count[parent[i] + 1] += 1
    for i in range(n):
        count[i + 1] += count[i]
    kids = np.empty(max(count[n], 1), np.int64)
    fill = count[:-1].copy()
    for i in range(n):
        if parent[i] >= 0:
            kids[fill[parent[i]]] = i
            fill[parent[i]] += 1
    shift = np.zeros(n, np.int64)
    warning = np.zeros(n, np.int8)
    skew_host = np.full(n, -1, np.int64)
    skew_delta = np.zeros(n, np.int64)
    stack = np.empty(n, np.int64)
    for r in range(n):
        if parent[r] >= 0:
            continue
        if parent[r] == -2:
            warning[r] = MISSING_PARENT
        skew_host[r] = host[r]
        top = 1
        stack[0] = r
        while top > 0:
            top -= 1
            p = stack[top]
            for j in range(count[p], count[p + 1]):
                c = kids[j]
                if host[c] != skew_host[p] or host[c] < 0:
                    skew_host[c] = host[c]
                    skew_delta[c] = _skew(start[p] + shift[p], duration[p], start[c], duration[c])
                else:
                    skew_host[c] = skew_host[p]
                    skew_delta[c] = skew_delta[p]
                delta = skew_delta[c]
                if delta != 0:
                    if abs(delta) > max_delta:
                        warning[c] = DISABLED if max_delta == 0 else MAX_DELTA_EXCEEDED
                    else:
                        shift[c] = delta
                stack[top] = c
                top += 1
    return shift, warning, skew_delta
