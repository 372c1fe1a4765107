"""Compiled re-timing of traces for what-if questions (see what_if.py)."""

from __future__ import annotations

import numpy as np
from numba import njit

from tracelens.analysis._kernels import CLIPPED, INSIDE, _sort_segment

FASTER, PARALLEL = 0, 1


@njit(cache=True)
def _heap_push(heap, base, size, item, key):
    i = size
    heap[base + i] = item
    while i > 0:
        up = (i - 1) // 2
        if key[heap[base + up]] <= key[heap[base + i]]:
            break
        heap[base + up], heap[base + i] = heap[base + i], heap[base + up]
        i = up
    return size + 1


@njit(cache=True)
def _heap_pop(heap, base, size, key):
    top = heap[base]
    size -= 1
    heap[base] = heap[base + size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and key[heap[base + left + 1]] < key[heap[base + left]]:
            child = left + 1
        if key[heap[base + i]] <= key[heap[base + child]]:
            break
        heap[base + i], heap[base + child] = heap[base + child], heap[base + i]
        i = child
    return top, size


@njit(cache=True)
def project_traces(offsets, parent, status, root_pos, cstart, cend, target, mode, new_length):
    """New duration of every trace after the change; positions as in analyze_traces.

    mode FASTER: a target span becomes a leaf of length new_length[p] (its subtree no
    longer matters). mode PARALLEL: target children of the same parent all start when
    the first of them starts, and whatever followed them waits for all of them."""
    n = parent.shape[0]
    n_traces = offsets.shape[0] - 1
    child_off = np.zeros(n + 1, np.int64)
    kids = np.empty(max(n, 1), np.int64)
    heap = np.empty(max(n, 1), np.int64)
    tmp = np.empty(max(n, 1), np.int64)
    posu = np.arange(n).astype(np.uint64)
    walkable = np.zeros(n, np.bool_)
    for p in range(n):
        walkable[p] = status[p] == INSIDE or status[p] == CLIPPED
    ns = np.zeros(n, np.int64)
    ne = np.zeros(n, np.int64)
    cursor = np.zeros(n, np.int64)
    heap_size = np.zeros(n, np.int64)
    has_f = np.zeros(n, np.bool_)
    f_ne = np.zeros(n, np.int64)
    f_end = np.zeros(n, np.int64)
    has_child = np.zeros(n, np.bool_)
    all_ne = np.zeros(n, np.int64)
    all_end = np.zeros(n, np.int64)
    has_x = np.zeros(n, np.bool_)
    x_start = np.zeros(n, np.int64)
    x_ne = np.zeros(n, np.int64)
    contrib = np.zeros(n, np.int64)
    stack = np.empty(max(n, 1), np.int64)
    projected = np.zeros(n_traces, np.int64)
    for t in range(n_traces):
        a = offsets[t]
        b = offsets[t + 1]
        root = root_pos[t]
        # walkable children of walkable spans, in (start, end, position) order
        for p in range(a, b + 1):
            child_off[p] = 0
        for p in range(a, b):
            if walkable[p] and p != root and parent[p] >= 0:
                child_off[parent[p] + 1] += 1
        child_off[a] = a
        for p in range(a, b):
            child_off[p + 1] += child_off[p]
        for p in range(a, b):
            cursor[p] = child_off[p]
        for p in range(a, b):
            if walkable[p] and p != root and parent[p] >= 0:
                q = parent[p]
                kids[cursor[q]] = p
                cursor[q] += 1
        for p in range(a, b):
            if child_off[p + 1] - child_off[p] > 1:
                _sort_segment(kids, child_off[p], child_off[p + 1], cstart, cend, posu, tmp)
            cursor[p] = child_off[p]
            heap_size[p] = 0
            has_f[p] = False
            has_child[p] = False
            has_x[p] = False
        ns[root] = cstart[root]
        if mode == FASTER and target[root]:
            projected[t] = new_length[root]
            continue
        stack[0] = root
        top = 1
        while top > 0:
            u = stack[top - 1]
            if cursor[u] < child_off[u + 1]:
                c = kids[cursor[u]]
                cursor[u] += 1
                # siblings that finished before c started: c waits for the last of them
                while heap_size[u] > 0 and cend[heap[child_off[u]]] <= cstart[c]:
                    done, heap_size[u] = _heap_pop(heap, child_off[u], heap_size[u], cend)
                    if not has_f[u] or contrib[done] > f_ne[u]:
                        f_ne[u] = contrib[done]
                    if not has_f[u] or cend[done] > f_end[u]:
                        f_end[u] = cend[done]
                    has_f[u] = True
                if mode == PARALLEL and target[c] and has_x[u]:
                    ns[c] = x_start[u]
                elif has_f[u]:
                    ns[c] = f_ne[u] + (cstart[c] - f_end[u])
                else:
                    ns[c] = ns[u] + (cstart[c] - cstart[u])
                if mode == PARALLEL and target[c] and not has_x[u]:
                    has_x[u] = True
                    x_start[u] = ns[c]
                    x_ne[u] = ns[c]
                if mode == FASTER and target[c]:
                    ne[c] = ns[c] + new_length[c]
                    # finished at once: report to the parent (same as below)
                    if not has_child[u] or ne[c] > all_ne[u]:
                        all_ne[u] = ne[c]
                    if not has_child[u] or cend[c] > all_end[u]:
                        all_end[u] = cend[c]
                    has_child[u] = True
                    contrib[c] = ne[c]
                    heap_size[u] = _heap_push(heap, child_off[u], heap_size[u], c, cend)
                    continue
                stack[top] = c
                top += 1
                continue
            # every child of u is done: u ends its own tail after the last of them
            top -= 1
            if has_child[u]:
                ne[u] = all_ne[u] + (cend[u] - all_end[u])
            else:
                ne[u] = ns[u] + (cend[u] - cstart[u])
            if u == root:
                break
            q = parent[u]
            if not has_child[q] or ne[u] > all_ne[q]:
                all_ne[q] = ne[u]
            if not has_child[q] or cend[u] > all_end[q]:
                all_end[q] = cend[u]
            has_child[q] = True
            contrib[u] = ne[u]
            if mode == PARALLEL and target[u]:
                if ne[u] > x_ne[q]:
                    x_ne[q] = ne[u]
                contrib[u] = x_ne[q]  # a follower waits for every parallel call so far
            heap_size[q] = _heap_push(heap, child_off[q], heap_size[q], u, cend)
        projected[t] = ne[root] - cstart[root]
    return projected
