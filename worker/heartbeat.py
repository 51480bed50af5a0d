"""The worker's I/O thread: it owns the DEALER to the broker, heartbeats, reconnects and watches the job.

Why a thread
    A job runs Python code the engine compiled, in the process's main
    thread (where SIGALRM enforces the call's time limit). While it runs,
    the main thread cannot answer or send anything, yet the broker must
    tell a merely busy worker from a dead or frozen one. So the DEALER
    socket to the broker belongs to this :class:`Pump` thread, and the main
    thread talks to it over an ``inproc`` PAIR (ZeroMQ sockets must not be
    shared between threads). Every message passes straight through in both
    directions, except HEARTBEATs from the broker, which the pump absorbs.

Heartbeats (see ``broker.liveness``)
    The pump sends a HEARTBEAT whenever it has sent nothing for an
    interval, busy or idle; the interpreter's GIL switch interval lets it
    run beside a busy main thread. A SIGSTOPped process stops every thread,
    so it falls silent and the broker re-dispatches its job. The broker's
    HEARTBEAT answering READY carries its interval and liveness; the pump
    adopts them. Any frame from the broker counts as a heartbeat.

Reconnecting
    When the broker is silent for the liveness window, the pump closes the
    socket, waits (1 s doubling to 32 s: :class:`~broker.liveness.Backoff`),
    opens a new one and hands the main thread a DISCONNECT, which makes it
    register again with READY (Paranoid Pirate).

Watchdog
    The pump sees each REQUEST pass to the main thread and the FINAL come
    back. A job still running ``watchdog`` seconds after its own time limit
    means the main thread is wedged where SIGALRM cannot reach it (inside
    a long C call): the pump ends the process with :data:`EXIT_WEDGED`, and
    the supervisor starts a fresh one. The broker has by then counted the
    job as lost (it overran).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import msgpack
import zmq

from broker import errors
from broker import protocol as p
from broker.liveness import Backoff, Liveness
from broker.protocol import Command

if TYPE_CHECKING:
    from worker.process import WorkerConfig

EXIT_WEDGED = 75  # the watchdog ended a worker whose job outlived its time limit
CLOSE_LINGER_MS = 200
_pumps = itertools.count()
COMMAND_REQUEST = bytes((Command.REQUEST,))
COMMAND_FINAL = bytes((Command.FINAL,))
COMMAND_HEARTBEAT = bytes((Command.HEARTBEAT,))
POLLIN = int(zmq.POLLIN)


class Pump(threading.Thread):
    """The I/O thread; see the module docstring. ``endpoint`` is the inproc address for the main thread."""

    def __init__(self, config: WorkerConfig, context: zmq.Context[Any]) -> None:
        super().__init__(name="wasmpool-heartbeat", daemon=True)
        self.config = config
        self.context = context
        self.liveness = Liveness(config.heartbeat, config.liveness)
        self.backoff = Backoff(config.reconnect_min, config.reconnect_max)
        self.endpoint = f"inproc://wasmpool-pump-{os.getpid()}-{next(_pumps)}"
        self.inner: zmq.Socket[Any] = context.socket(zmq.PAIR)
        self.inner.setsockopt(zmq.LINGER, 0)
        self.inner.bind(self.endpoint)
        self.dealer: zmq.Socket[Any] | None = None
        self.poller = zmq.Poller()
        self.stopping = threading.Event()
        self.reconnects = 0
        self.job_deadline: float | None = None  # when the watchdog ends the process
        self.last_heard = self.last_sent = time.monotonic()

    # --- lifecycle ------------------------------------------------------------------------

    def run(self) -> None:
        self.dealer = self._connect()
        try:
            while not self.stopping.is_set():
                self._turn()
            self._flush_inner()
        finally:
            self.dealer.close(linger=CLOSE_LINGER_MS)
            self.inner.close(linger=0)

    def stop(self, timeout: float = 5.0) -> None:
        """Send what the main thread queued (its DISCONNECT), close, and join."""
        self.stopping.set()
        self.join(timeout)

    def _connect(self) -> zmq.Socket[Any]:
        sock: zmq.Socket[Any] = self.context.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, 4 * self.config.limits.max_body)
        if self.config.setup_socket is not None:
            self.config.setup_socket(sock)
        sock.connect(self.config.endpoint)
        self.last_heard = time.monotonic()
        self.poller = zmq.Poller()
        self.poller.register(self.inner, zmq.POLLIN)
        self.poller.register(sock, zmq.POLLIN)
        return sock

    # --- the loop -----------------------------------------------------------------------------

    def _turn(self) -> None:
        assert self.dealer is not None
        wait = max(0.0, self.last_sent + self.liveness.interval - time.monotonic())
        ready = dict(self.poller.poll(int(min(wait, self.liveness.interval) * 1000) + 1))
        if self.dealer in ready:
            self._from_broker()
        if self.inner in ready:
            self._from_main()
        now = time.monotonic()
        if self.liveness.heartbeat_due(self.last_sent, now):
            self._send([p.WORKER_TAG, COMMAND_HEARTBEAT, b"hb", p.pack({})])
        if now - self.last_heard > self.liveness.window:
            self._reconnect()
        if self.job_deadline is not None and now > self.job_deadline:
            os._exit(EXIT_WEDGED)  # the main thread is stuck beyond the reach of SIGALRM

    def _from_broker(self) -> None:
        """Everything waiting from the broker: heartbeats absorbed, the rest handed to the main thread."""
        assert self.dealer is not None
        while self.dealer.getsockopt(zmq.EVENTS) & POLLIN:  # type: ignore[operator]
            frames: list[bytes] = self.dealer.recv_multipart(zmq.NOBLOCK)
            self.last_heard = time.monotonic()
            self.backoff.reset()
            if len(frames) > 1 and frames[1] == COMMAND_HEARTBEAT:
                self._adopt(frames)
                continue
            if len(frames) > 3 and frames[1] == COMMAND_REQUEST:
                self._watch(frames[3])
            self.inner.send_multipart(frames)

    def _from_main(self) -> None:
        while self.inner.getsockopt(zmq.EVENTS) & POLLIN:  # type: ignore[operator]
            frames: list[bytes] = self.inner.recv_multipart(zmq.NOBLOCK)
            if len(frames) > 1 and frames[1] == COMMAND_FINAL:
                self.job_deadline = None
            self._send(frames)

    def _flush_inner(self) -> None:
        """On the way out: pass on what the main thread sent last (FINAL, DISCONNECT)."""
        if self.inner.poll(0):
            self._from_main()

    def _send(self, frames: list[bytes]) -> None:
        assert self.dealer is not None
        try:
            self.dealer.send_multipart(frames, zmq.NOBLOCK)
        except zmq.Again:  # the broker is away and the queue is full: the message is lost
            pass
        self.last_sent = time.monotonic()

    def _adopt(self, frames: list[bytes]) -> None:
        """A broker HEARTBEAT that carries its interval and liveness: judge it by the same numbers."""
        try:
            body = p.decode_broker(frames, self.config.limits).body
        except errors.ProtocolError:
            return
        if "interval" in body or "liveness" in body:
            self.liveness = Liveness(float(body.get("interval", self.liveness.interval)),
                                     int(body.get("liveness", self.liveness.liveness)))

    def _watch(self, request: bytes) -> None:
        """Arm the watchdog for a job: its own time limit plus ``watchdog`` seconds."""
        try:
            timeout = msgpack.unpackb(request).get("timeout")
        except Exception:  # the main thread will refuse it; nothing to watch
            return
        if type(timeout) in (int, float) and self.config.watchdog > 0:
            self.job_deadline = time.monotonic() + timeout + self.config.watchdog

    def _reconnect(self) -> None:
        """The broker fell silent: wait (backing off), connect anew, have the main thread register again."""
        assert self.dealer is not None
        self.dealer.close(linger=0)
        self.reconnects += 1
        if self.stopping.wait(self.backoff.next()):
            self.dealer = self._connect()
            return
        self.dealer = self._connect()
        self.inner.send_multipart(p.encode(p.WORKER_TAG, Command.DISCONNECT, b"reconnect", {}))
