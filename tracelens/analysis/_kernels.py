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


_ONES = np.uint64(0x0101010101010101)
_HIGH = np.uint64(0x8080808080808080)
_LOW_NIBBLES = np.uint64(0x0F0F0F0F0F0F0F0F)
_GE_0 = np.uint64(0x5050505050505050)  # + (0x80 - '0') sets a byte's top bit iff byte >= '0'
_GE_COLON = np.uint64(0x4646464646464646)  # ... iff byte > '9'
_GE_A = np.uint64(0x1F1F1F1F1F1F1F1F)  # ... iff byte >= 'a'
_GE_G = np.uint64(0x1919191919191919)  # ... iff byte > 'f'
_M8 = np.uint64(0x00FF00FF00FF00FF)
_M16 = np.uint64(0x0000FFFF0000FFFF)
_M32 = np.uint64(0xFFFFFFFF)


@njit(cache=True, inline="always")
def _hex_word(w):
    """(value, ok) of 8 lowercase hex characters loaded as a little-endian uint64 (first
    character in the lowest byte): all 8 bytes checked and converted at once (SWAR)."""
    valid = ((w + _GE_0) & ~(w + _GE_COLON)) | ((w + _GE_A) & ~(w + _GE_G))
    ok = (valid & _HIGH) == _HIGH and (w & _HIGH) == np.uint64(0)
    nib = (w & _LOW_NIBBLES) + np.uint64(9) * ((w >> np.uint64(6)) & _ONES)
    x = ((nib & _M8) << np.uint64(4)) | ((nib >> np.uint64(8)) & _M8)
    x = ((x & _M16) << np.uint64(8)) | ((x >> np.uint64(16)) & _M16)
    x = ((x & _M32) << np.uint64(16)) | (x >> np.uint64(32))
    return x, ok


@njit(cache=True, nogil=True)
def parse_hex(data, words, offsets, width, hi, lo, ok):
    """Parse fixed-width lowercase hex strings (Arrow large_string buffers) into (hi, lo)
    uint64 halves (``hi`` only for ids longer than 16: pass a dummy for span ids);
    ``ok[i]`` is False for anything else (nulls included).

    ``words`` is ``data`` viewed as uint64 (empty if the buffer is not 8-byte aligned):
    ids starting on an 8-byte boundary -- all of them when every string is an id or null
    -- are read 8 characters at a time; others byte by byte."""
    table = _HEX_VALUE
    n = lo.shape[0]
    split = width - 16
    n_words = words.shape[0]
    per_id = width // 8
    for i in range(n):
        a = offsets[i]
        if offsets[i + 1] - a != width:
            ok[i] = False
            continue
        if (a & 7) == 0 and (a >> 3) + per_id <= n_words:
            w0 = a >> 3
            if width == 32:
                v0, ok0 = _hex_word(words[w0])
                v1, ok1 = _hex_word(words[w0 + 1])
                v2, ok2 = _hex_word(words[w0 + 2])
                v3, ok3 = _hex_word(words[w0 + 3])
                hi[i] = (v0 << np.uint64(32)) | v1
                lo[i] = (v2 << np.uint64(32)) | v3
                ok[i] = ok0 and ok1 and ok2 and ok3
                continue
            if width == 16:
                v0, ok0 = _hex_word(words[w0])
                v1, ok1 = _hex_word(words[w0 + 1])
                lo[i] = (v0 << np.uint64(32)) | v1
                ok[i] = ok0 and ok1
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
        if width > 16:
            hi[i] = h
        lo[i] = lw


@njit(cache=True)
def _trace_table(rows):
    """An empty trace hash table (int32 slots, -1 = free) for ``rows`` rows: sized for a
    quarter as many traces and grown by _grow_trace_table when half full -- a table sized
    by the rows would be touched all over (page faults, cache misses) for few traces."""
    size = 1024
    while size < rows // 4:
        size *= 2
    return np.full(size, -1, np.int32)


@njit(cache=True, _nrt=False)
def trace_slot(hi, lo, mask):
    """First slot of a trace id (hi, lo) in an open-addressing table of mask + 1 slots."""
    h = (hi * np.uint64(0x9E3779B97F4A7C15)) ^ (lo * np.uint64(0xC2B2AE3D27D4EB4F))
    h ^= h >> np.uint64(29)
    return h & mask


