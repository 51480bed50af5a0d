"""The worker process: one DEALER socket to the broker, one job at a time.

Life of a worker: connect, send READY (its credits -- the running job plus
``prefetch`` waiting ones -- and the module cache's contents), then wait. A
REQUEST is a job (or a batch of jobs, run in order): find the module in the
LRU cache or fetch it from the broker with a CALLBACK (``code``), run the
call (:mod:`wasmpool.worker.execute`), and send FINAL with the result, the
buffered write set and the cache report (a contract the call calls has its
module fetched the same way, the CALLBACK naming its code id); as in Majordomo, FINAL also hands
the credit back. State reads during the call are CALLBACKs (``get``)
answered by the broker from committed state.

Who does what
    - :class:`~wasmpool.worker.session.WorkerSession` decides every message:
      READY, heartbeats, reconnects, CALLBACK replies, which results travel
      together in one FINAL. No socket, no thread, an injected clock.
    - :class:`~wasmpool.worker.heartbeat.Line` moves frames between the
      socket and the session, under one lock shared with the heartbeat
      thread that speaks for the worker while a job computes.
    - :func:`~wasmpool.worker.execute.execute` runs a job: a plain function
      from the job, a state reader and the host ABI to a result body.
    - :class:`Worker` (here) ties them together: the receive loop, the
      module cache, the CALLBACKs a running job makes.

A contract failure of any kind becomes a FINAL result with a status, never
a dead worker. Worker processes are started by
:mod:`wasmpool.worker.supervisor`, which calls :func:`main`.
"""

from __future__ import annotations

import ctypes
import gc
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from enum import IntEnum
from pathlib import Path
from typing import Any

import zmq

from wasmpool import wasm
from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.worker import execute as run
from wasmpool.worker.cache import ModuleCache
from wasmpool.worker.config import PRELOAD_SECONDS, WorkerConfig
from wasmpool.worker.diskcache import CacheDirRefused, check_directory
from wasmpool.worker.heartbeat import Heartbeat, Line
from wasmpool.worker.host import CallState, Host, StateReader
from wasmpool.worker.modules import Loaded
from wasmpool.worker.pinned import PinnedCache
from wasmpool.worker.readers import Ask, BrokerState, ChunkState, Question, Reply
from wasmpool.worker.recycle import worn_out
from wasmpool.worker.session import WorkerSession
from wasmpool.worker.signals import handle_stop_signals, signals_ignored
from wasmpool.worker.tiers import DiskTier, Loader
from wasmpool.worker.timelimit import install_alarm
from wasmpool.worker.warmup import prime, warm_up_logged


