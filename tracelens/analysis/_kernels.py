"""Compiled kernels behind tracelens.analysis.columnar (numba, cached on disk).

They implement, over flat arrays, exactly what the per-trace reference does on a
TraceTree (tracelens.model.tree, critical_path.py, self_time.py); tests compare the two
on random trees. Arrays are indexed by *position*: rows grouped by trace (traces in
order of first appearance, rows in input order within a trace). Everything is a loop --
no recursion -- so a 50,000-deep chain costs the same as a 50,000-wide fan-out.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# PathStatus values (tracelens.analysis.path_status), repeated as plain ints for numba
INSIDE, CLIPPED, OUTSIDE_PARENT, NON_BLOCKING, UNDER_EXCLUDED, OTHER_ROOT, DUPLICATE = 0, 1, 2, 3, 4, 5, 6
KIND_PRODUCER, KIND_CONSUMER = 4, 5  # index in schema.SPAN_KINDS
# per-trace counters (columns of the counts array)
C_DUPLICATES, C_ORPHANS, C_CYCLES, C_ROOTS, C_OUTSIDE, C_NON_BLOCKING, C_CLIPPED = 0, 1, 2, 3, 4, 5, 6
N_COUNTERS = 7
_INSERTION_MAX = 24


_HEX_VALUE = np.full(256, 255, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_VALUE[_c] = _i  # lowercase only: "AB" and "ab" are different ids to everyone else


@njit(cache=True)
def parse_hex(data, offsets, width, hi, lo, ok):
    """Parse fixed-width lowercase hex strings (Arrow large_string buffers) into (hi, lo)
    uint64 halves; ``ok[i]`` is False for anything else (nulls included)."""
    table = _HEX_VALUE
    n = hi.shape[0]
    split = width - 16
    for i in range(n):
        a = offsets[i]
        if offsets[i + 1] - a != width:
            ok[i] = False
            continue
        bad = np.uint8(0)
        h = np.uint64(0)
        for j in range(split):
            v = table[data[a + j]]
            bad |= v
            h = (h << np.uint64(4)) | np.uint64(v & 15)
        lw = np.uint64(0)
        for j in range(split, width):
            v = table[data[a + j]]
            bad |= v
            lw = (lw << np.uint64(4)) | np.uint64(v & 15)
        ok[i] = bad < 16
        hi[i] = h
        lo[i] = lw


@njit(cache=True)
def group_traces(hi, lo):
    """Trace index per row (first appearance order) and the row order grouped by trace.

    Returns (order, offsets): rows of trace t are order[offsets[t]:offsets[t+1]], in
    input order."""
    n = hi.shape[0]
    size = 1
    while size < 2 * n + 2:
        size *= 2
    mask = np.uint64(size - 1)
    slot_trace = np.full(size, -1, np.int32)  # int32: half the cache misses
    trace_hi = np.empty(n, np.uint64)
    trace_lo = np.empty(n, np.uint64)
    trace_of = np.empty(n, np.int64)
    n_traces = 0
    for i in range(n):
        if i > 0 and hi[i] == hi[i - 1] and lo[i] == lo[i - 1]:
            trace_of[i] = trace_of[i - 1]  # rows of a trace often arrive together
            continue
        h = (hi[i] * np.uint64(0x9E3779B97F4A7C15)) ^ (lo[i] * np.uint64(0xC2B2AE3D27D4EB4F))
        h ^= h >> np.uint64(29)
        slot = h & mask
        while True:
            t = slot_trace[slot]
            if t == -1:
                slot_trace[slot] = np.int32(n_traces)
                trace_hi[n_traces] = hi[i]
                trace_lo[n_traces] = lo[i]
                trace_of[i] = n_traces
                n_traces += 1
                break
            if trace_hi[t] == hi[i] and trace_lo[t] == lo[i]:
                trace_of[i] = t
                break
            slot = (slot + np.uint64(1)) & mask
    offsets = np.zeros(n_traces + 1, np.int64)
    for i in range(n):
        offsets[trace_of[i] + 1] += 1
    for t in range(n_traces):
        offsets[t + 1] += offsets[t]
    fill = offsets[:-1].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        t = trace_of[i]
        order[fill[t]] = i
        fill[t] += 1
    return order, offsets


@njit(cache=True)
def _less(a, b, k1, k2, k3):
    if k1[a] != k1[b]:
        return k1[a] < k1[b]
    if k2[a] != k2[b]:
        return k2[a] < k2[b]
    return k3[a] < k3[b]


@njit(cache=True)
def _sort_segment(idx, lo, hi, k1, k2, k3, tmp):
    """Sort idx[lo:hi] ascending by (k1, k2, k3)[idx] -- insertion sort for the usual
    handful of children, bottom-up merge sort for wide fan-outs."""
    n = hi - lo
    if n <= _INSERTION_MAX:
        for i in range(lo + 1, hi):
            x = idx[i]
            j = i - 1
            while j >= lo and _less(x, idx[j], k1, k2, k3):
                idx[j + 1] = idx[j]
                j -= 1
            idx[j + 1] = x
        return
    width = 1
    src = idx
    dst = tmp
    in_tmp = False
    while width < n:
        for left in range(lo, hi, 2 * width):
            mid = min(left + width, hi)
            right = min(left + 2 * width, hi)
            i, j, k = left, mid, left
            while i < mid and j < right:
                if _less(src[j], src[i], k1, k2, k3):
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            while i < mid:
                dst[k] = src[i]
                i += 1
                k += 1
            while j < right:
                dst[k] = src[j]
                j += 1
                k += 1
        src, dst = dst, src
        in_tmp = not in_tmp
        width *= 2
    if in_tmp:
        for i in range(lo, hi):
            idx[i] = tmp[i]


@njit(cache=True)
def _build_children(a, b, parent, skip, child_off, child_idx):
    """CSR of children (positions) for positions a..b; parent[] is -1 for roots and
    skip[] marks rows that are not nodes (duplicates)."""
    for p in range(a, b + 1):
        child_off[p] = 0
    for p in range(a, b):
        if not skip[p] and parent[p] >= 0:
            child_off[parent[p] + 1] += 1
    child_off[a] = a
    for p in range(a, b):
        child_off[p + 1] += child_off[p]
    for p in range(a, b):
        if not skip[p] and parent[p] >= 0:
            q = parent[p]
            child_idx[child_off[q]] = p
            child_off[q] += 1
    # child_off[q] now holds the end of q's segment: shift back to starts
    for p in range(b, a, -1):
        child_off[p] = child_off[p - 1]
    child_off[a] = a


@njit(cache=True)
def analyze_traces(order, offsets, sid, pid, has_pid, start, end, kind):
    """Critical path, self time and placement of every span of every trace.

    Inputs are per row; outputs per position p (row = order[p]) unless noted:
    status, parent (position, -1 for roots), self_time, critical_time; per trace
    (root position, duration, counters); sections (position, start, end), latest first
    within each trace, trace t's sections at sec_off[t]:sec_off[t+1]."""
    n = order.shape[0]
    n_traces = offsets.shape[0] - 1
    # gather once into position order: every later pass reads memory sequentially
    s_sid = np.empty(n, np.uint64)
    s_pid = np.empty(n, np.uint64)
    s_has = np.empty(n, np.bool_)
    s_kind = np.empty(n, np.uint8)
    s_start = np.empty(n, np.int64)
    s_end = np.empty(n, np.int64)
    for p in range(n):
        r = order[p]
        s_sid[p] = sid[r]
        s_pid[p] = pid[r]
        s_has[p] = has_pid[r]
        s_kind[p] = kind[r]
        s_start[p] = start[r]
        s_end[p] = max(end[r], start[r])  # a span ending before it starts has length 0
    status = np.full(n, OTHER_ROOT, np.int8)
    parent = np.full(n, -1, np.int64)
    category = np.full(n, -1, np.int8)  # root category: 0 genuine, 1 orphan, 2 cut loop
    skip = np.zeros(n, np.bool_)
    self_time = np.zeros(n, np.int64)
    critical = np.zeros(n, np.int64)
    cstart = np.empty(n, np.int64)
    cend = np.empty(n, np.int64)
    neg_cend = np.empty(n, np.int64)
    child_off = np.zeros(n + 1, np.int64)
    child_idx = np.empty(n, np.int64)
    walk_off = np.zeros(n + 1, np.int64)
    walk_idx = np.empty(n, np.int64)
    tmp = np.empty(n, np.int64)
    cursor = np.zeros(n, np.int64)
    stamp = np.full(n, -1, np.int64)
    stack = np.empty(n, np.int64)
    walkable = np.zeros(n, np.bool_)
    root_pos = np.full(n_traces, -1, np.int64)
    duration = np.zeros(n_traces, np.int64)
    counts = np.zeros((n_traces, N_COUNTERS), np.int64)
    sec_pos = np.empty(2 * n + 1, np.int64)
    sec_start = np.empty(2 * n + 1, np.int64)
    sec_end = np.empty(2 * n + 1, np.int64)
    sec_off = np.zeros(n_traces + 1, np.int64)
    n_sec = 0
    zeros = np.zeros(n, np.int64)
    table = np.empty(4 * n + 8, np.int64)  # per-trace span-id hash table, reused

    for t in range(n_traces):
        a = offsets[t]
        b = offsets[t + 1]
        k = b - a
        # 1. span ids into a per-trace hash table (first row wins; later ones are
        #    duplicates), then each parent id looked up in it
        size = 4
        while size < 2 * k:
            size *= 2
        mask = np.uint64(size - 1)
        for j in range(size):
            table[j] = -1
        for p in range(a, b):
            key = s_sid[p]
            slot = ((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) & mask
            while True:
                q = table[slot]
                if q == -1:
                    table[slot] = p
                    break
                if s_sid[q] == key:
                    skip[p] = True
                    status[p] = DUPLICATE
                    counts[t, C_DUPLICATES] += 1
                    break
                slot = (slot + np.uint64(1)) & mask
        for p in range(a, b):
            if skip[p]:
                continue
            if not s_has[p]:
                category[p] = 0
                continue
            key = s_pid[p]
            slot = ((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) & mask
            found = -1
            while True:
                q = table[slot]
                if q == -1:
                    break
                if s_sid[q] == key:
                    found = q
                    break
                slot = (slot + np.uint64(1)) & mask
            if found >= 0:
                parent[p] = found
            else:
                category[p] = 1
                counts[t, C_ORPHANS] += 1
        # 2. children, then cut parent loops (the rest of the tree hangs off them)
        _build_children(a, b, parent, skip, child_off, child_idx)
        reached = 0
        top = 0
        for p in range(a, b):
            if category[p] >= 0:
                stamp[p] = t
                stack[top] = p
                top += 1
        while top > 0:
            top -= 1
            q = stack[top]
            reached += 1
            for c in range(child_off[q], child_off[q + 1]):
                x = child_idx[c]
                stamp[x] = t
                stack[top] = x
                top += 1
        if reached < k - counts[t, C_DUPLICATES]:
            for p0 in range(a, b):
                if skip[p0] or stamp[p0] == t:
                    continue
                # walk up, marking with a per-start stamp, until a span repeats
                q = p0
                mark = -2 - p0
                while stamp[q] != mark and stamp[q] != t:
                    stamp[q] = mark
                    q = parent[q]
                if stamp[q] == t:
                    # ended on an already-freed span (an earlier cut): nothing to cut here;
                    # re-stamp the walked spans as pending again
                    q2 = p0
                    while stamp[q2] == mark:
                        stamp[q2] = -1
                        q2 = parent[q2]
                    continue
                # q is on the loop: find its earliest member
                cut = q
                x = parent[q]
                while x != q:
                    if s_start[x] < s_start[cut] or (s_start[x] == s_start[cut] and s_sid[x] < s_sid[cut]):
                        cut = x
                    x = parent[x]
                q2 = p0
                while stamp[q2] == mark:
                    stamp[q2] = -1
                    q2 = parent[q2]
                parent[cut] = -1
                category[cut] = 2
                counts[t, C_CYCLES] += 1
                _build_children(a, b, parent, skip, child_off, child_idx)
                stack[0] = cut
                top = 1
                stamp[cut] = t
                while top > 0:
                    top -= 1
                    q = stack[top]
                    for c in range(child_off[q], child_off[q + 1]):
                        x = child_idx[c]
                        stamp[x] = t
                        stack[top] = x
                        top += 1
        # 3. children in start order (self-time sweep, and the base of the walk order)
        for p in range(a, b):
            if child_off[p + 1] - child_off[p] > 1:
                _sort_segment(child_idx, child_off[p], child_off[p + 1], s_start, zeros, s_sid, tmp)
        # 4. primary root: genuine < orphan < cut loop, earliest, longest, smallest id
        root = -1
        n_roots = 0
        for p in range(a, b):
            if category[p] < 0:
                continue
            n_roots += 1
            if root < 0:
                root = p
                continue
            if category[p] != category[root]:
                better = category[p] < category[root]
            elif s_start[p] != s_start[root]:
                better = s_start[p] < s_start[root]
            elif s_end[p] != s_end[root]:
                better = s_end[p] > s_end[root]
            else:
                better = s_sid[p] < s_sid[root]
            if better:
                root = p
        counts[t, C_ROOTS] = n_roots
        root_pos[t] = root
        duration[t] = s_end[root] - s_start[root]
        # 5. place every span of the primary tree in its clipped parent, top down
        status[root] = INSIDE
        cstart[root] = s_start[root]
        cend[root] = s_end[root]
        walkable[root] = True
        stack[0] = root
        top = 1
        while top > 0:
            top -= 1
            q = stack[top]
            for c in range(child_off[q], child_off[q + 1]):
                x = child_idx[c]
                walkable[x] = False
                if not walkable[q]:
                    status[x] = UNDER_EXCLUDED
                elif s_kind[q] == KIND_PRODUCER and s_kind[x] == KIND_CONSUMER:
                    status[x] = NON_BLOCKING
                    counts[t, C_NON_BLOCKING] += 1
                else:
                    ps = cstart[q]
                    pe = cend[q]
                    xs = s_start[x]
                    xe = s_end[x]
                    if ps <= xs and xe <= pe:
                        status[x] = INSIDE
                        cstart[x] = xs
                        cend[x] = xe
                        walkable[x] = True
                    elif xs >= pe or xe <= ps:
                        status[x] = OUTSIDE_PARENT
                        counts[t, C_OUTSIDE] += 1
                    else:
                        status[x] = CLIPPED
                        counts[t, C_CLIPPED] += 1
                        cstart[x] = max(xs, ps)
                        cend[x] = min(xe, pe)
                        walkable[x] = True
                stack[top] = x
                top += 1
        # 6. walk order: walkable children by (clipped end desc, clipped start, span id)
        for p in range(a, b):
            walk_off[p] = 0
        total = a
        for p in range(a, b):
            walk_off[p] = total
            if walkable[p]:
                for c in range(child_off[p], child_off[p + 1]):
                    x = child_idx[c]
                    if walkable[x]:
                        walk_idx[total] = x
                        neg_cend[x] = -cend[x]
                        total += 1
        walk_off[b] = total
        for p in range(a, b):
            if walk_off[p + 1] - walk_off[p] > 1:
                _sort_segment(walk_idx, walk_off[p], walk_off[p + 1], neg_cend, cstart, s_sid, tmp)
            cursor[p] = walk_off[p]
        # 7. the walk (see critical_path.py): sections latest first
        sec_off[t] = n_sec
        node = root
        bound = cend[root]
        while True:
            i = cursor[node]
            stop = walk_off[node + 1]
            while i < stop and cend[walk_idx[i]] > bound:
                i += 1
            if i < stop:
                cursor[node] = i + 1
                child = walk_idx[i]
                ce = cend[child]
                if ce != bound:
                    sec_pos[n_sec] = node
                    sec_start[n_sec] = ce
                    sec_end[n_sec] = bound
                    critical[node] += bound - ce
                    n_sec += 1
                node = child
                bound = ce
                continue
            cursor[node] = i
            cs = cstart[node]
            if cs != bound:
                sec_pos[n_sec] = node
                sec_start[n_sec] = cs
                sec_end[n_sec] = bound
                critical[node] += bound - cs
                n_sec += 1
            if node == root:
                break
            node = parent[node]
            bound = cs
        # 8. self time: span minus the union of its children clipped to it
        for p in range(a, b):
            if skip[p]:
                continue
            ps = s_start[p]
            pe = s_end[p]
            covered = 0
            reach = ps
            for c in range(child_off[p], child_off[p + 1]):
                x = child_idx[c]
                xs = max(s_start[x], reach)
                xe = min(s_end[x], pe)
                if xe > xs:
                    covered += xe - xs
                    reach = xe
            self_time[p] = (pe - ps) - covered
    sec_off[n_traces] = n_sec
    return (status, parent, self_time, critical, root_pos, duration, counts,
            sec_pos[:n_sec], sec_start[:n_sec], sec_end[:n_sec], sec_off, cstart, cend)


@njit(cache=True)
def densify(key):
    """Dense codes (first-appearance order) for uint64 keys, and the first row of each."""
    n = key.shape[0]
    size = 1
    while size < 2 * n + 2:
        size *= 2
    mask = np.uint64(size - 1)
    slot_code = np.full(size, -1, np.int64)
    first_row = np.empty(n, np.int64)
    code = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        h = key[i] * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(31)
        slot = h & mask
        while True:
            c = slot_code[slot]
            if c == -1:
                slot_code[slot] = m
                first_row[m] = i
                code[i] = m
                m += 1
                break
            if key[first_row[c]] == key[i]:
                code[i] = c
                break
            slot = (slot + np.uint64(1)) & mask
    return code, first_row[:m]


@njit(cache=True)
def group_totals(offsets, order, gcode, n_groups, status, critical, self_time, start, end):
    """Per (trace, group) sums over the trace's spans (duplicates excluded): critical
    time, self time, total span time, count. Groups appear in each trace's order."""
    n = order.shape[0]
    n_traces = offsets.shape[0] - 1
    stamp = np.full(max(n_groups, 1), -1, np.int64)
    slot = np.empty(max(n_groups, 1), np.int64)
    out_trace = np.empty(n, np.int64)
    out_group = np.empty(n, np.int64)
    out_critical = np.zeros(n, np.int64)
    out_self = np.zeros(n, np.int64)
    out_total = np.zeros(n, np.int64)
    out_count = np.zeros(n, np.int64)
    m = 0
    for t in range(n_traces):
        for p in range(offsets[t], offsets[t + 1]):
            if status[p] == DUPLICATE:
                continue
            r = order[p]
            g = gcode[r]
            if stamp[g] != t:
                stamp[g] = t
                slot[g] = m
                out_trace[m] = t
                out_group[m] = g
                m += 1
            j = slot[g]
            out_critical[j] += critical[p]
            out_self[j] += self_time[p]
            out_total[j] += max(end[r] - start[r], 0)
            out_count[j] += 1
    return out_trace[:m], out_group[:m], out_critical[:m], out_self[:m], out_total[:m], out_count[:m]


@njit(cache=True)
def aggregate_groups(group, critical, self_time, total, count, share, n_groups):
    """Per group, over (trace, group) rows: sums, rows (= traces present), traces with
    critical time > 0, and the sum of per-trace shares."""
    g_critical = np.zeros(n_groups, np.int64)
    g_self = np.zeros(n_groups, np.int64)
    g_total = np.zeros(n_groups, np.int64)
    g_count = np.zeros(n_groups, np.int64)
    g_traces = np.zeros(n_groups, np.int64)
    g_on_path = np.zeros(n_groups, np.int64)
    g_share = np.zeros(n_groups, np.float64)
    for i in range(group.shape[0]):
        g = group[i]
        g_critical[g] += critical[i]
        g_self[g] += self_time[i]
        g_total[g] += total[i]
        g_count[g] += count[i]
        g_traces[g] += 1
        if critical[i] > 0:
            g_on_path[g] += 1
        if not np.isnan(share[i]):
            g_share[g] += share[i]
    return g_critical, g_self, g_total, g_count, g_traces, g_on_path, g_share


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8).copy()


@njit(cache=True)
def format_hex(hi, lo, width):
    """Arrow large_string buffers (offsets, data) of fixed-width lowercase hex ids from
    (hi, lo) uint64 halves (``hi`` ignored when width is 16): the inverse of parse_hex."""
    digits = _HEX_DIGITS
    n = lo.shape[0]
    offsets = np.empty(n + 1, np.int64)
    data = np.empty(n * width, np.uint8)
    for i in range(n + 1):
        offsets[i] = i * width
    for i in range(n):
        base = i * width
        v = lo[i]
        for j in range(15, -1, -1):
            data[base + width - 16 + j] = digits[np.int64(v & np.uint64(15))]
            v >>= np.uint64(4)
        if width > 16:
            v = hi[i]
            for j in range(width - 17, -1, -1):
                data[base + j] = digits[np.int64(v & np.uint64(15))]
                v >>= np.uint64(4)
    return offsets, data
