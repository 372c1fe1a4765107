"""The circuit breaker in web-frontend's payment client, in simulated time (as in the seed).

CLOSED: calls flow; the outcomes of the last ``window`` finished calls are tracked and the
breaker opens when at least ``min_calls`` of them finished and the failure ratio reaches
``failure_ratio``. OPEN: calls are rejected at once (fail-fast spans) for ``open_seconds``.
HALF_OPEN: one trial call at a time; ``success_threshold`` successes close the breaker, any
failure opens it again.

Calls overlap in time, so an outcome is only known when its call *ends*: outcomes are
queued with their end time and applied before each decision at a later instant.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field
from typing import Final

CLOSED: Final = "closed"
OPEN: Final = "open"
HALF_OPEN: Final = "half_open"


@dataclass(frozen=True, slots=True)
class Transition:
    """A state change, kept so the demo can say when the breaker tripped."""

    at: float
    before: str
    after: str


@dataclass(slots=True)
class CircuitBreaker:
    window: int = 10
    min_calls: int = 5
    failure_ratio: float = 0.5
    open_seconds: float = 30.0
    success_threshold: int = 2
    state: str = CLOSED
    opened_at: float = 0.0
    trial_in_flight: bool = False
    trial_successes: int = 0
    outcomes: deque[bool] = field(default_factory=deque)  # True = failure
    pending: list[tuple[float, int, bool, bool]] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    _seq: int = 0

    def allow(self, now: float) -> tuple[bool, str]:
        """Whether a call starting at ``now`` may go out, and the state it saw.

        A permitted call must be reported with :meth:`record`.
        """
        self._apply_finished(now)
        if self.state == OPEN and now - self.opened_at >= self.open_seconds:
            self._move(now, HALF_OPEN)
            self.trial_successes = 0
        if self.state == OPEN:
            return False, OPEN
        if self.state == HALF_OPEN:
            if self.trial_in_flight:
                return False, HALF_OPEN
            self.trial_in_flight = True
            return True, HALF_OPEN
        return True, CLOSED

    def record(self, end: float, failed: bool, state_seen: str) -> None:
        """The outcome of a permitted call, applied once simulated time passes ``end``."""
        self._seq += 1
        heapq.heappush(self.pending, (end, self._seq, failed, state_seen == HALF_OPEN))

    def _apply_finished(self, now: float) -> None:
        while self.pending and self.pending[0][0] <= now:
            end, _, failed, trial = heapq.heappop(self.pending)
            self._apply(end, failed, trial)

    def _apply(self, at: float, failed: bool, trial: bool) -> None:
        if self.state == HALF_OPEN and trial:
            self.trial_in_flight = False
            if failed:
                self._open(at)
            else:
                self.trial_successes += 1
                if self.trial_successes >= self.success_threshold:
                    self._move(at, CLOSED)
                    self.outcomes.clear()
            return
        if self.state != CLOSED:
            return  # late outcome of a call made before the breaker opened
        self.outcomes.append(failed)
        if len(self.outcomes) > self.window:
            self.outcomes.popleft()
        if len(self.outcomes) >= self.min_calls and sum(self.outcomes) / len(self.outcomes) >= self.failure_ratio:
            self._open(at)

    def _open(self, at: float) -> None:
        self._move(at, OPEN)
        self.opened_at = at
        self.outcomes.clear()

    def _move(self, at: float, state: str) -> None:
        if state != self.state:
            self.transitions.append(Transition(at, self.state, state))
            self.state = state
