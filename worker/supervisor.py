"""The parent of ``wasmpool worker --processes N``: keeps N worker processes alive, recycles, shuts down.

Theory of operation
-------------------
:class:`Supervisor` starts N worker processes (spawned: no inherited
sockets) and, every ``check`` seconds, replaces any that exited: killed,
crashed, ended by its watchdog (``wasmpool.worker.heartbeat``), or *recycled*, i.e.
stopped by itself after ``max_jobs`` jobs or past ``max_memory_mb`` of
resident memory (:func:`worn_out`), so that leaks and fragmentation from
many contracts cannot accumulate. A process that dies young (within
``min_uptime``) is restarted after a growing delay (1 s doubling to 32 s,
per slot), so a host-level fault does not become a fork loop; a process
that lived long enough resets its slot's delay.

Signals: worker processes ignore SIGINT (Ctrl-C reaches the whole process
group; the parent decides) and handle SIGTERM gracefully: the first one
lets the current job finish, sends its FINAL and DISCONNECT, and exits; a
second one stops at once (:func:`handle_stop_signals`). The supervisor's
:meth:`Supervisor.stop` sends SIGTERM to every child, waits up to
``drain`` seconds, then SIGKILLs what is left.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import TYPE_CHECKING

from wasmpool.wire.liveness import Backoff

if TYPE_CHECKING:
    from wasmpool.worker.process import WorkerConfig

MIB = 1024 * 1024
STATM = "/proc/self/statm"
DEFAULT_MIN_UPTIME = 2.0
DEFAULT_DRAIN = 10.0


def resident_mb() -> float:
    """This process's resident memory in MiB (Linux /proc; elsewhere the peak from getrusage)."""
    try:
        with open(STATM, encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / MIB
    except (OSError, ValueError, IndexError):
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worn_out(config: WorkerConfig, jobs_done: int) -> str | None:
    """Why a worker process should be replaced now (None: it should not)."""
    if config.max_jobs and jobs_done >= config.max_jobs:
        return f"served {jobs_done} jobs (max {config.max_jobs})"
    if config.max_memory_mb:
        size = resident_mb()
        if size > config.max_memory_mb:
            return f"resident memory {size:.0f} MiB exceeds {config.max_memory_mb} MiB"
    return None


def handle_stop_signals(stop: Callable[[], None]) -> None:
    """In a worker process: ignore SIGINT; first SIGTERM calls ``stop`` (graceful), a second exits at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signalled: list[int] = []

    def on_term(signum: int, frame: FrameType | None) -> None:
        if signalled:
            raise SystemExit(1)
        signalled.append(signum)
        stop()

    signal.signal(signal.SIGTERM, on_term)


@dataclass
class Slot:
    """One of the N places: its current process and its restart schedule."""

    process: BaseProcess
    started: float
    backoff: Backoff
    restart_at: float = 0.0


class Supervisor:
    """Keeps ``processes`` worker processes running; see the module docstring."""

    def __init__(self, config: WorkerConfig, processes: int, *, min_uptime: float = DEFAULT_MIN_UPTIME,
                 log: Callable[[str], None] | None = None,
                 target: Callable[[WorkerConfig], None] | None = None) -> None:
        self.config = config
        self.target = target  # the process's entry point (picklable); default worker.process.main
        self.count = processes
        self.min_uptime = min_uptime
        self.log = log or (lambda text: None)
        self.slots: list[Slot] = []
        self.restarts = 0

    def start(self) -> Supervisor:
        now = time.monotonic()
        self.slots = [Slot(self._spawn(i), now, Backoff(self.config.reconnect_min, self.config.reconnect_max))
                      for i in range(self.count)]
        return self

    def _spawn(self, index: int) -> BaseProcess:
        """Start one worker process (spawn start method: no inherited sockets)."""
        from wasmpool.worker.process import main
        process = multiprocessing.get_context("spawn").Process(
            target=self.target or main, args=(self.config,), name=f"wasmpool-worker-{index}", daemon=True)
        process.start()
        return process

    @property
    def processes(self) -> list[BaseProcess]:
        return [slot.process for slot in self.slots]

    def check(self) -> int:
        """Replace exited processes whose restart is due; returns how many were started."""
        now, started = time.monotonic(), 0
        for index, slot in enumerate(self.slots):
            if slot.process.is_alive():
                continue
            if not slot.restart_at:
                slot.process.join(0)
                young = now - slot.started < self.min_uptime
                slot.restart_at = now + (slot.backoff.next() if young else 0.0)
                if not young:
                    slot.backoff.reset()
                self.log(f"worker {slot.process.name} (pid {slot.process.pid}) exited with "
                         f"{slot.process.exitcode}; starting a new one")
            if now >= slot.restart_at:
                slot.process = self._spawn(index)
                slot.started, slot.restart_at = now, 0.0
                self.restarts += 1
                started += 1
        return started

    def run(self, interval: float = 0.5) -> None:
        """Check forever (until KeyboardInterrupt)."""
        while True:
            time.sleep(interval)
            self.check()

    def stop(self, drain: float = DEFAULT_DRAIN) -> None:
        """SIGTERM every process (each finishes its job), wait up to ``drain`` seconds, SIGKILL the rest."""
        from wasmpool.worker.process import stop_workers
        stop_workers(self.processes, drain)