class Worker:
    """One worker: the receive loop, the module cache and the CALLBACKs of the running job."""

    def __init__(self, config: WorkerConfig, context: zmq.Context[Any] | None = None) -> None:
        self.config = config
        self.context = context or zmq.Context.instance()
        self.cache: PinnedCache[Loaded] = PinnedCache(ModuleCache(config.cache_entries, config.cache_bytes))
        self.loader = Loader(disk_tier(config))  # below memory: the host's disk cache, then compiling
        self.session = WorkerSession(config, self.cache, time.monotonic)
        self.session.tiers = lambda: self.loader.report(self.cache.hits)
        self.runtime = run.Runtime.of(Host(config.host_limits), self.session, config.limits)
        self.line: Line | None = None  # the socket, while :meth:`run` runs
        self._last_chunk: ChunkState | None = None  # the block chunk run last: the next one may continue it
        self.jobs_done = 0
        self.collector = CollectorPause()  # paused by a module's load (a job's, a pin's) until the turn ends
        self.stopping = threading.Event()
        self.recycled: str | None = None  # why the worker stopped itself to be replaced

    def run(self) -> None:
        """Serve jobs until :meth:`stop` (or a signal); always says DISCONNECT and closes."""
        self.line = line = Line(self.config, self.session, self.context, self.stopping)
        heartbeat = Heartbeat(line)
        heartbeat.start()
        try:
            line.send(self.session.ready)
            while not self.stopping.is_set():
                self._step(line)
        finally:
            with signals_ignored():  # a second Ctrl-C or a SIGTERM must not cut the goodbye short
                heartbeat.stop()
                try:
                    line.send(self.session.goodbye)
                except zmq.ZMQError:
                    pass
                line.close()

    def stop(self) -> None:
        self.stopping.set()

    def preload(self) -> int:
        """Load the host's most recently used modules from the disk cache into memory; how many.

        Before READY, so the READY's cache report lists them and the broker
        routes their calls here; at most ``config.preload`` (and the memory
        cache's entries), for at most PRELOAD_SECONDS. Each is primed
        (:func:`~wasmpool.worker.warmup.prime`): instantiated twice, none of
        its code run.
        """
        def keep(code_id: str, loaded: Loaded) -> None:
            self.cache.put(code_id, loaded, loaded.size)
            if loaded.compiled is not None:
                prime(loaded.compiled, self.runtime.imports)  # its first call's instance is a maker's

        limit = min(self.config.preload, self.config.cache_entries)
        return self.loader.preload(limit, PRELOAD_SECONDS, keep)

    def _step(self, line: Line) -> None:
        """One turn of the loop: idle work, or one job and its reply; the collector runs again after it."""
        try:
            self._turn(line)
        finally:
            self.collector.resume()

    def _turn(self, line: Line) -> None:
        session = self.session
        if self._tend_pins(line):  # a pinned module loaded between jobs
            return
        if session.warm and not session.has_work() and self._tend_warm(line):  # just deployed: compiled ahead
            return
        if not session.has_work() and self.loader.tend():  # a lazily compiled module's disk entry grew
            return
        if not session.has_news():
            line.wait(session.has_news, self.config.heartbeat)  # heartbeats are sent meanwhile
        message = line.take()  # or READY first, when the broker forgot this worker (or fell silent)
        if message is None:
            return
        job_id, body = message.request_id, message.body
        result: m.CallResult | m.ChunkFinal
        if "chunk" in body:
            result = self.execute_chunk(job_id, body["chunk"], body.get("after"))
        elif "refused" in body:
            result = run.failure(errors.BadRequest(body["refused"]), CallState(self._reader(job_id)), None, 0)
        else:
            reader = self._reader(job_id, body.get("prefetched", ()))
            result = self.execute(job_id, body, reader)
            if reader.ahead:  # the broker counts these prefetched reads in the job's read set
                result = replace(result, ahead=reader.ahead)
        self.jobs_done += 1
        self._recycle_when_worn()
        leaving = self.stopping.is_set()
        line.send(lambda: session.make_room(result), drain=True)  # kept results that would not fit beside it
        line.send(lambda: session.finished(job_id, result, leaving=leaving))

    def _recycle_when_worn(self) -> None:
        """Stop (the supervisor starts a fresh process) after ``max_jobs`` jobs or past ``max_memory_mb``."""
        reason = worn_out(self.config, self.jobs_done)
        if reason is not None:
            self.recycled = reason
            self.stop()

    # --- pinned modules --------------------------------------------------------------------------

    def _tend_pins(self, line: Line) -> bool:
        """Adopt a new pinned set; with no job waiting, load one pinned module. True when one was loaded.

        One module per turn, so a job that arrives meanwhile waits for at
        most one load (as long as a cache miss of its own would take).
        """
        session = self.session
        news = session.take_pinned()
        if news is not None:
            self.cache.want(news)
            line.send(session.report)
        code_id = None if session.has_work() else self.cache.pending(time.monotonic())
        if code_id is None:
            return False
        try:
            self.load_pinned(code_id)
        except Exception:  # refused, unanswered or undecodable: tried again later (a call of it still
            self.cache.failed_to_load(code_id, time.monotonic())  # loads it, or fails as it would unpinned)
        line.send(session.report)
        return True

    def _tend_warm(self, line: Line) -> bool:
        """With no job waiting, load one module the broker asked to warm; True when one was taken.

        A module just deployed (``BrokerConfig.compile_on_deploy``): loaded
        as a pinned one is (from disk, else fetched and compiled), into the
        LRU, and the cache report that follows routes its first call here. A
        module already in memory needs nothing; one that cannot be loaded is
        left to its first call, which loads it (or fails) as any call would.
        """
        code_id = self.session.take_warm()
        if code_id is None:
            return False
        if code_id not in self.cache:  # (asked without counting a hit or a miss)
            try:
                self.load_pinned(code_id)
            except Exception:  # refused, unanswered or undecodable: its first call loads it
                return True
        line.send(self.session.report)
        return True

    def load_pinned(self, code_id: str) -> None:
        """Load a pinned module, or one to warm (from disk, else fetched by CALLBACK ``pin_code`` and
        compiled), and keep it: a pinned one outside the LRU, one to warm in it."""
        def fetch() -> bytes:
            reply = self.callback(PIN_REQUEST_ID, lambda seq: m.PinCodeCallback(seq, code_id))
            return checked_code(reply, code_id)
        self.session.computing(PIN_LOAD_LIMIT)  # the heartbeat thread speaks while it compiles
        self.collector.pause()  # until this turn ends: see CollectorPause
        try:
            loaded = self.loader.load(code_id, fetch)
        finally:
            self.session.computed()
        self.cache.put(code_id, loaded, loaded.size)

    # --- jobs ---------------------------------------------------------------------------------

    def execute(self, job_id: bytes, job: dict[str, Any], reader: StateReader | None = None,
                index: int | None = None) -> m.CallResult:
        """Run one job (or call ``index`` of a chunk); every outcome, good or bad, becomes a result."""
        if self.runtime.room != self.session.room:  # the broker announced the limit it reads results with
            self.runtime = replace(self.runtime, room=self.session.room)
        return run.execute(job, reader or self._reader(job_id),
                           lambda code_id, at, called=False: self.module(job_id, code_id, at, called),
                           self.runtime, index)

    def execute_chunk(self, job_id: bytes, jobs: list[dict[str, Any]], after: bytes | None = None
                      ) -> m.ChunkFinal:
        """Run a block chunk (:func:`~wasmpool.worker.execute.execute_chunk`).

        A chunk ``after`` another continues it: only the last chunk run here
        can be continued (else the first call fails as an internal error,
        and the broker re-issues the calls).
        """
        last, self._last_chunk = self._last_chunk, None
        chunk = ChunkState(self._asker(job_id), job_id, last if after is not None else None)
        well_formed, problem = chunk.prefill(jobs)
        if after is not None and (last is None or last.job_id != after):
            well_formed, problem = 0, f"chunk {after.hex()} is not the last chunk this worker ran"
        self._last_chunk = chunk
        return run.execute_chunk(chunk, jobs, well_formed, problem,
                                 lambda job, reader, position: self.execute(job_id, job, reader, position),
                                 self.session.result_limits)

    def module(self, job_id: bytes, code_id: str, index: int | None = None, called: bool = False) -> Loaded:
        """The module, from the cache or fetched from the broker (and then decoded, checked, compiled once).

        ``index``: the call's position in a block chunk (its calls may run different contracts).
        ``called``: the module of a contract the job calls (``call_contract``): the CALLBACK names its
        code id. Either kind goes in the same caches.
        """
        loaded = self.cache.get(code_id)
        if loaded is None or not loaded.current(code_id):  # compiled under other versions: not a hit
            named = code_id if called else None

            def fetch() -> bytes:
                return checked_code(self.callback(job_id, lambda seq: m.CodeCallback(seq, index, named)),
                                    code_id)
            self.collector.pause()  # until the job's reply is out: see CollectorPause
            loaded = self.loader.load(code_id, fetch)
            self.cache.put(code_id, loaded, loaded.size)
        return loaded

    def callback(self, job_id: bytes, question: Question) -> Reply:
        """Ask the broker something about the running job and wait for the reply (StateUnavailable: none)."""
        line, session = self.line, self.session
        if line is None:
            raise errors.StateUnavailable("the worker is not connected to a broker")
        line.send(lambda: session.ask(job_id, question))
        line.wait(session.answered, self.config.callback_timeout)
        return session.answer()

    def _asker(self, job_id: bytes) -> Ask:
        return lambda question: self.callback(job_id, question)

    def _reader(self, job_id: bytes, prefetched: Iterable[list[Any]] = ()) -> BrokerState:
        return BrokerState(self._asker(job_id), prefetched)


