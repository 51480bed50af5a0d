"""How worker processes are started: :class:`Supervisor` keeps N of them alive, recycles, shuts down.

This module is the one place worker processes are started
(:func:`spawn`) and stopped (:func:`stop_workers`): ``wasmpool worker
--processes N``, ``wasmpool broker --with-workers N`` and an embedding
node (:func:`supervise`) all run a :class:`Supervisor`.

Theory of operation
-------------------
:class:`Supervisor` starts N worker processes (spawned: no inherited
sockets) and, every ``check`` seconds, replaces any that exited: killed,
crashed, ended by its watchdog (``wasmpool.worker.heartbeat``), or *recycled*, i.e.
stopped by itself after ``max_jobs`` jobs or past ``max_memory_mb`` of
resident memory (``wasmpool.worker.recycle``), so that leaks and fragmentation from
many contracts cannot accumulate. A process that dies young (within
``min_uptime``) is restarted after a growing delay (1 s doubling to 32 s,
per slot), so a host-level fault does not become a fork loop; a process
that lived long enough resets its slot's delay. The checks run in the
caller's loop (:meth:`Supervisor.run`) or in a thread of their own
(:meth:`Supervisor.watch`), for a process that has its own loop to run.

Signals: worker processes ignore SIGINT (Ctrl-C reaches the whole process
group; the parent decides) and handle SIGTERM gracefully: the first one
lets the current job finish, sends its FINAL and DISCONNECT, and exits; a
second one stops at once (``wasmpool.worker.signals``). The supervisor's
:meth:`Supervisor.stop` sends SIGTERM to every child, waits up to
``drain`` seconds, then SIGKILLs what is left.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess

from wasmpool.wire.liveness import Backoff
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.process import main

DEFAULT_MIN_UPTIME = 2.0
DEFAULT_DRAIN = 10.0
DEFAULT_CHECK = 0.5

Target = Callable[[WorkerConfig], None]
"""A worker process's entry point (picklable): :func:`wasmpool.worker.process.main`, or a test's wrapper."""


def spawn(config: WorkerConfig, index: int, target: Target = main) -> BaseProcess:
    """Start one worker process (spawn start method: no inherited sockets)."""
    process = multiprocessing.get_context("spawn").Process(
        target=target, args=(config,), name=f"wasmpool-worker-{index}", daemon=True)
    process.start()
    return process


def stop_workers(processes: list[BaseProcess], timeout: float = 5.0) -> None:
    """SIGTERM every process (each finishes its job), wait up to ``timeout`` seconds, SIGKILL the rest."""
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def start_workers(config: WorkerConfig, processes: int) -> list[BaseProcess]:
    """``processes`` worker processes that nobody restarts (stop them with :func:`stop_workers`).

    For tests and benchmarks that kill or replace workers themselves; a
    service wants them supervised (:class:`Supervisor`, :func:`supervise`).
    """
    return [spawn(config, index) for index in range(processes)]


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
                 log: Callable[[str], None] | None = None, target: Target | None = None) -> None:
        self.config = config
        self.target = target or main
        self.count = processes
        self.min_uptime = min_uptime
        self.log = log or (lambda text: None)
        self.slots: list[Slot] = []
        self.restarts = 0
        self._watching: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> Supervisor:
        now = time.monotonic()
        self.slots = [Slot(spawn(self.config, i, self.target), now,
                           Backoff(self.config.reconnect_min, self.config.reconnect_max))
                      for i in range(self.count)]
        return self

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
                slot.process = spawn(self.config, index, self.target)
                slot.started, slot.restart_at = now, 0.0
                self.restarts += 1
                started += 1
        return started

    def run(self, interval: float = DEFAULT_CHECK) -> None:
        """Check until :meth:`stop` (or KeyboardInterrupt), in the calling thread."""
        while not self._stopping.wait(interval):
            self.check()

    def watch(self, interval: float = DEFAULT_CHECK) -> Supervisor:
        """Check in a thread of its own (for a caller busy with its own loop) until :meth:`stop`."""
        self._watching = threading.Thread(target=self.run, args=(interval,), name="wasmpool-supervisor",
                                          daemon=True)
        self._watching.start()
        return self

    def stop(self, drain: float = DEFAULT_DRAIN) -> None:
        """Stop restarting; SIGTERM every process (each finishes its job), SIGKILL what outlives ``drain``."""
        self._stopping.set()
        if self._watching is not None:
            self._watching.join()
        stop_workers(self.processes, drain)


def supervise(config: WorkerConfig, processes: int, *, log: Callable[[str], None] | None = None
              ) -> Supervisor:
    """``processes`` supervised worker processes, restarted from a thread; call ``stop()`` when done.

    The way to run workers next to an embedded broker (``examples/embed_broker.py``)
    and what ``wasmpool broker --with-workers`` does.
    """
    return Supervisor(config, processes, log=log).start().watch()
