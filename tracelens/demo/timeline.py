"""Chaos scenarios on a timeline: parsing ``--scenario`` and asking "what is broken at t?".

Syntax (one or more, comma-separated or repeated)::

    NAME[@START[+LENGTH]]

``START`` is the offset from the beginning of the simulated run and ``LENGTH`` how long the
scenario lasts, both durations like ``90s``, ``30m``, ``2h``, ``1h30m``, ``1d``. Omitted parts
take the scenario's default (see ``SCENARIOS``), e.g. ``db-slowdown@2h+1h``,
``error-spike@3h``, ``canary``. Scenarios may overlap; their effects combine.

Everything here is a pure function of simulated time, so a scenario's effect on a request
depends only on when the request arrives (seeded randomness lives in the shop model).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from tracelens.errors import ScenarioError

NS_PER_S: Final = 1_000_000_000

_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90s``, ``30m``, ``2h``, ``1h30m``, ``1.5d``."""
    cleaned = text.strip().lower()
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        msg = f"invalid duration {text!r} (expected e.g. 90s, 30m, 2h, 1h30m, 1d)"
        raise ScenarioError(msg)
    return total


def format_duration(seconds: float) -> str:
    """The shortest readable form, e.g. 5400 -> '1h30m', 120 -> '2m'."""
    seconds = round(seconds)
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class ScenarioInfo:
    """A chaos scenario's description and default placement as fractions of the run."""

    description: str
    default_start: float  # fraction of the run
    default_length: float | None  # fraction of the run; None = a fixed length below
    fixed_length_seconds: float | None = None


SCENARIOS: Final[dict[str, ScenarioInfo]] = {
    "db-slowdown": ScenarioInfo("+2 s on every inventory database query", 0.3, 0.15),
    "kill-pod": ScenarioInfo(
        "half of payment-service's pods die (connection refused) until Kubernetes restarts them",
        0.55,
        0.1,
    ),
    "network-partition": ScenarioInfo(
        "inventory-service cannot reach its database: queries time out, no fallback", 0.45, 0.05
    ),
    "network-partition-cached": ScenarioInfo(
        "inventory-service cannot reach its database: reads answered from the redis cache, stock reservations (writes) still fail",
        0.45,
        0.05,
    ),
    "error-spike": ScenarioInfo("auth-service fails 5 % of requests", 0.2, None, 120.0),
    "sustained-errors": ScenarioInfo("auth-service fails 2 % of requests", 0.5, 0.3),
    "slow-degradation": ScenarioInfo("auth-service errors creep from 0.5 % to 0.8 %", 0.2, 0.6),
    "canary": ScenarioInfo(
        "payment-service v2.0 rolled out 5 % -> 25 % -> 50 %; at 50 % a load-dependent regression shows (2.5 % errors, p95 800 ms)",
        0.7,
        0.2,
    ),
    "payment-outage": ScenarioInfo(
        "credit-card-api stops answering: payment calls time out, the circuit breaker opens",
        0.8,
        0.05,
    ),
}

#: what ``tracelens demo`` runs when no --scenario is given: a story with a cause to find.
DEFAULT_SCENARIOS: Final = "db-slowdown,kill-pod,canary"


@dataclass(frozen=True, slots=True)
class ScenarioWindow:
    """One scenario placed on the timeline (seconds from the start of the run)."""

    name: str
    start: float
    length: float

    @property
    def end(self) -> float:
        return self.start + self.length

    def active(self, t: float) -> bool:
        return self.start <= t < self.end

    def progress(self, t: float) -> float:
        """0 at the start of the window, 1 at its end."""
        return min(1.0, max(0.0, (t - self.start) / self.length)) if self.length > 0 else 1.0

    def label(self) -> str:
        return f"{self.name}@{format_duration(self.start)}+{format_duration(self.length)}"


def parse_scenarios(texts: str | list[str] | tuple[str, ...] | None, run_seconds: float) -> tuple[ScenarioWindow, ...]:
    """Scenario windows from ``--scenario`` values (each may hold a comma-separated list).

    ``none`` (or an empty value) means no chaos at all.
    """
    if texts is None:
        return ()
    items = [texts] if isinstance(texts, str) else list(texts)
    windows: list[ScenarioWindow] = []
    for item in items:
        for part in item.split(","):
            part = part.strip()
            if not part or part == "none":
                continue
            windows.append(parse_scenario(part, run_seconds))
    return tuple(sorted(windows, key=lambda w: (w.start, w.name)))


