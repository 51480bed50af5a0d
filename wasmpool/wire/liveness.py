"""The heartbeat contract both sides of the backend keep, and the worker's reconnect schedule.

ZeroMQ's Paranoid Pirate / Majordomo rules: both sides send a HEARTBEAT
every ``interval`` seconds when they have sent nothing else in that time;
*any* frame counts as a heartbeat. A peer silent for ``liveness`` intervals
is dead. Workers heartbeat from a thread of their own even while a job
runs, and say so in READY (``heartbeats: true``); for them silence means
dead whether they are busy or not, so a SIGSTOPped or wedged process is
noticed within the liveness window. A worker that did not say so (an older
one) is only expected to be heard from after its job's deadline. On READY
the broker answers with one HEARTBEAT carrying its own ``interval`` and
``liveness``, which the worker adopts: both sides always judge each other
by the same numbers.

:class:`Backoff` is the worker's reconnect schedule: 1 s doubling to 32 s.
What the broker does with a job whose worker died is its own business
(``wasmpool.broker.liveness``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wasmpool.wire.messages import Heartbeat

DEFAULT_INTERVAL = 1.0
DEFAULT_LIVENESS = 3
DEFAULT_RECONNECT_MIN = 1.0
DEFAULT_RECONNECT_MAX = 32.0


@dataclass(frozen=True, slots=True)
class Liveness:
    """The heartbeat contract between broker and workers."""

    interval: float = DEFAULT_INTERVAL
    liveness: int = DEFAULT_LIVENESS

    @property
    def window(self) -> float:
        """Seconds of silence after which a peer is dead."""
        return self.interval * self.liveness

    def expires(self, now: float, heartbeats_busy: bool, job_deadline: float | None) -> float:
        """When a worker last heard from at ``now`` is declared dead if it stays silent.

        A worker that heartbeats while busy is judged by silence alone; an
        older one only once its job's deadline has passed.
        """
        if job_deadline is None or heartbeats_busy:
            return now + self.window
        return max(now, job_deadline) + self.window

    def overran(self, started: float, budget: float, now: float) -> bool:
        """True when a job dispatched at ``started`` with ``budget`` seconds is a window past it."""
        return now >= started + budget + self.window

    def heartbeat_due(self, last_sent: float, now: float) -> bool:
        """True when nothing was sent to a peer for an interval."""
        return now - last_sent >= self.interval

    def announce(self, max_body: int | None = None) -> dict[str, Any]:
        """The HEARTBEAT body that tells a worker the broker's numbers (and the largest body it reads)."""
        return Heartbeat(self.interval, self.liveness, max_body).to_body()


class Backoff:
    """Reconnect delays: ``low`` seconds, doubling on each failure up to ``high``; reset on success."""

    def __init__(self, low: float = DEFAULT_RECONNECT_MIN, high: float = DEFAULT_RECONNECT_MAX) -> None:
        self.low = low
        self.high = max(low, high)
        self.current = low

    def next(self) -> float:
        """The delay before the next attempt (then doubled for the one after)."""
        delay = self.current
        self.current = min(self.high, self.current * 2)
        return delay

    def reset(self) -> None:
        self.current = self.low