PIN_REQUEST_ID = b"pin"
"""The request id of a ``pin_code`` CALLBACK (it belongs to no job)."""

PIN_LOAD_LIMIT = 300.0
"""Seconds a pinned module's compilation may take before the watchdog counts the worker as wedged."""


def checked_code(reply: Reply, code_id: str) -> bytes:
    """The module bytes of a CALLBACK reply, if they are ``code_id``'s (StateUnavailable otherwise)."""
    code = reply.code if isinstance(reply, m.CodeReply) else None
    if code is None or p.code_id(code) != code_id:
        raise errors.StateUnavailable(f"the broker has no valid module {code_id}")
    return code


def disk_tier(config: WorkerConfig) -> DiskTier | None:
    """The host's compiled-code cache the configuration names, or None (none named, or unusable: then
    the worker compiles in memory, as without one; the CLI refuses an unsafe directory before starting)."""
    if config.cache_dir is None:
        return None
    try:
        directory = check_directory(Path(config.cache_dir), allow_loose=config.cache_dir_loose)
    except CacheDirRefused as exc:
        print(f"worker {os.getpid()}: no disk cache: {exc}", flush=True)
        return None
    return DiskTier.at(directory, config.cache_dir_bytes)


def tune_allocator() -> None:
    """Keep freed memory in the process (glibc): every call gets a fresh linear memory.

    By default glibc hands a freed 64 KiB+ block back to the kernel and
    faults it in again on the next allocation, which made allocating a
    contract's memory the largest single cost of a trivial call. Raising the
    trim and mmap thresholds keeps such blocks for reuse. A no-op elsewhere.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(MallocOption.TRIM_THRESHOLD, ALLOCATOR_KEEP)
        libc.mallopt(MallocOption.MMAP_THRESHOLD, ALLOCATOR_KEEP)
    except (OSError, AttributeError):
        pass


class MallocOption(IntEnum):
    """glibc's mallopt parameters (malloc.h)."""

    TRIM_THRESHOLD = -1
    MMAP_THRESHOLD = -3