@njit(cache=True)
def _grow_trace_table(slot_trace, trace_hi, trace_lo, count):
    size = 2 * slot_trace.shape[0]
    mask = np.uint64(size - 1)
    bigger = np.full(size, -1, np.int32)
    for t in range(count):
        slot = trace_slot(trace_hi[t], trace_lo[t], mask)
        while bigger[slot] != -1:
            slot = (slot + np.uint64(1)) & mask
        bigger[slot] = np.int32(t)
    return bigger


@njit(cache=True, nogil=True)
def group_traces(hi, lo):
    """Trace index per row (first appearance order) and the row order grouped by trace.

    Returns (order, offsets): rows of trace t are order[offsets[t]:offsets[t+1]], in
    input order."""
    n = hi.shape[0]
    slot_trace = _trace_table(n)  # int32: half the cache misses
    mask = np.uint64(slot_trace.shape[0] - 1)
    trace_hi = np.empty(n, np.uint64)
    trace_lo = np.empty(n, np.uint64)
    trace_of = np.empty(n, np.int64)
    n_traces = 0
    for i in range(n):
        if i > 0 and hi[i] == hi[i - 1] and lo[i] == lo[i - 1]:
            trace_of[i] = trace_of[i - 1]  # rows of a trace often arrive together
            continue
        slot = trace_slot(hi[i], lo[i], mask)
        while True:
            t = slot_trace[slot]
            if t == -1:
                slot_trace[slot] = np.int32(n_traces)
                trace_hi[n_traces] = hi[i]
                trace_lo[n_traces] = lo[i]
                trace_of[i] = n_traces
                n_traces += 1
                if 2 * n_traces > slot_trace.shape[0]:
                    slot_trace = _grow_trace_table(slot_trace, trace_hi, trace_lo, n_traces)
                    mask = np.uint64(slot_trace.shape[0] - 1)
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
    """Critical path, self time and placement of every span of every trace, on one
    thread (``analyze_parts`` splits the same work over trace ranges).

    Inputs are per row; outputs per position p (row = order[p]) unless noted:
    status, parent (position, -1 for roots), self_time, critical_time; per trace
    (root position, duration, counters); sections (position, start, end), latest first
    within each trace, trace t's sections at sec_off[t]:sec_off[t+1]; clipped start/end
    (meaningful for placed spans)."""
    out = allocate_outputs(order.shape[0], offsets.shape[0] - 1)
    status, parent, self_time, critical, cstart, cend, root_pos, duration, counts, sec_pos, sec_start, sec_end, sec_off = out
    n_sec = analyze_range(0, offsets.shape[0] - 1, 0, order, offsets, sid, pid, has_pid, start, end, kind,
                          status, parent, self_time, critical, cstart, cend, root_pos, duration, counts,
                          sec_pos, sec_start, sec_end, sec_off)
    sec_off[offsets.shape[0] - 1] = n_sec
    return (status, parent, self_time, critical, root_pos, duration, counts,
            sec_pos[:n_sec], sec_start[:n_sec], sec_end[:n_sec], sec_off, cstart, cend)


@njit(cache=True)
def allocate_outputs(n, n_traces, sections=True, clipped=True):
    """Output arrays of analyze_range for n spans in n_traces traces. Sections: at most
    2k - 1 per trace of k spans (one per descent, one per visited span), so the traces of
    positions a..b fit in sec_*[2a:2b]. Sections or clipped times not wanted: empty
    arrays (the kernel then skips those writes)."""
    n_sec = 2 * n + 1 if sections else 0
    n_clip = n if clipped else 0
    return (np.empty(n, np.int8), np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64),
            np.empty(n_clip, np.int64), np.empty(n_clip, np.int64),
            np.empty(n_traces, np.int64), np.empty(n_traces, np.int64), np.zeros((n_traces, N_COUNTERS), np.int64),
            np.empty(n_sec, np.int64), np.empty(n_sec, np.int64), np.empty(n_sec, np.int64),
            np.zeros(n_traces + 1, np.int64))


