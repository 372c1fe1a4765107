from tracelens.demo.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker


def _call(breaker, at, duration, failed):
    allowed, seen = breaker.allow(at)
    if allowed:
        breaker.record(at + duration, failed, seen)
    return allowed, seen


def test_closed_to_open_to_half_open_to_closed():
    b = CircuitBreaker(window=10, min_calls=5, failure_ratio=0.5, open_seconds=30, success_threshold=2)
    for i in range(5):
        assert _call(b, i, 0.5, failed=True) == (True, CLOSED)
    # the 5th failure is only known once it ended (t = 4.5)
    assert _call(b, 4.6, 0.5, failed=False) == (False, OPEN)
    assert _call(b, 20, 0.5, failed=False) == (False, OPEN)  # fail fast, no waiting
    assert _call(b, 35, 0.5, failed=False) == (True, HALF_OPEN)  # one trial...
    assert _call(b, 35.1, 0.1, failed=False) == (False, HALF_OPEN)  # ...at a time
    assert _call(b, 36, 0.5, failed=False) == (True, HALF_OPEN)
    assert _call(b, 37, 0.5, failed=False) == (True, CLOSED)
    assert [(t.before, t.after) for t in b.transitions] == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]


def test_failed_trial_reopens():
    b = CircuitBreaker(min_calls=2, failure_ratio=0.5, open_seconds=10)
    _call(b, 0, 0.1, True)
    _call(b, 0.2, 0.1, True)
    assert b.allow(1)[1] == OPEN
    assert _call(b, 12, 1.0, failed=True) == (True, HALF_OPEN)
    assert b.allow(13.5) == (False, OPEN)
    assert b.transitions[-1].after == OPEN and b.transitions[-1].at == 13.0


def test_a_few_failures_among_many_successes_keep_it_closed():
    b = CircuitBreaker()
    for i in range(100):
        _call(b, i, 0.2, failed=(i % 5 == 0))
    assert b.state == CLOSED and not b.transitions