ALLOCATOR_KEEP = 32 * 1024 * 1024  # glibc's largest mmap threshold on 64-bit


class CollectorPause:
    """The worker's collector policy around loading a module: paused from the load to the turn's end.

    Loading (decoding, checking, compiling, or reading a disk entry) builds
    many objects that all stay alive, the module and its compiled code, so
    collector passes over them free nothing and make a cache miss about 1.5x
    slower. Enabling the collector again as soon as the module is loaded would make
    the call's next allocations run a collection over all of them: a pass
    over the token contract's objects costs 0.15 to 0.3 ms, about as much as
    reading the module from disk, inside the very call that waits for it.
    Paused until the worker's turn ends (:meth:`Worker._step`), when the
    reply is out, that pass runs between jobs (:meth:`resume` runs it). A
    job that loads nothing leaves the collector alone; one that does runs
    with it paused, as the load did: reference counting still frees what is
    acyclic, the job has its time limit, and the worker's memory is checked
    after every job (``max_memory_mb``). A pinned module loaded between jobs
    pauses it the same way, until that turn ends. The engine never switches
    the collector itself: the worker process owns it.
    """

    def __init__(self) -> None:
        self.paused = False

    def pause(self) -> None:
        if not self.paused and gc.isenabled():
            gc.disable()
            self.paused = True

    def resume(self) -> None:
        """Enable the collector again and run the young generation's pass now, between jobs.

        Left to its threshold, that pass would run at the next allocation:
        in the next job, which would then wait for it instead.
        """
        if self.paused:
            self.paused = False
            gc.enable()
            gc.collect(0)


def main(config: WorkerConfig) -> None:
    """A worker process's entry point: serve until SIGTERM (graceful; a second one stops at once).

    Process-wide settings are made here, once, at the process's start. SIGINT
    is ignored: Ctrl-C reaches the whole process group, and the parent (the
    supervisor) answers it with SIGTERM.
    """
    serve(config, Worker)


def serve(config: WorkerConfig, kind: type[Worker]) -> None:
    """Prepare this process, then run a worker of class ``kind`` until it is stopped (see :func:`main`)."""
    install_alarm()
    tune_allocator()
    wasm.prepare_process()  # the recursion limit the engine's default limits need
    context = zmq.Context()
    worker = kind(config, context)
    warm_up_logged(worker.runtime, config.warm_up)  # before READY, and before any signal is handled
    worker.preload()  # after the warm-up's freeze: preloaded modules may be evicted later
    handle_stop_signals(worker.stop)
    try:
        worker.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        context.term()