def parse_scenario(text: str, run_seconds: float) -> ScenarioWindow:
    """One ``NAME[@START[+LENGTH]]``; defaults are placed relative to the run's length."""
    name, _, when = text.partition("@")
    name = name.strip()
    info = SCENARIOS.get(name)
    if info is None:
        msg = f"unknown scenario {name!r}; choose from {', '.join(sorted(SCENARIOS))}"
        raise ScenarioError(msg)
    start_text, _, length_text = when.partition("+")
    start = parse_duration(start_text) if start_text else info.default_start * run_seconds
    if length_text:
        length = parse_duration(length_text)
    elif info.fixed_length_seconds is not None:
        length = info.fixed_length_seconds
    else:
        length = (info.default_length or 0.1) * run_seconds
    if start >= run_seconds:
        msg = f"scenario {text!r} starts at {format_duration(start)}, after the run ends ({format_duration(run_seconds)})"
        raise ScenarioError(msg)
    if length <= 0:
        msg = f"scenario {text!r} has no length"
        raise ScenarioError(msg)
    return ScenarioWindow(name, start, length)


@dataclass(frozen=True, slots=True)
class Conditions:
    """What is broken at one instant; the shop model reads only this."""

    db_extra_seconds: float = 0.0
    db_partitioned: bool = False
    db_cache_fallback: bool = False
    dead_pod_share: float = 0.0  # of payment-service's v1 pods
    auth_error_rate: float = 0.0  # injected, on top of the baseline
    canary_share: float = 0.0  # of payment traffic routed to v2.0
    canary_regressed: bool = False  # v2.0's regression shows (only under enough load, as in the seed)
    credit_card_down: bool = False


NORMAL: Final = Conditions()

DB_SLOWDOWN_SECONDS: Final = 2.0
KILLED_POD_SHARE: Final = 0.5
ERROR_SPIKE_RATE: Final = 0.05
SUSTAINED_ERROR_RATE: Final = 0.02
DEGRADATION_FROM: Final = 0.005
DEGRADATION_TO: Final = 0.008
CANARY_STEPS: Final = (0.05, 0.25, 0.50)
#: The seed's rollout: v2.0 looks fine at 5 % and 25 % and breaks at 50 % (a load-dependent
#: bug), so a step-by-step judgement must pass the first two steps and fail the third.
CANARY_REGRESSION_SHARE: Final = 0.50


def canary_share_at(window: ScenarioWindow, t: float) -> float:
    """The rollout step at ``t``: the window is split into equal steps, 5 % -> 25 % -> 50 %."""
    step = min(len(CANARY_STEPS) - 1, int(window.progress(t) * len(CANARY_STEPS)))
    return CANARY_STEPS[step]


def conditions_at(windows: tuple[ScenarioWindow, ...], t: float) -> Conditions:
    """The combined effect of every scenario active at ``t`` (seconds from the start)."""
    active = [w for w in windows if w.active(t)]
    if not active:
        return NORMAL
    db_extra = 0.0
    partitioned = cached = credit_down = False
    dead = auth = canary = 0.0
    for w in active:
        if w.name == "db-slowdown":
            db_extra += DB_SLOWDOWN_SECONDS
        elif w.name == "network-partition":
            partitioned = True
        elif w.name == "network-partition-cached":
            partitioned = cached = True
        elif w.name == "kill-pod":
            dead = max(dead, KILLED_POD_SHARE)
        elif w.name == "error-spike":
            auth += ERROR_SPIKE_RATE
        elif w.name == "sustained-errors":
            auth += SUSTAINED_ERROR_RATE
        elif w.name == "slow-degradation":
            auth += DEGRADATION_FROM + (DEGRADATION_TO - DEGRADATION_FROM) * w.progress(t)
        elif w.name == "canary":
            canary = max(canary, canary_share_at(w, t))
        elif w.name == "payment-outage":
            credit_down = True
    return Conditions(
        db_extra_seconds=db_extra,
        db_partitioned=partitioned,
        db_cache_fallback=cached,
        dead_pod_share=dead,
        auth_error_rate=min(auth, 1.0),
        canary_share=canary,
        canary_regressed=canary >= CANARY_REGRESSION_SHARE,
        credit_card_down=credit_down,
    )
