"""The broker's ZeroMQ loop: it only moves frames between sockets and the core.

Two ROUTER sockets, the frontend for clients and the backend for workers,
are read without blocking whenever the asyncio loop reports their file
descriptor readable. Every message goes to :class:`~wasmpool.broker.core.BrokerCore`
with the sender's identity, and whatever the core returns is sent at once.
ZeroMQ's descriptor is edge-triggered, so after every batch the loop asks
the sockets (``EVENTS``) whether more is waiting before it sleeps. A tick
timer lets the core expire deadlines.

The broker is handed its validator of deployed modules (``validate``, a
module-level function, so a spawned process can import it by name); the
public ``wasmpool.Broker`` (``wasmpool.embed``) passes the engine's. A
deploy of a big module is validated off the loop: the core hands it out
(``take_validations``), one process the broker owns (started on the first
such deploy) runs the validator on it, and the answer goes back to the core
as a loop callback. Heartbeats and calls flow meanwhile.

The server composes the broker: the socket-free core with blocks attached
(``wasmpool.broker.blocks.coordinator``). It owns the process, so the
process-wide policy is its own: :class:`CollectorPolicy` pauses CPython's
cyclic garbage collector while a block runs (a full collection over the
broker's heap mid-block would stall every worker), collects between blocks
run back to back, and turns it back on once a block's reply is sent.

Both sockets are ``ROUTER_MANDATORY``: a job sent to a worker whose
connection is gone (its process died) fails at once, and the core hands the
job to another worker instead of waiting for its deadline.

``Broker`` runs as an asyncio task inside any node (``await broker.serve()``);
``BrokerThread`` runs one in a background thread with its own event loop,
for tests, benchmarks and the CLI's ``--with-workers`` mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, cast

import zmq

from wasmpool.broker import logs
from wasmpool.broker.blocks.coordinator import attach_blocks
from wasmpool.broker.config import BrokerConfig, Validator, Verdict
from wasmpool.broker.core import BrokerCore, disconnect
from wasmpool.broker.limits import OperatorLimits
from wasmpool.broker.metrics import MetricsServer
from wasmpool.broker.outgoing import Outgoing, Side, Validation
from wasmpool.broker.security import CurveServer, PeerRole, apply_server, authenticator, exposed
from wasmpool.broker.state import StateStore, open_store
from wasmpool.wire.protocol import receive_all, receive_authenticated, send_frames, waiting

DEFAULT_FRONTEND = "tcp://*:5555"
DEFAULT_BACKEND = "tcp://*:5556"
TICK = 0.1
BATCH = 256  # messages taken from one socket before looking at the other
FAIRNESS = 0.005  # seconds of continuous work before yielding to other asyncio tasks
HARD_LIMIT_FACTOR = 4  # ZeroMQ drops peers sending frames this many times the body limit


class Broker:
    """The pool's broker; see the module docstring.

    ``state`` is a :class:`StateStore` or a store URL (``sqlite:var/state.db``,
    ``memory:``); a store opened here from a URL is closed by :meth:`close`.
    ``validate`` judges deployed modules (required: see
    :data:`~wasmpool.broker.config.Validator`, and ``wasmpool.Broker`` for the
    engine's).
    ``setup_socket`` is called on each ROUTER socket before it binds (e.g. to
    make it a CurveZMQ server).

    ``curve`` makes both sockets CurveZMQ servers: the frontend accepts only
    the client keys of its ``public_dir``, the backend only the worker keys
    of its ``worker_dir`` (a ZAP handler runs on the broker's context, which
    is a private one unless ``context`` is given). Without ``curve``, a
    backend bound beyond loopback is logged as a warning at :meth:`bind`
    (kept in :attr:`warnings`): whoever reaches it can register as a worker; ``limits`` applies the
    operator's ceilings (``wasmpool.broker.limits``); ``metrics_port`` serves the
    Prometheus endpoint on ``metrics_host`` (``wasmpool.broker.metrics``; 0 picks a
    free port, read back from :attr:`metrics_port` after :meth:`bind`).
    """

    def __init__(self, state: StateStore | str = "memory:", frontend: str = DEFAULT_FRONTEND,
                 backend: str = DEFAULT_BACKEND, *, validate: Validator, config: BrokerConfig | None = None,
                 context: zmq.Context[Any] | None = None, clock: Callable[[], float] = time.monotonic,
                 tick: float = TICK, setup_socket: Callable[[zmq.Socket[Any]], object] | None = None,
                 curve: CurveServer | None = None, limits: OperatorLimits | None = None,
                 metrics_port: int | None = None, metrics_host: str = "127.0.0.1") -> None:
        if curve is not None:
            curve.roles()  # separate client and worker keys, before anything is opened
        self._owns_store = isinstance(state, str)
        self.store = open_store(state) if isinstance(state, str) else state
        if limits is not None:
            config = limits.configure(config or BrokerConfig())
        self.core = BrokerCore(self.store, config=config, clock=clock, validate=validate)
        self.core.defer_validation = True  # big modules are validated by self._validator, off the loop
        self.blocks = attach_blocks(self.core)
        self.collector = CollectorPolicy()
        self.validate = validate
        self._validator: ProcessPoolExecutor | None = None
        self.frontend_bind, self.backend_bind = frontend, backend
        self.curve = curve
        self._owns_context = context is None and curve is not None  # one ZAP handler per context
        self.context = context or (zmq.Context() if curve is not None else zmq.Context.instance())
        self._security = contextlib.ExitStack()
        self._guarded = False  # the ZAP handler runs
        self.metrics = (None if metrics_port is None
                        else MetricsServer(self.core.stats, metrics_host, metrics_port))
        self.tick = tick
        self.clock = clock
        self.setup_socket = setup_socket
        self.frontend_endpoint = self.backend_endpoint = ""
        self._sockets: tuple[zmq.Socket[Any], zmq.Socket[Any]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._ticker: asyncio.TimerHandle | None = None
        self._tick_due = False
        self._stopping = False
        self._drain_until: float | None = None  # set by drain(): graceful shutdown in progress
        self.sent_dropped = 0
        self.warnings: list[str] = []  # what bind() found unsafe about the configuration

    # --- lifecycle --------------------------------------------------------------------

    def bind(self) -> None:
        """Bind both sockets (idempotent); the actual endpoints land in ``*_endpoint``."""
        if self._sockets is not None:
            return
        if self.curve is not None and not self._guarded:
            self._security.enter_context(authenticator(self.curve, context=self.context))
            self._guarded = True
        if self.metrics is not None:
            self.metrics.bind()
        frontend = self._socket(self.frontend_bind, PeerRole.CLIENTS)
        try:
            backend = self._socket(self.backend_bind, PeerRole.WORKERS)
        except zmq.ZMQError:
            frontend.close(linger=0)
            raise
        self._sockets = (frontend, backend)
        self.frontend_endpoint = frontend.getsockopt_string(zmq.LAST_ENDPOINT)
        self.backend_endpoint = backend.getsockopt_string(zmq.LAST_ENDPOINT)
        self._warn_if_exposed()

    def _warn_if_exposed(self) -> None:
        """Log a warning when the backend takes workers from other machines without CURVE."""
        if self.curve is None and exposed(self.backend_bind):
            warning = (f"the backend {self.backend_endpoint} is reachable beyond loopback without CURVE: "
                       "anyone who reaches it can register as a worker, see every call and commit forged "
                       "writes; bind it to a private interface or enable CURVE (docs/deploy.md)")
            self.warnings.append(warning)
            logs.event(logs.get_logger("broker"), "exposed_backend", level=logging.WARNING,
                       endpoint=self.backend_endpoint, message=warning)

    def _socket(self, endpoint: str, role: PeerRole) -> zmq.Socket[Any]:
        sock: zmq.Socket[Any] = self.context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, HARD_LIMIT_FACTOR * self.core.config.limits.max_body)
        sock.setsockopt(zmq.SNDHWM, 100_000)
        sock.setsockopt(zmq.RCVHWM, 100_000)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # a send to a vanished peer fails instead of vanishing
        try:
            if self.curve is not None:
                apply_server(sock, self.curve, role)
            if self.setup_socket is not None:
                self.setup_socket(sock)
            sock.bind(endpoint)
        except zmq.ZMQError:
            sock.close(linger=0)
            raise
        return sock

    async def serve(self) -> None:
        """Move frames until :meth:`stop`; then tell workers to re-register and close the sockets."""
        self.bind()
        assert self._sockets is not None
        self._loop = loop = asyncio.get_running_loop()
        fds = [cast(int, sock.getsockopt(zmq.FD)) for sock in self._sockets]
        for fd in fds:
            loop.add_reader(fd, self._wake_up)
        self._ticker = loop.call_later(self.tick, self._on_tick)
        if self.metrics is not None:
            await self.metrics.start()
        try:
            await self._run(loop)
        finally:
            if self.metrics is not None:
                await self.metrics.stop()
            if self._ticker is not None:
                self._ticker.cancel()
            for fd in fds:
                loop.remove_reader(fd)
            self.collector.close()  # a collector paused for a block is not left paused
            self._farewell()
            self.close()

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        yielded = self.clock()
        while not self._stopping:
            moved = self._pump()
            if self._tick_due:
                self._tick_due = False
                self._send(self.core.tick())
                self._send(self.core.heartbeats())
                self._settle()
                self._check_drain()
            if moved and self.clock() - yielded > FAIRNESS:  # busy a while: let the node's other tasks run
                await asyncio.sleep(0)
                yielded = self.clock()
            self._waiter = waiter = loop.create_future()
            # sends may have consumed a readiness edge: look once more before sleeping (this look,
            # not another pass over both sockets, is what follows a pass that moved messages)
            if not (self._readable() or self._stopping or self._tick_due):
                await waiter
                yielded = self.clock()
            self._waiter = None

    def _on_tick(self) -> None:
        """Every ``tick`` seconds: let the core act on time."""
        self._tick_due = True
        self._wake_up()
        assert self._loop is not None
        self._ticker = self._loop.call_later(self.tick, self._on_tick)

    def _wake_up(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def drain(self, timeout: float) -> None:
        """Graceful shutdown (safe from any thread): refuse new work, let what is in flight finish for up
        to ``timeout`` seconds, then stop as :meth:`stop` does (workers told to re-register, store closed).
        """
        self.core.drain()  # sets a flag: refusals start with the next request, whichever thread calls
        self._drain_until = self.clock() + timeout
        self._tick_due = True
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._wake_up)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _check_drain(self) -> None:
        if self._drain_until is None:
            return
        self.core.drain()
        if self.core.in_flight() == 0 or self.clock() >= self._drain_until:
            self._stopping = True

    def stop(self) -> None:
        """Ask :meth:`serve` to return (safe from any thread)."""
        self._stopping = True
        if self._loop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._wake_up)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def close(self) -> None:
        """Close the sockets (and the store if it was opened from a URL)."""
        if self._sockets is not None:
            for sock in self._sockets:
                sock.close(linger=0)
            self._sockets = None
        if self._validator is not None:
            self._validator.shutdown(wait=False, cancel_futures=True)
            self._validator = None
        if self.metrics is not None:
            self.metrics.close()
        self._security.close()  # the ZAP handler, after the sockets it guarded
        self._guarded = False
        if self._owns_context:
            self.context.term()
            self._owns_context = False
        if self._owns_store:
            self.store.close()
            self._owns_store = False

    async def __aenter__(self) -> Broker:
        self.bind()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
        self.close()

    # --- frames ----------------------------------------------------------------------------

    def _pump(self) -> int:
        """Receive and handle what is waiting on both sockets; returns how many messages moved."""
        assert self._sockets is not None
        frontend, backend = self._sockets
        clients = self._drain_authenticated if self.curve is not None else self._drain
        return clients(frontend, self.core.client_message) + self._drain(backend, self.core.worker_message)

    def _drain_authenticated(self, sock: zmq.Socket[Any],
                             handle: Callable[[bytes, list[bytes], bytes], list[Outgoing]]) -> int:
        """:meth:`_drain` for CURVE clients: each message goes in with its sender's public key."""
        for count in range(BATCH):
            if not waiting(sock):
                return count
            frames, user = receive_authenticated(sock)
            self._send(handle(frames[0], frames[1:], user))
            self._settle()
            self._validate_off_loop()
        return BATCH

    def _drain(self, sock: zmq.Socket[Any],
               handle: Callable[[bytes, list[bytes]], list[Outgoing]]) -> int:
        for count in range(BATCH):
            if not waiting(sock):  # asked first: a failed receive raises, at 2-3x the cost
                return count
            frames = receive_all(sock)
            self._send(handle(frames[0], frames[1:]))
            self._settle()
            self._validate_off_loop()
        return BATCH

    def _settle(self) -> None:
        """After an event's messages went out: the core's deferred work, then the collector's state."""
        self._send(self.core.settle())
        self.collector.observe(self.blocks.running, self.blocks.started)

    def _validate_off_loop(self) -> None:
        """Hand the deploys the core set aside to the validating process; answers come back to the loop."""
        for task in self.core.take_validations():
            if self._validator is None:
                self._validator = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                      initializer=exit_with_parent, initargs=(os.getpid(),))
            future = self._validator.submit(validate_collector_paused, self.validate, task.module)
            future.add_done_callback(functools.partial(self._back_to_loop, task))

    def _back_to_loop(self, task: Validation, done: Future[Verdict]) -> None:
        """In the executor's thread: have the loop take the result."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._validated, task, done)

    def _validated(self, task: Validation, done: Future[Verdict]) -> None:
        """In the loop: a validation ended; let the core answer the deploy."""
        if self._sockets is None:
            return
        try:
            error = done.result()
        except Exception as exc:  # the validating process died: say so rather than leave the deploy waiting
            error = f"the module could not be validated ({type(exc).__name__}); deploy it again"
        self._send(self.core.validated(task, error))
        self._settle()

    def _send(self, messages: list[Outgoing]) -> None:
        assert self._sockets is not None
        lost: dict[bytes, list[list[bytes]]] = {}
        for side, identity, frames in messages:
            try:
                send_frames(self._sockets[side], identity, frames)
            except zmq.ZMQError as exc:  # peer gone or its queue full: the message is lost
                self.sent_dropped += 1
                if side is Side.BACKEND and exc.errno == zmq.EHOSTUNREACH:
                    lost.setdefault(identity, []).append(frames)
        for identity, undelivered in lost.items():  # a worker process died: its jobs go elsewhere now
            self._send(self.core.worker_lost(identity, undelivered))

    def _readable(self) -> bool:
        assert self._sockets is not None
        frontend, backend = self._sockets
        return waiting(frontend) or waiting(backend)

    def _farewell(self) -> None:
        """DISCONNECT every known worker, so each one re-registers with the next broker."""
        if self._sockets is None:
            return
        bye = [disconnect(identity, b"bye") for identity in self.core.workers]
        self._send(bye)


class CollectorPolicy:
    """When the broker's process runs CPython's cyclic garbage collector: not while a block runs.

    :meth:`observe` is called after the messages of every event were sent,
    with whether a block runs and how many blocks have started. A block
    starting pauses the collector (its state before is kept); a block
    started right after another one gets a collection first, as between
    any two blocks; and a block's end turns it back on -- after the reply
    went out, since the first allocation after :func:`gc.enable` may run a
    collection over everything the block left.
    """

    def __init__(self) -> None:
        self.paused = False  # the collector is off because of a block
        self.was_on = False  # its state before the first block of the run paused it
        self.block = 0  # the block (by start count) that paused it

    def observe(self, running: bool, started: int) -> None:
        if running and not self.paused:
            self.paused, self.was_on, self.block = True, gc.isenabled(), started
            gc.disable()
        elif running and started != self.block:  # blocks back to back: collect between them
            self.block = started
            if self.was_on:
                gc.collect()
        elif not running and self.paused:
            self.close()

    def close(self) -> None:
        """Turn the collector back on if a block paused it (the broker stops, or the block ended)."""
        if self.paused:
            self.paused = False
            if self.was_on:
                gc.enable()


ORPHAN_CHECK = 1.0  # seconds between a validating process's looks at its parent


def validate_collector_paused(validate: Validator, module: bytes) -> Verdict:
    """In the validating process: ``validate(module)`` with the collector paused (this process's policy).

    Decoding a big module builds many objects that all stay alive until the
    verdict, so collector passes over them free nothing and make validation
    about 1.5x slower; reference counting still frees what is acyclic, and
    the collector runs again once the verdict is in. The engine never
    switches the collector itself: the process that owns it decides.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return validate(module)
    finally:
        if enabled:
            gc.enable()


def exit_with_parent(parent: int) -> None:
    """In the validating process: end it once the broker's process is gone (killed, never closed)."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK)
        os._exit(0)
    threading.Thread(target=watch, name="wasmpool-orphan-watch", daemon=True).start()


class BrokerThread:
    """A :class:`Broker` serving in a background thread with its own event loop."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._thread = threading.Thread(target=self._main, name="wasmpool-broker", daemon=True)
        self.error: BaseException | None = None

    @property
    def frontend(self) -> str:
        return self.broker.frontend_endpoint

    @property
    def backend(self) -> str:
        return self.broker.backend_endpoint

    def start(self) -> BrokerThread:
        self.broker.bind()  # in the caller's thread: bind errors surface here
        self._thread.start()
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self.broker.serve())
        except BaseException as exc:  # kept for the owner to inspect
            self.error = exc

    def stop(self, timeout: float = 10.0) -> None:
        self.broker.stop()
        self._thread.join(timeout)

    def __enter__(self) -> BrokerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
