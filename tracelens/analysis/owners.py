"""Owning ancestors: for every span, the nearest span at or above it that starts a call.

Parent rows come from the bulk trace kernels (tracelens.analysis.columnar); this walks
them once, iteratively with memoisation, so ten million spans cost one pass and a
50,000-deep chain needs no recursion. Arrays are indexed by row; -1 means "no row".
"""

from __future__ import annotations

import numba
import numpy as np
import numpy.typing as npt


@numba.njit(cache=True)
def _owners(parent_row, is_entry):  # type: ignore[no-untyped-def]
    n = parent_row.shape[0]
    unknown, visiting = -2, -3
    owner = np.full(n, unknown, dtype=np.int64)
    path = np.empty(n, dtype=np.int64)
    for i in range(n):
        if owner[i] != unknown:
            continue
        depth = 0
        j = i
        result = -1
        while True:
            state = owner[j]
            if state >= -1:
                result = state
                break
            if state == visiting:  # a parent cycle (bad data): treat as ownerless
                result = -1
                break
            if is_entry[j]:
                owner[j] = j
                result = j
                break
            owner[j] = visiting
            path[depth] = j
            depth += 1
            p = parent_row[j]
            if p < 0:
                result = -1
                break
            j = p
        for k in range(depth):
            owner[path[k]] = result
    return owner


def owning_entries(parent_row: npt.NDArray[np.int64], is_entry: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """For every row, the nearest row at or above it (following parents) with ``is_entry``
    set, or -1. Iterative with memoisation: O(rows), no recursion, parent cycles tolerated."""
    return _owners(np.ascontiguousarray(parent_row, dtype=np.int64), np.ascontiguousarray(is_entry, dtype=np.bool_))  # type: ignore[no-any-return]


@numba.njit(cache=True)
def _sum_by_owner(owner, critical, service, n_services):  # type: ignore[no-untyped-def]
    by_entry = np.zeros(owner.shape[0], dtype=np.int64)
    by_service = np.zeros(n_services, dtype=np.int64)
    for i in range(owner.shape[0]):
        c = critical[i]
        if c <= 0:
            continue
        o = owner[i]
        if o >= 0:
            by_entry[o] += c
        else:
            by_service[service[i]] += c
    return by_entry, by_service


def critical_time_by_owner(
    parent_row: npt.NDArray[np.int64],
    is_entry: npt.NDArray[np.bool_],
    critical: npt.NDArray[np.int64],
    service: npt.NDArray[np.int32],
    n_services: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Critical-path ns summed per owning entry row, and, for rows no entry owns, per
    service code -- exact integer sums in one pass."""
    owner = owning_entries(parent_row, is_entry)
    return _sum_by_owner(  # type: ignore[no-any-return]
        owner, np.ascontiguousarray(critical, np.int64), np.ascontiguousarray(service, np.int32), int(n_services)
    )


@numba.njit(cache=True)
def _factorize(values):  # type: ignore[no-untyped-def]
    n = values.shape[0]
    capacity = 1024  # grows with the distinct values, not the rows (a handful of peers)
    mask = np.uint64(capacity - 1)
    slots = np.full(capacity, -1, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    codes = np.empty(n, dtype=np.int64)
    count = 0
    for i in range(n):
        x = values[i]
        h = (x ^ (x >> np.uint64(31))) * np.uint64(0x9E3779B97F4A7C15)
        h = (h ^ (h >> np.uint64(29))) & mask
        while True:
            g = slots[h]
            if g < 0:
                slots[h] = count
                first[count] = i
                codes[i] = count
                count += 1
                if 2 * count > capacity:  # keep the load under one half
                    capacity *= 2
                    mask = np.uint64(capacity - 1)
                    slots = np.full(capacity, -1, dtype=np.int64)
                    for j in range(count):
                        y = values[first[j]]
                        h2 = (y ^ (y >> np.uint64(31))) * np.uint64(0x9E3779B97F4A7C15)
                        h2 = (h2 ^ (h2 >> np.uint64(29))) & mask
                        while slots[h2] >= 0:
                            h2 = (h2 + np.uint64(1)) & mask
                        slots[h2] = j
                break
            if values[first[g]] == x:
                codes[i] = g
                break
            h = (h + np.uint64(1)) & mask
    return codes, first[:count].copy()


def factorize(values: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Dense codes of ``values`` in order of first appearance, and the first index of each
    code: one hash pass, O(n) (np.unique sorts)."""
    return _factorize(np.ascontiguousarray(values, np.uint64))  # type: ignore[no-any-return]
