"""The worker's DEALER to the broker, shared by the main thread and a heartbeat thread under one lock.

Why two threads
    A job runs Python code the engine compiled, in the process's main
    thread (where SIGALRM enforces the call's time limit). While it runs,
    the main thread cannot send anything, yet the broker must tell a merely
    busy worker from a dead or frozen one. So a :class:`Heartbeat` thread
    speaks for the worker while a job computes.

One socket, one lock (the hot path has no extra hop)
    ZeroMQ sockets are not thread-safe; a socket may be used by several
    threads only with a full memory barrier between them. :class:`Line`
    owns the DEALER and a lock, and every use of the socket, by either
    thread, happens with the lock held. The main thread sends and receives
    directly (a REQUEST and its FINAL cross no other thread); whoever holds
    the lock is responsible for heartbeats:

    - idle, or waiting for a CALLBACK reply, the main thread holds the lock
      while it polls, and sends a HEARTBEAT itself whenever it has sent
      nothing for an interval (it polls at most until the next one is due);
    - while a job computes (:meth:`Line.computing`) the lock is free and the
      heartbeat thread, on each wake-up, takes it briefly: it moves whatever
      the broker sent meanwhile into :attr:`Line.inbox` (the main thread
      reads that first, so the broker's frames keep counting as heard) and
      sends a HEARTBEAT when one is due.

    Results the worker keeps back to send several in one FINAL
    (:meth:`Line.finished`) also go out under the lock: the main thread
    sends them when no job waits, and the heartbeat thread on its next
    wake-up while a job computes, so a long job never holds back the
    answers of the quick ones before it by more than a wake-up interval.

    A SIGSTOPped process stops every thread, so it falls silent and the
    broker re-dispatches its job. HEARTBEATs from the broker are absorbed;
    the one answering READY carries the broker's interval and liveness,
    which the line adopts. Any frame from the broker counts as a heartbeat.

Reconnecting
    When the broker has been silent for the liveness window, the main
    thread (on its next wait) closes the socket, waits (1 s doubling to
    32 s: :class:`~wasmpool.broker.liveness.Backoff`), opens a new one and hands the
    worker a DISCONNECT, which makes it register again with READY
    (Paranoid Pirate).

Watchdog
    The main thread marks each job's start with its time limit. A job still
    running ``watchdog`` seconds after its own time limit means the main
    thread is wedged where SIGALRM cannot reach it (inside a long C call):
    the heartbeat thread ends the process with :data:`EXIT_WEDGED`, and the
    supervisor starts a fresh one. The broker has by then counted the job
    as lost (it overran).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import zmq

from wasmpool.wire import errors
from wasmpool.wire import protocol as p
from wasmpool.wire.liveness import Backoff, Liveness
from wasmpool.wire.protocol import Command

if TYPE_CHECKING:
    from wasmpool.worker.process import WorkerConfig

FinalFrames = Callable[[list[list[Any]], bool], list[bytes]]
"""Encodes kept job results ([job id, result] in order) as one FINAL; the flag says the worker is leaving."""

EXIT_WEDGED = 75  # the watchdog ended a worker whose job outlived its time limit
CLOSE_LINGER_MS = 200
COMMAND_HEARTBEAT = bytes((Command.HEARTBEAT,))
HEARTBEAT_BODY = p.pack({})
POLLIN, EVENTS = int(zmq.POLLIN), int(zmq.EVENTS)
WAKE_SHARE = 0.25  # the heartbeat thread wakes this often per interval while a job computes
WAKE_MAX = 0.25  # ... and at least this often (seconds), for the watchdog


class Line:
    """The DEALER to the broker, its lock, and the liveness bookkeeping; see the module docstring."""

    def __init__(self, config: WorkerConfig, context: zmq.Context[Any], stopping: threading.Event) -> None:
        self.config = config
        self.context = context
        self.stopping = stopping
        self.lock = threading.Lock()
        self.liveness = Liveness(config.heartbeat, config.liveness)
        self.backoff = Backoff(config.reconnect_min, config.reconnect_max)
        self.inbox: deque[list[bytes]] = deque()  # frames the heartbeat thread took in during a job
        self.finals: list[list[Any]] = []  # [job id, result] of finished jobs not sent yet (batched FINALs)
        self.final_frames: FinalFrames | None = None  # how the worker encodes them (with its cache report)
        self.busy = False  # a job computes: the heartbeat thread speaks for the worker
        self.job_deadline: float | None = None  # when the watchdog ends the process
        self.reconnects = 0
        self.dropped = 0
        self.last_heard = self.last_sent = time.monotonic()
        self.socket = self._connect()

    def _connect(self) -> zmq.Socket[Any]:
        sock: zmq.Socket[Any] = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, 4 * self.config.limits.max_body)
        if self.config.setup_socket is not None:
            self.config.setup_socket(sock)
        sock.connect(self.config.endpoint)
        self.last_heard = time.monotonic()
        return sock

    # --- the main thread --------------------------------------------------------------------

    def send(self, frames: list[bytes]) -> None:
        """Send without blocking; with the broker away long enough to fill the queue, drop the message."""
        with self.lock:
            self._send(frames)

    def receive(self, timeout: float) -> list[bytes] | None:
        """The next message from the broker that is not a HEARTBEAT, within ``timeout`` seconds.

        Sends HEARTBEATs while it waits, and reconnects (returning a
        DISCONNECT for the worker) when the broker has been silent too long.
        """
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                while self.inbox:
                    frames = self._take(self.inbox.popleft())
                    if frames is not None:
                        return frames
                now = time.monotonic()
                if now - self.last_sent >= self.liveness.interval:
                    self._send([p.WORKER_TAG, COMMAND_HEARTBEAT, b"hb", HEARTBEAT_BODY])
                if now - self.last_heard > self.liveness.window:
                    return self._reconnect()
                left = deadline - now
                if left <= 0:
                    return None
                wait = min(left, self.last_sent + self.liveness.interval - now)
                if self.socket.poll(max(0, int(wait * 1000)) + 1):
                    self._drain()

    def arrived(self) -> list[list[bytes]]:
        """The broker's messages that are already here (not HEARTBEATs), without waiting."""
        with self.lock:
            self._drain()
            arrived = []
            while self.inbox:
                frames = self._take(self.inbox.popleft())
                if frames is not None:
                    arrived.append(frames)
            return arrived

    def finished(self, job_id: bytes, result: dict[str, Any]) -> int:
        """Keep a job's result to send with the next ones (:meth:`flush`); returns how many are kept."""
        with self.lock:
            self.finals.append([job_id, result])
            return len(self.finals)

    def flush(self, leaving: bool = False) -> None:
        """Send the kept results now, in one FINAL (``leaving``: the worker takes no further job)."""
        with self.lock:
            self._flush(leaving)

    def forget_finals(self) -> None:
        """Drop the kept results (the broker forgot this worker and gave its jobs to others)."""
        with self.lock:
            self.finals.clear()

    def computing(self, timeout: float) -> None:
        """A job starts computing: the heartbeat thread speaks for the worker, the watchdog is armed.

        Until :meth:`computed`, the main thread must not hold the lock outside
        its own socket calls (a CALLBACK takes it for its round trip and gives
        it back). Two plain calls rather than a context manager: this is on
        every job's path.
        """
        if self.config.watchdog > 0:
            self.job_deadline = time.monotonic() + timeout + self.config.watchdog
        self.busy = True

    def computed(self) -> None:
        """The job ended (however): the main thread speaks for the worker again, the watchdog disarmed."""
        self.busy = False
        self.job_deadline = None

    def close(self) -> None:
        """Close, giving a last message (DISCONNECT) a moment to leave."""
        with self.lock:
            self.socket.close(linger=CLOSE_LINGER_MS)

    # --- with the lock held --------------------------------------------------------------------

    def _send(self, frames: list[bytes]) -> None:
        try:
            p.send_frames(self.socket, None, frames)
        except zmq.Again:  # the broker is away and the queue is full: the message is lost
            self.dropped += 1
        self.last_sent = time.monotonic()

    def _flush(self, leaving: bool = False) -> None:
        if self.finals and self.final_frames is not None:
            finals, self.finals = self.finals, []
            self._send(self.final_frames(finals, leaving))

    def _drain(self) -> None:
        """Everything waiting on the socket, into the inbox."""
        sock = self.socket
        while sock.getsockopt(EVENTS) & POLLIN:  # type: ignore[operator]
            self.inbox.append(p.receive_all(sock))
            self.last_heard = time.monotonic()
            self.backoff.reset()

    def _take(self, frames: list[bytes]) -> list[bytes] | None:
        """A message for the worker, or None for a HEARTBEAT (adopting the broker's numbers it carries)."""
        if len(frames) < 2 or frames[1] != COMMAND_HEARTBEAT:
            return frames
        try:
            body = p.decode_broker(frames, self.config.limits).body
        except errors.ProtocolError:
            return None
        if "interval" in body or "liveness" in body:
            self.liveness = Liveness(float(body.get("interval", self.liveness.interval)),
                                     int(body.get("liveness", self.liveness.liveness)))
        return None

    def _reconnect(self) -> list[bytes]:
        """The broker fell silent: wait (backing off), connect anew, have the worker register again."""
        self.socket.close(linger=0)
        self.reconnects += 1
        self.inbox.clear()
        self.stopping.wait(self.backoff.next())
        self.socket = self._connect()
        self.last_sent = time.monotonic()
        return p.encode(p.WORKER_TAG, Command.DISCONNECT, b"reconnect", {})

    # --- the heartbeat thread ------------------------------------------------------------------

    def beat(self) -> None:
        """While a job computes: take in the broker's frames and heartbeat when due (never blocks long)."""
        if not self.busy or not self.lock.acquire(timeout=self.liveness.interval * WAKE_SHARE):
            return
        try:
            if not self.busy:  # the job ended meanwhile: the main thread speaks again
                return
            self._drain()
            self._flush()  # results kept back behind a job that takes long: they go now
            if time.monotonic() - self.last_sent >= self.liveness.interval:
                self._send([p.WORKER_TAG, COMMAND_HEARTBEAT, b"hb", HEARTBEAT_BODY])
        finally:
            self.lock.release()

    def watch(self) -> None:
        """End the process when the running job has outlived its time limit by ``watchdog`` seconds."""
        deadline = self.job_deadline
        if deadline is not None and time.monotonic() > deadline:
            os._exit(EXIT_WEDGED)  # the main thread is stuck beyond the reach of SIGALRM


class Heartbeat(threading.Thread):
    """The thread that heartbeats for a computing worker and runs the watchdog."""

    def __init__(self, line: Line) -> None:
        super().__init__(name="wasmpool-heartbeat", daemon=True)
        self.line = line
        self.stopping = threading.Event()

    def run(self) -> None:
        line = self.line
        while not self.stopping.wait(min(line.liveness.interval * WAKE_SHARE, WAKE_MAX)):
            line.watch()
            line.beat()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.join(timeout)
