"""The worker's DEALER to the broker, shared by the main thread and a heartbeat thread under one lock.

Why two threads
    A job runs Python code the engine compiled, in the process's main
    thread (where SIGALRM enforces the call's time limit). While it runs,
    the main thread cannot send anything, yet the broker must tell a merely
    busy worker from a dead or frozen one. So a :class:`Heartbeat` thread
    speaks for the worker while a job computes.

Only frames move here
    What to send, when, and what an arriving frame means is decided by the
    :class:`~wasmpool.worker.session.WorkerSession`; :class:`Line` moves
    frames between the socket and the session, and :class:`Heartbeat` wakes
    up to give the session its turn while a job computes.

One socket, one lock (the hot path has no extra hop)
    ZeroMQ sockets are not thread-safe; a socket may be used by several
    threads only with a full memory barrier between them. :class:`Line`
    owns the DEALER and a lock, and every use of the socket and of the
    session, by either thread, happens with the lock held. The main thread
    sends and receives directly (a REQUEST and its FINAL cross no other
    thread); whoever holds the lock is responsible for heartbeats:

    - idle, or waiting for a CALLBACK reply, the main thread holds the lock
      while it polls (:meth:`Line.wait`), sending what the session says is
      due (a HEARTBEAT after an interval of silence) and polling at most
      until the next one;
    - while a job computes (the session is ``busy``) the lock is free and
      the heartbeat thread, on each wake-up, takes it briefly
      (:meth:`Line.beat`): it hands the session whatever the broker sent
      meanwhile (so the broker's frames keep counting as heard), and sends
      the results kept back and a HEARTBEAT when due, so a long job never
      holds back the answers of the quick ones before it by more than a
      wake-up interval.

    A SIGSTOPped process stops every thread, so it falls silent and the
    broker re-dispatches its job.

Reconnecting
    When the session finds the broker silent for the liveness window (on
    the main thread's next wait), the line closes the socket, waits the
    session's backoff delay, and opens a new one; the worker then registers
    again with READY (Paranoid Pirate).

Watchdog
    A job still running ``watchdog`` seconds after its own time limit means
    the main thread is wedged where SIGALRM cannot reach it (inside a long C
    call): the heartbeat thread ends the process with :data:`EXIT_WEDGED`,
    and the supervisor starts a fresh one. The broker has by then counted
    the job as lost (it overran).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import zmq

from wasmpool.wire import protocol as p
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.session import Frames, WorkerSession

EXIT_WEDGED = 75  # the watchdog ended a worker whose job outlived its time limit
CLOSE_LINGER_MS = 200
WAKE_SHARE = 0.25  # the heartbeat thread wakes this often per interval while a job computes
WAKE_MAX = 0.25  # ... and at least this often (seconds), for the watchdog


class Line:
    """The DEALER to the broker and its lock; see the module docstring."""

    def __init__(self, config: WorkerConfig, session: WorkerSession, context: zmq.Context[Any],
                 stopping: threading.Event) -> None:
        self.config = config
        self.session = session
        self.context = context
        self.stopping = stopping
        self.lock = threading.Lock()
        self.dropped = 0  # messages lost because the broker was away long enough to fill the queue
        self.socket = self._connect()

    def _connect(self) -> zmq.Socket[Any]:
        sock: zmq.Socket[Any] = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, 4 * self.config.limits.max_body)
        if self.config.setup_socket is not None:
            self.config.setup_socket(sock)
        sock.connect(self.config.endpoint)
        self.session.connected()
        return sock

    # --- the main thread --------------------------------------------------------------------

    def send(self, build: Callable[[], Frames | None], *, drain: bool = False) -> None:
        """Send what the session builds (nothing for None); ``drain``: hand it what arrived first."""
        with self.lock:
            if drain:
                self._drain()
            frames = build()
            if frames is not None:
                self._send(frames)

    def take(self) -> p.Message | None:
        """The next job the session holds, after what it says comes first (READY: register again)."""
        with self.lock:
            send, job = self.session.turn()
            if send is not None:
                self._send(send)
            return job

    def wait(self, until: Callable[[], bool], timeout: float) -> None:
        """Move frames until ``until()`` holds or ``timeout`` seconds pass (sending, reconnecting as due)."""
        session = self.session
        with self.lock:
            deadline = session.clock() + timeout
            while not until():
                due = session.due()
                if due.send is not None:
                    self._send(due.send)
                if due.reconnect is not None:
                    self._reconnect(due.reconnect)
                    continue
                wait = session.wait_time(deadline)
                if wait <= 0:
                    return
                if self.socket.poll(max(0, int(wait * 1000)) + 1):
                    self._drain()

    def close(self) -> None:
        """Close, giving a last message (DISCONNECT) a moment to leave."""
        with self.lock:
            self.socket.close(linger=CLOSE_LINGER_MS)

    # --- with the lock held --------------------------------------------------------------------

    def _send(self, frames: Frames) -> None:
        try:
            p.send_frames(self.socket, None, frames)
        except zmq.Again:  # the broker is away and the queue is full: the message is lost
            self.dropped += 1

    def _drain(self) -> None:
        """Everything waiting on the socket, to the session."""
        sock, heard = self.socket, self.session.heard
        while p.waiting(sock):
            heard(p.receive_all(sock))

    def _reconnect(self, delay: float) -> None:
        """The broker fell silent: close, wait ``delay`` seconds (or until stopping), connect anew."""
        self.socket.close(linger=0)
        self.stopping.wait(delay)
        self.socket = self._connect()

    # --- the heartbeat thread ------------------------------------------------------------------

    def beat(self) -> None:
        """While a job computes: the session's turn (frames in, kept results and heartbeats out)."""
        session = self.session
        if not session.busy or not self.lock.acquire(timeout=session.liveness.interval * WAKE_SHARE):
            return
        try:
            if not session.busy:  # the job ended meanwhile: the main thread speaks again
                return
            self._drain()
            for frames in session.while_computing():
                self._send(frames)
        finally:
            self.lock.release()

    def watch(self) -> None:
        """End the process when the running job has outlived its time limit by ``watchdog`` seconds."""
        if self.session.wedged():
            os._exit(EXIT_WEDGED)  # the main thread is stuck beyond the reach of SIGALRM


class Heartbeat(threading.Thread):
    """The thread that heartbeats for a computing worker and runs the watchdog."""

    def __init__(self, line: Line) -> None:
        super().__init__(name="wasmpool-heartbeat", daemon=True)
        self.line = line
        self.stopping = threading.Event()

    def run(self) -> None:
        line = self.line
        while not self.stopping.wait(min(line.session.liveness.interval * WAKE_SHARE, WAKE_MAX)):
            line.watch()
            line.beat()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self.join(timeout)