@njit(cache=True, nogil=True)
def analyze_range(t0, t1, n_sec, order, offsets, sid, pid, has_pid, start, end, kind,
                  status, parent, self_time, critical, cstart, cend, root_pos, duration, counts,
                  sec_pos, sec_start, sec_end, sec_off):
    """analyze_traces for traces t0..t1-1, writing their positions of the output arrays
    and their sections from index ``n_sec`` on; returns the index after the last section.

    Each trace's rows are gathered into scratch arrays the size of the largest trace, so
    every pass after the gather works in cache whatever the row order; outputs are
    written once, sequentially. Traces are independent: disjoint trace ranges can run
    on several threads (nogil) into the same output arrays."""
    big = 1
    for t in range(t0, t1):
        big = max(big, offsets[t + 1] - offsets[t])
    l_sid = np.empty(big, np.uint64)
    l_pid = np.empty(big, np.uint64)
    l_has = np.empty(big, np.bool_)
    l_kind = np.empty(big, np.uint8)
    l_start = np.empty(big, np.int64)
    l_end = np.empty(big, np.int64)
    l_status = np.empty(big, np.int8)
    l_parent = np.empty(big, np.int64)
    category = np.empty(big, np.int8)  # root category: 0 genuine, 1 orphan, 2 cut loop
    skip = np.empty(big, np.bool_)
    l_self = np.empty(big, np.int64)
    l_crit = np.empty(big, np.int64)
    l_cs = np.empty(big, np.int64)
    l_ce = np.empty(big, np.int64)
    neg_cend = np.empty(big, np.int64)
    child_off = np.empty(big + 1, np.int64)
    child_idx = np.empty(big, np.int64)
    walk_end = np.empty(big, np.int64)
    walk_idx = np.empty(big, np.int64)
    tmp = np.empty(big, np.int64)
    cursor = np.empty(big, np.int64)
    stamp = np.empty(big, np.int64)
    stack = np.empty(big, np.int64)
    walkable = np.empty(big, np.bool_)
    zeros = np.zeros(big, np.int64)
    size = 4
    while size < 2 * big:
        size *= 2
    table = np.empty(size, np.int64)  # per-trace span-id hash table, reused
    pending, reached = -1, 0  # stamp values; a loop walk from p0 marks with -2 - p0
    keep_sections = sec_pos.shape[0] > 0  # empty output arrays: not wanted, not written
    keep_clipped = cstart.shape[0] > 0

    for t in range(t0, t1):
        a = offsets[t]
        k = offsets[t + 1] - a
        for j in range(k):
            r = order[a + j]
            l_sid[j] = sid[r]
            l_pid[j] = pid[r]
            l_has[j] = has_pid[r]
            l_kind[j] = kind[r]
            s0 = start[r]
            l_start[j] = s0
            l_end[j] = max(end[r], s0)  # a span ending before it starts has length 0
            l_status[j] = OTHER_ROOT
            l_parent[j] = -1
            category[j] = -1
            skip[j] = False
            l_crit[j] = 0
            stamp[j] = pending
            walkable[j] = False
        # 1. span ids into a per-trace hash table (first row wins; later ones are
        #    duplicates), then each parent id looked up in it
        size = 4
        while size < 2 * k:
            size *= 2
        mask = np.uint64(size - 1)
        for j in range(size):
            table[j] = -1
        for p in range(k):
            key = l_sid[p]
            slot = ((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) & mask
            while True:
                q = table[slot]
                if q == -1:
                    table[slot] = p
                    break
                if l_sid[q] == key:
                    skip[p] = True
                    l_status[p] = DUPLICATE
                    counts[t, C_DUPLICATES] += 1
                    break
                slot = (slot + np.uint64(1)) & mask
        for p in range(k):
            if skip[p]:
                continue
            if not l_has[p]:
                category[p] = 0
                continue
            key = l_pid[p]
            slot = ((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(40)) & mask
            found = -1
            while True:
                q = table[slot]
                if q == -1:
                    break
                if l_sid[q] == key:
                    found = q
                    break
                slot = (slot + np.uint64(1)) & mask
            if found >= 0:
                l_parent[p] = found
            else:
                category[p] = 1
                counts[t, C_ORPHANS] += 1
        # 2. children, then cut parent loops (the rest of the tree hangs off them)
        _build_children(0, k, l_parent, skip, child_off, child_idx)
        n_reached = 0
        top = 0
        for p in range(k):
            if category[p] >= 0:
                stamp[p] = reached
                stack[top] = p
                top += 1
        while top > 0:
            top -= 1
            q = stack[top]
            n_reached += 1
            for c in range(child_off[q], child_off[q + 1]):
                x = child_idx[c]
                stamp[x] = reached
                stack[top] = x
                top += 1
        if n_reached < k - counts[t, C_DUPLICATES]:
            for p0 in range(k):
                if skip[p0] or stamp[p0] == reached:
                    continue
                # walk up, marking with a per-start stamp, until a span repeats
                q = p0
                mark = -2 - p0
                while stamp[q] != mark and stamp[q] != reached:
                    stamp[q] = mark
                    q = l_parent[q]
                if stamp[q] == reached:
                    # ended on an already-freed span (an earlier cut): nothing to cut here;
                    # re-stamp the walked spans as pending again
                    q2 = p0
                    while stamp[q2] == mark:
                        stamp[q2] = pending
                        q2 = l_parent[q2]
                    continue
                # q is on the loop: find its earliest member
                cut = q
                x = l_parent[q]
                while x != q:
                    if l_start[x] < l_start[cut] or (l_start[x] == l_start[cut] and l_sid[x] < l_sid[cut]):
                        cut = x
                    x = l_parent[x]
                q2 = p0
                while stamp[q2] == mark:
                    stamp[q2] = pending
                    q2 = l_parent[q2]
                l_parent[cut] = -1
                category[cut] = 2
                counts[t, C_CYCLES] += 1
                _build_children(0, k, l_parent, skip, child_off, child_idx)
                stack[0] = cut
                top = 1
                stamp[cut] = reached
                while top > 0:
                    top -= 1
                    q = stack[top]
                    for c in range(child_off[q], child_off[q + 1]):
                        x = child_idx[c]
                        stamp[x] = reached
                        stack[top] = x
                        top += 1
        # 3. children in start order (the self-time sweep needs them so, and they are the
        #    base of the walk order); 8. self time: the span minus the union of its
        #    children clipped to it
        for p in range(k):
            c0 = child_off[p]
            c1 = child_off[p + 1]
            if c1 - c0 > 1:
                _sort_segment(child_idx, c0, c1, l_start, zeros, l_sid, tmp)
            if skip[p]:
                l_self[p] = 0
                continue
            ps = l_start[p]
            pe = l_end[p]
            covered = 0
            reach = ps
            for c in range(c0, c1):
                x = child_idx[c]
                xs = max(l_start[x], reach)
                xe = min(l_end[x], pe)
                if xe > xs:
                    covered += xe - xs
                    reach = xe
            l_self[p] = (pe - ps) - covered
        # 4. primary root: genuine < orphan < cut loop, earliest, longest, smallest id
        root = -1
        n_roots = 0
        for p in range(k):
            if category[p] < 0:
                continue
            n_roots += 1
            if root < 0:
                root = p
                continue
            if category[p] != category[root]:
                better = category[p] < category[root]
            elif l_start[p] != l_start[root]:
                better = l_start[p] < l_start[root]
            elif l_end[p] != l_end[root]:
                better = l_end[p] > l_end[root]
            else:
                better = l_sid[p] < l_sid[root]
            if better:
                root = p
        counts[t, C_ROOTS] = n_roots
        root_pos[t] = a + root
        duration[t] = l_end[root] - l_start[root]
        # 5. place every span of the primary tree in its clipped parent, top down; 6. the
        #    walk order of a walkable span's walkable children, by (clipped end desc,
        #    clipped start, span id), in its own children's segment (children taken
        #    latest start first: sequential calls then come out nearly sorted)
        l_status[root] = INSIDE
        l_cs[root] = l_start[root]
        l_ce[root] = l_end[root]
        walkable[root] = True
        stack[0] = root
        top = 1
        while top > 0:
            top -= 1
            q = stack[top]
            c0 = child_off[q]
            n_walk = c0
            for c in range(child_off[q + 1] - 1, c0 - 1, -1):
                x = child_idx[c]
                walkable[x] = False
                if not walkable[q]:
                    l_status[x] = UNDER_EXCLUDED
                elif l_kind[q] == KIND_PRODUCER and l_kind[x] == KIND_CONSUMER:
                    l_status[x] = NON_BLOCKING
                    counts[t, C_NON_BLOCKING] += 1
                else:
                    ps = l_cs[q]
                    pe = l_ce[q]
                    xs = l_start[x]
                    xe = l_end[x]
                    if ps <= xs and xe <= pe:
                        l_status[x] = INSIDE
                        l_cs[x] = xs
                        l_ce[x] = xe
                        walkable[x] = True
                    elif xs >= pe or xe <= ps:
                        l_status[x] = OUTSIDE_PARENT
                        counts[t, C_OUTSIDE] += 1
                    else:
                        l_status[x] = CLIPPED
                        counts[t, C_CLIPPED] += 1
                        l_cs[x] = max(xs, ps)
                        l_ce[x] = min(xe, pe)
                        walkable[x] = True
                    if walkable[x]:
                        walk_idx[n_walk] = x
                        neg_cend[x] = -l_ce[x]
                        n_walk += 1
                stack[top] = x
                top += 1
            if n_walk - c0 > 1:
                _sort_segment(walk_idx, c0, n_walk, neg_cend, l_cs, l_sid, tmp)
            cursor[q] = c0
            walk_end[q] = n_walk
        # 7. the walk (see critical_path.py): sections latest first
        sec_off[t] = n_sec
        node = root
        bound = l_ce[root]
        while True:
            i = cursor[node]
            stop = walk_end[node]
            while i < stop and l_ce[walk_idx[i]] > bound:
                i += 1
            if i < stop:
                cursor[node] = i + 1
                child = walk_idx[i]
                ce = l_ce[child]
                if ce != bound:
                    if keep_sections:
                        sec_pos[n_sec] = a + node
                        sec_start[n_sec] = ce
                        sec_end[n_sec] = bound
                    l_crit[node] += bound - ce
                    n_sec += 1
                node = child
                bound = ce
                continue
            cursor[node] = i
            cs = l_cs[node]
            if cs != bound:
                if keep_sections:
                    sec_pos[n_sec] = a + node
                    sec_start[n_sec] = cs
                    sec_end[n_sec] = bound
                l_crit[node] += bound - cs
                n_sec += 1
            if node == root:
                break
            node = l_parent[node]
            bound = cs
        # 9. out, sequentially (clipped times of unplaced spans: their own times)
        for j in range(k):
            p = a + j
            status[p] = l_status[j]
            q = l_parent[j]
            parent[p] = a + q if q >= 0 else -1
            self_time[p] = l_self[j]
            critical[p] = l_crit[j]
            if not keep_clipped:
                continue
            if walkable[j]:
                cstart[p] = l_cs[j]
                cend[p] = l_ce[j]
            else:
                cstart[p] = l_start[j]
                cend[p] = l_end[j]
    return n_sec


@njit(cache=True)
def densify(key):
    """Dense codes (first-appearance order) for uint64 keys, and the first row of each.
    The table grows with the distinct keys (a handful of services over millions of rows
    touch kilobytes, not megabytes)."""
    n = key.shape[0]
    size = 1024
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
                if 2 * m > size:  # keep the load under one half
                    size *= 2
                    mask = np.uint64(size - 1)
                    slot_code = np.full(size, -1, np.int64)
                    for g in range(m):
                        h2 = key[first_row[g]] * np.uint64(0x9E3779B97F4A7C15)
                        h2 ^= h2 >> np.uint64(31)
                        s2 = h2 & mask
                        while slot_code[s2] != -1:
                            s2 = (s2 + np.uint64(1)) & mask
                        slot_code[s2] = g
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


_M8_LOW = np.uint64(0x000000FF000000FF)
_M4_LOW = np.uint64(0x000F000F000F000F)
_ASCII_ZERO = np.uint64(0x3030303030303030)
_SIX = np.uint64(0x0606060606060606)


@njit(cache=True, inline="always")
def _hex_chars(v32):
    """8 lowercase hex characters of a 32-bit value as a little-endian uint64 (first
    character in the lowest byte): the inverse of _hex_word's packing."""
    x = (v32 >> np.uint64(16)) | ((v32 & np.uint64(0xFFFF)) << np.uint64(32))
    x = ((x >> np.uint64(8)) & _M8_LOW) | ((x & _M8_LOW) << np.uint64(16))
    nib = ((x >> np.uint64(4)) & _M4_LOW) | ((x & _M4_LOW) << np.uint64(8))
    letters = ((nib + _SIX) >> np.uint64(4)) & _ONES  # 1 in the bytes holding 10..15
    return nib + _ASCII_ZERO + np.uint64(0x27) * letters


@njit(cache=True, nogil=True)
def format_hex(hi, lo, width):
    """Arrow large_string buffers (offsets, data as uint64 words) of fixed-width (16 or 32)
    lowercase hex ids from (hi, lo) uint64 halves (``hi`` ignored when width is 16): the
    inverse of parse_hex, 8 characters at a time."""
    n = lo.shape[0]
    offsets = np.empty(n + 1, np.int64)
    per_id = width // 8
    data = np.empty(n * per_id, np.uint64)
    mask = np.uint64(0xFFFFFFFF)
    for i in range(n + 1):
        offsets[i] = i * width
    for i in range(n):
        base = i * per_id
        if width == 32:
            data[base] = _hex_chars(hi[i] >> np.uint64(32))
            data[base + 1] = _hex_chars(hi[i] & mask)
            base += 2
        data[base] = _hex_chars(lo[i] >> np.uint64(32))
        data[base + 1] = _hex_chars(lo[i] & mask)
    return offsets, data


@njit(cache=True, nogil=True)
def rows_of_positions(t0, t1, order, offsets, parent, status, critical, parent_row, trace_row, critical_row, duplicate_row):
    """Per-row views of traces t0..t1-1 of an analysis (positions -> rows): parent row
    (-1: none), trace index, critical-path ns (0 for duplicates), duplicate flag. Disjoint
    trace ranges write disjoint rows: they can run on several threads."""
    for t in range(t0, t1):
        for p in range(offsets[t], offsets[t + 1]):
            r = order[p]
            q = parent[p]
            parent_row[r] = order[q] if q >= 0 else -1
            trace_row[r] = t
            duplicate = status[p] == DUPLICATE
            duplicate_row[r] = duplicate
            critical_row[r] = 0 if duplicate else critical[p]


@njit(cache=True, nogil=True)
def number_traces(hi, lo, r0, r1):
    """group_traces' numbering for rows r0..r1-1 alone: the local trace number of each of
    those rows (first appearance), and per local trace its id halves and row count.
    Disjoint row ranges run on several threads; merge_traces joins them."""
    n = r1 - r0
    slot_trace = _trace_table(n)
    mask = np.uint64(slot_trace.shape[0] - 1)
    trace_hi = np.empty(n, np.uint64)
    trace_lo = np.empty(n, np.uint64)
    count = np.zeros(n, np.int64)
    local = np.empty(n, np.int64)
    m = 0
    for j in range(n):
        i = r0 + j
        if j > 0 and hi[i] == hi[i - 1] and lo[i] == lo[i - 1]:
            t = local[j - 1]
        else:
            slot = trace_slot(hi[i], lo[i], mask)
            while True:
                t = slot_trace[slot]
                if t == -1:
                    t = m
                    slot_trace[slot] = np.int32(m)
                    trace_hi[m] = hi[i]
                    trace_lo[m] = lo[i]
                    m += 1
                    if 2 * m > slot_trace.shape[0]:
                        slot_trace = _grow_trace_table(slot_trace, trace_hi, trace_lo, m)
                        mask = np.uint64(slot_trace.shape[0] - 1)
                    break
                if trace_hi[t] == hi[i] and trace_lo[t] == lo[i]:
                    break
                slot = (slot + np.uint64(1)) & mask
        local[j] = t
        count[t] += 1
    return local, trace_hi[:m].copy(), trace_lo[:m].copy(), count[:m].copy()


@njit(cache=True)
def merge_traces(trace_hi, trace_lo, count):
    """Global trace numbers for the local traces of consecutive row ranges (their lists
    concatenated in range order): first appearance overall, as group_traces numbers them.
    Returns the offsets of every global trace's rows and, per local trace, where its rows
    start in ``order`` (after the same trace's rows from earlier ranges)."""
    m = trace_hi.shape[0]
    size = 1
    while size < 2 * m + 2:
        size *= 2
    mask = np.uint64(size - 1)
    slot_trace = np.full(size, -1, np.int64)
    global_hi = np.empty(m, np.uint64)
    global_lo = np.empty(m, np.uint64)
    gid = np.empty(m, np.int64)
    before = np.empty(m, np.int64)
    total = np.zeros(m, np.int64)
    g_count = 0
    for j in range(m):
        slot = trace_slot(trace_hi[j], trace_lo[j], mask)
        while True:
            g = slot_trace[slot]
            if g == -1:
                g = g_count
                slot_trace[slot] = g
                global_hi[g] = trace_hi[j]
                global_lo[g] = trace_lo[j]
                g_count += 1
                break
            if global_hi[g] == trace_hi[j] and global_lo[g] == trace_lo[j]:
                break
            slot = (slot + np.uint64(1)) & mask
        gid[j] = g
        before[j] = total[g]
        total[g] += count[j]
    offsets = np.zeros(g_count + 1, np.int64)
    for g in range(g_count):
        offsets[g + 1] = offsets[g] + total[g]
    start = np.empty(m, np.int64)
    for j in range(m):
        start[j] = offsets[gid[j]] + before[j]
    return offsets, start


@njit(cache=True, nogil=True)
def fill_order(local, base, r0, start, order):
    """Rows r0.. of one range into ``order`` at their local trace's slots (input order);
    ``base``: index of the range's first local trace in ``start`` (consumed as a cursor)."""
    for j in range(local.shape[0]):
        t = base + local[j]
        order[start[t]] = r0 + j
        start[t] += 1
