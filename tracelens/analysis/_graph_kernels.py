"""Compiled passes behind tracelens.analysis.service_graph: what each span is to its
parent, and the columns of call rows, each in one pass over the rows (numpy would make
a temporary array of ten million values per step)."""

from __future__ import annotations

import numpy as np
from numba import njit

# bits of classify_rows' flags
HAS_PARENT, SAME_SERVICE, CLIENT_SERVER, PRODUCER_CONSUMER, CROSSING = 1, 2, 4, 8, 16


@njit(cache=True, nogil=True)
def classify_rows(parent, kind, service, client, server, producer, consumer):
    """Per row: flags (has a parent row, same service as it, CLIENT->SERVER pair,
    PRODUCER->CONSUMER pair, crossing = a pair or another service) and whether the row
    has a crossing child (a callee)."""
    n = parent.shape[0]
    flags = np.zeros(n, np.uint8)
    has_callee = np.zeros(n, np.bool_)
    for r in range(n):
        p = parent[r]
        if p < 0:
            continue
        f = HAS_PARENT
        pk = kind[p]
        k = kind[r]
        same = service[p] == service[r]
        if same:
            f |= SAME_SERVICE
        pair = False
        if pk == client and k == server:
            f |= CLIENT_SERVER
            pair = True
        if pk == producer and k == consumer:
            f |= PRODUCER_CONSUMER
            pair = True
        if pair or not same:
            f |= CROSSING
            has_callee[p] = True
        flags[r] = f
    return flags, has_callee


@njit(cache=True, nogil=True)
def call_columns(caller, callee, has_callee, is_queue, client, caller_trace, trace, service, duration, start, error, user):
    """Columns of call rows from caller rows (-1: the user) and callee rows (ignored
    unless ``has_callee``): trace, source code, start, client ns and whether it is a
    client-side latency, server ns, gap and whether it is defined, error."""
    n = caller.shape[0]
    out_trace = np.empty(n, np.int64)
    source = np.empty(n, np.uint32)
    out_start = np.empty(n, np.int64)
    client_ns = np.empty(n, np.int64)
    client_valid = np.empty(n, np.bool_)
    server_ns = np.zeros(n, np.int64)
    gap = np.zeros(n, np.int64)
    gap_valid = np.zeros(n, np.bool_)
    err = np.empty(n, np.bool_)
    for i in range(n):
        c = caller[i]
        has_caller = c >= 0
        sc = c if has_caller else 0
        cl = duration[sc]
        client_ns[i] = cl
        client_valid[i] = has_caller and client[i]
        e = error[sc] if has_caller else False
        source[i] = np.uint32(service[sc]) if has_caller else np.uint32(user)
        if has_callee:
            x = callee[i]
            server_ns[i] = duration[x]
            e = e or error[x]
            if is_queue[i]:
                gap[i] = start[x] - (start[sc] + cl)
                gap_valid[i] = has_caller
            else:
                gap[i] = cl - duration[x]
                gap_valid[i] = client_valid[i]
            out_start[i] = start[x]
            out_trace[i] = trace[sc] if caller_trace else trace[x]
        else:
            out_start[i] = start[sc]
            out_trace[i] = trace[sc]
        err[i] = e
    return out_trace, source, out_start, client_ns, client_valid, server_ns, gap, gap_valid, err
