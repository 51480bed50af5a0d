"""What a worker process is told when it starts: :class:`WorkerConfig` and the credits it asks for.

Its own module because everything in the worker reads it (the session, the
socket line, the process, the supervisor) and it depends on none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import zmq

from wasmpool.wire import protocol as p
from wasmpool.wire.liveness import DEFAULT_RECONNECT_MAX, DEFAULT_RECONNECT_MIN
from wasmpool.worker.cache import DEFAULT_BYTES, DEFAULT_ENTRIES
from wasmpool.worker.diskcache import DEFAULT_DISK_BYTES
from wasmpool.worker.host import DEFAULT_HOST_LIMITS, HostLimits

DEFAULT_BACKEND = "tcp://127.0.0.1:5556"
DEFAULT_WARM_UP = 20  # rounds of worker.warmup at a worker process's start: enough for CPython to specialize
MAX_WARM_UP = 1000  # the most --warm-up accepts (a round costs about a millisecond)
DEFAULT_PRELOAD = 16  # modules a worker with a disk cache loads at its start: the host's most recently used
MAX_PRELOAD = 1024  # the most --preload accepts
PRELOAD_SECONDS = 2.0  # the longest a worker spends preloading before it registers
DEFAULT_PREFETCH = 7  # with the running job, 8 credits: results go back in FINALs of up to 4


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything a worker process needs (picklable, for spawn)."""

    endpoint: str = DEFAULT_BACKEND
    cache_entries: int = DEFAULT_ENTRIES
    cache_bytes: int = DEFAULT_BYTES
    cache_dir: str | None = None  # the host's compiled-code cache on disk, shared by its workers (None: none)
    cache_dir_bytes: int = DEFAULT_DISK_BYTES  # the disk cache's bound (least recently used entries go)
    cache_dir_loose: bool = False  # accept a cache directory others may write to (it holds executable code)
    heartbeat: float = 1.0  # seconds between heartbeats; the broker's value replaces it on READY
    liveness: int = 3  # missed heartbeats before the broker counts as gone (then reconnect)
    reconnect_min: float = DEFAULT_RECONNECT_MIN  # reconnect backoff: first delay, doubling to the max
    reconnect_max: float = DEFAULT_RECONNECT_MAX
    watchdog: float = 5.0  # end the process when a job outlives its time limit by this much (0: never)
    max_jobs: int = 0  # recycle the process after this many jobs (0: never)
    max_memory_mb: int = 0  # recycle the process once its resident memory exceeds this (0: never)
    prefetch: int = DEFAULT_PREFETCH  # jobs held besides the running one (READY's credits - 1)
    callback_timeout: float = 10.0
    warm_up: int = DEFAULT_WARM_UP  # rounds of a built-in contract run before READY (0: start cold)
    preload: int = DEFAULT_PRELOAD  # the host's most recently used modules loaded from disk before READY
    limits: p.ProtocolLimits = p.DEFAULT_LIMITS
    host_limits: HostLimits = DEFAULT_HOST_LIMITS
    setup_socket: Callable[[zmq.Socket[Any]], object] | None = None  # before connect; picklable for spawn


def credits(prefetch: int) -> int:
    """READY's credits for ``prefetch`` (clamped to what the protocol allows).

    The process runs one job at a time, and the next ``prefetch`` wait in
    its socket so it never sits idle for a FINAL -> REQUEST round trip
    through the broker (as a Celery worker's prefetch, or AMQP's ``basic.qos``).
    """
    return max(1, min(p.MAX_CREDITS, 1 + prefetch))
