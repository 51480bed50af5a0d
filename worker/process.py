"""The worker process: one DEALER socket to the broker, one job at a time.

Life of a worker: connect, send READY (its credits -- the running job plus
``prefetch`` waiting ones -- and the module cache's contents), then wait. A
REQUEST is a job (or a batch of jobs, run in order): find the module in the
LRU cache or fetch it from the broker with a CALLBACK (``code``),
instantiate it with the host ABI, call the export, and send FINAL with the
result, the buffered write set and the cache report; as in Majordomo, FINAL
also hands the credit back. The results of consecutive jobs that wrote
nothing may travel in one FINAL (:meth:`Worker._finished`). State reads
during the call are CALLBACKs (``get``) answered by the broker from
committed state.

While idle the worker sends a HEARTBEAT every ``heartbeat`` seconds; a
broker that does not know it (it restarted) answers DISCONNECT, and the
worker registers again with READY.

A contract failure of any kind (trap, gas, revert, bad arguments, a bad
module, a time limit) becomes a FINAL result with a status, never a dead
worker. The time limit is a SIGALRM timer (the worker runs in its process's
main thread): its handler raises :class:`~wasmpool.wire.errors.CallTimeout` inside
the running Python code the engine compiled.
"""

from __future__ import annotations

import ctypes
import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import zmq
from wasmpool.wasm.types import ValType
from wasmpool.worker.cache import DEFAULT_BYTES, DEFAULT_ENTRIES, ModuleCache
from wasmpool.worker.heartbeat import Heartbeat, Line
from wasmpool.worker.host import (
    DEFAULT_HOST_LIMITS,
    CallContext,
    CallState,
    Host,
    HostLimits,
    StateReader,
)
from wasmpool.worker.modules import Loaded, load
from wasmpool.worker.supervisor import handle_stop_signals, worn_out

from wasmpool import wasm
from wasmpool.wire import errors
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode, Op, Status

DEFAULT_BACKEND = "tcp://127.0.0.1:5556"
DEFAULT_PREFETCH = 7  # with the running job, 8 credits: results go back in FINALs of up to 4
MASKS = {ValType.I32: (1 << 32) - 1, ValType.I64: (1 << 64) - 1}


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Everything a worker process needs (picklable, for spawn)."""

    endpoint: str = DEFAULT_BACKEND
    cache_entries: int = DEFAULT_ENTRIES
    cache_bytes: int = DEFAULT_BYTES
    heartbeat: float = 1.0  # seconds between heartbeats; the broker's value replaces it on READY
    liveness: int = 3  # missed heartbeats before the broker counts as gone (then reconnect)
    reconnect_min: float = 1.0  # reconnect backoff: first delay, doubling up to reconnect_max
    reconnect_max: float = 32.0
    watchdog: float = 5.0  # end the process when a job outlives its time limit by this much (0: never)
    max_jobs: int = 0  # recycle the process after this many jobs (0: never)
    max_memory_mb: int = 0  # recycle the process once its resident memory exceeds this (0: never)
    prefetch: int = DEFAULT_PREFETCH  # jobs held besides the running one (READY's credits - 1): Worker._ready
    callback_timeout: float = 10.0
    limits: p.ProtocolLimits = p.DEFAULT_LIMITS
    host_limits: HostLimits = DEFAULT_HOST_LIMITS
    setup_socket: Callable[[zmq.Socket[Any]], object] | None = None  # before connect; picklable for spawn


class Link:
    """The worker's side of the protocol over a :class:`~.heartbeat.Line`: messages, CALLBACKs."""

    def __init__(self, config: WorkerConfig, line: Line) -> None:
        self.config = config
        self.line = line
        self._seq = itertools.count(1)
        self.disconnected = False  # the broker asked us to register again
        self.waiting: deque[p.Message] = deque()  # REQUESTs that arrived while a job ran (prefetched)

    @property
    def dropped(self) -> int:
        return self.line.dropped

    def send(self, command: Command, request_id: bytes, body: dict[str, Any]) -> None:
        """Send without blocking; with the broker away long enough to fill the queue, drop the message."""
        self.line.send(p.encode(p.WORKER_TAG, command, request_id, body))

    def receive(self, timeout: float) -> p.Message | None:
        """The next well-formed message within ``timeout`` seconds (garbled ones are skipped)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            frames = self.line.receive(left)
            if frames is None:
                return None
            try:
                return p.decode_broker(frames, self.config.limits)
            except errors.ProtocolError:
                continue
        return None

    def take_arrived(self) -> None:
        """Queue in :attr:`waiting` what the broker already sent (the next jobs), without waiting."""
        for frames in self.line.arrived():
            try:
                self.waiting.append(p.decode_broker(frames, self.config.limits))
            except errors.ProtocolError:
                continue

    def callback(self, job_id: bytes, body: dict[str, Any]) -> dict[str, Any]:
        """Ask the broker something about the running job and wait for the matching reply."""
        seq = next(self._seq)
        self.send(Command.CALLBACK, job_id, {**body, "seq": seq})
        deadline = time.monotonic() + self.config.callback_timeout
        while (left := deadline - time.monotonic()) > 0:
            message = self.receive(left)
            if message is None:
                break
            if message.command is Command.DISCONNECT:
                self.disconnected = True
                raise errors.StateUnavailable("the broker forgot this worker during the call")
            if message.command is Command.REQUEST:  # the next job, prefetched: it runs after this one
                self.waiting.append(message)
                continue
            if (message.command is Command.CALLBACK_REPLY and message.request_id == job_id
                    and message.body["seq"] == seq):
                return _checked_reply(message.body)
        raise errors.StateUnavailable(f"no answer from the broker within {self.config.callback_timeout}s")

    def close(self) -> None:
        """Close, giving a last message (DISCONNECT) a moment to leave."""
        self.line.close()


def _checked_reply(body: dict[str, Any]) -> dict[str, Any]:
    if "error" in body:
        raise errors.StateUnavailable(f"the broker refused: {body['error']}")
    return body


class BrokerState:
    """A job's committed state, read through the broker (the host ABI's StateReader)."""

    def __init__(self, link: Link, job_id: bytes) -> None:
        self.link = link
        self.job_id = job_id

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self.link.callback(self.job_id, {"op": Op.GET, "key": key}).get("value")
        return value


UNWRITTEN = -1
"""The chunk position reported for a read answered by the broker (no earlier call of the chunk wrote it)."""


class ChunkState:
    """State as a block chunk's calls see it: the earlier calls' writes over broker reads.

    A location the chunk's own calls did not write reads the same value for
    every call of the chunk (the write of the highest transaction before the
    chunk), so a broker answer is kept for the rest of the chunk -- and the
    broker may send such answers with the chunk (each entry's
    ``prefetched``): read without a CALLBACK, reported alike (UNWRITTEN).

    A chunk that *continues* the previous one (its calls come right after
    that chunk's, in the same block: the REQUEST's ``after``) starts from
    that chunk's writes, carried over (``carried``): the two are one *chain*
    of calls, and positions are counted along the chain (``base`` is the
    position of this chunk's first call). Broker answers are not carried:
    each chunk has its own.
    """

    def __init__(self, link: Link, job_id: bytes, carried: ChunkState | None = None) -> None:
        self.link = link
        self.job_id = job_id
        self.base: int = 0 if carried is None else carried.end
        self.end: int = self.base  # the chain position after this chunk's calls (set by prefill)
        # location -> (chain position of the writer, value); a continued chain's dict goes on growing
        self.written: dict[tuple[str, bytes], tuple[int, bytes | None]] = (
            {} if carried is None else carried.written)
        self.fetched: dict[tuple[str, bytes], bytes | None] = {}

    def prefill(self, jobs: list[dict[str, Any]]) -> tuple[int, str]:
        """Check the chunk's entries and keep the answers sent with them, up to the first malformed one.

        Returns how many leading entries are well formed, and what is wrong with the next (if any).
        """
        self.end = self.base + len(jobs)
        for position, job in enumerate(jobs):
            try:
                p.check_fields(job, p.JOB_FIELDS)
            except errors.BadRequest as exc:
                return position, exc.reason
            for key, value in job.get("prefetched", ()):
                self.fetched.setdefault((job["code_id"], key), value)
        return len(jobs), ""

    def reader(self, position: int, code_id: str) -> ChunkReader:
        return ChunkReader(self, position, code_id)

    def wrote(self, position: int, code_id: str, writes: dict[bytes, bytes | None]) -> None:
        """An ok call's writes (``position`` in the chunk): later calls of the chain read them."""
        at = self.base + position
        for key, value in writes.items():
            self.written[code_id, key] = (at, value)


class ChunkReader:
    """One chunk call's state reader (the host ABI's StateReader), noting where each read came from."""

    def __init__(self, chunk: ChunkState, position: int, code_id: str) -> None:
        self.chunk = chunk
        self.position = position
        self.code_id = code_id
        self.reads: list[list[Any]] = []  # [key, writer's chain position or UNWRITTEN]

    def get(self, key: bytes) -> bytes | None:
        location = (self.code_id, key)
        chunk = self.chunk
        if location in chunk.written:
            writer, value = chunk.written[location]
            self.reads.append([key, writer])
            return value
        if location not in chunk.fetched:
            reply = chunk.link.callback(chunk.job_id, {"op": Op.GET, "key": key, "index": self.position})
            chunk.fetched[location] = reply.get("value")
        self.reads.append([key, UNWRITTEN])
        return chunk.fetched[location]


class Worker:
    """One worker: the receive loop, the module cache and job execution."""

    def __init__(self, config: WorkerConfig, context: zmq.Context[Any] | None = None) -> None:
        self.config = config
        self.context = context or zmq.Context.instance()
        self.cache: ModuleCache[Loaded] = ModuleCache(config.cache_entries, config.cache_bytes)
        self.host = Host(config.host_limits)
        self.imports = self.host.imports()
        self.link: Link | None = None
        self.reported = -1  # cache generation last reported to the broker
        self._last_chunk: ChunkState | None = None  # the block chunk run last: the next one may continue it
        self.jobs_done = 0
        self.stopping = threading.Event()
        self.recycled: str | None = None  # why the worker stopped itself to be replaced
        self.batch = max(1, credits(config.prefetch) // 2)  # results kept back for one FINAL, at most

    def run(self) -> None:
        """Serve jobs until :meth:`stop` (or a signal); always says DISCONNECT and closes.

        The DEALER to the broker is a :class:`~wasmpool.worker.heartbeat.Line`; a
        :class:`~wasmpool.worker.heartbeat.Heartbeat` thread speaks for the worker
        while a job computes.
        """
        line = Line(self.config, self.context, self.stopping)
        line.final_frames = self._final_frames
        self.link = link = Link(self.config, line)
        heartbeat = Heartbeat(line)
        heartbeat.start()
        try:
            self._ready(full=True)
            while not self.stopping.is_set():
                self._step(link)
        finally:
            with signals_ignored():  # a second Ctrl-C or a SIGTERM must not cut the goodbye short
                heartbeat.stop()
                _quietly(lambda: link.send(Command.DISCONNECT, b"bye", {}))
                link.close()

    def _recycle_when_worn(self) -> None:
        """Stop (the supervisor starts a fresh process) after ``max_jobs`` jobs or past ``max_memory_mb``."""
        reason = worn_out(self.config, self.jobs_done)
        if reason is not None:
            self.recycled = reason
            self.stop()

    def stop(self) -> None:
        self.stopping.set()

    def _step(self, link: Link) -> None:
        message = link.waiting.popleft() if link.waiting else link.receive(self.config.heartbeat)
        if message is None:
            return  # heartbeats were sent while waiting (worker.heartbeat)
        if message.command is Command.REQUEST:
            body = message.body
            if "jobs" in body:  # several jobs: they run one after another, before anything received later
                link.waiting.extendleft(reversed(self._unbatch(body["jobs"])))
                return
            if "chunk" in body:
                result = self.execute_chunk(message.request_id, body["chunk"], body.get("after"))
            elif "refused" in body:
                refused = CallState(self._reader(message.request_id))
                result = _failure(errors.BadRequest(body["refused"]), refused, None, 0)
            else:
                result = self.execute(message.request_id, body)
            self.jobs_done += 1
            self._recycle_when_worn()
            self._finished(link, message.request_id, result, urgent="chunk" in body)
        elif message.command is Command.DISCONNECT:
            self._ready(full=True)

    def _finished(self, link: Link, job_id: bytes, result: dict[str, Any], urgent: bool) -> None:
        """Send a job's FINAL, or keep it to go with the next jobs' (one message for several).

        A result is kept only while more jobs wait here, for at most half the
        credits; a job that wrote state, a block chunk, or a worker on its way
        out (SIGTERM, recycling: the broker sends it no new job) sends at once,
        and the heartbeat thread sends what is kept when the next job takes long.
        """
        kept = link.line.finished(job_id, result)
        leaving = self.stopping.is_set()
        if not link.waiting:
            link.take_arrived()
        if urgent or leaving or result.get("writes") or not link.waiting or kept >= self.batch:
            link.line.flush(leaving)
        if link.disconnected:
            self._ready(full=True)

    def _unbatch(self, jobs: list[list[Any]]) -> list[p.Message]:
        """The jobs of a batched REQUEST as single REQUESTs (a malformed one is answered as refused)."""
        messages = []
        for job_id, packed in jobs:
            try:
                body = p.unpack(packed, self.config.limits, job_id)
                p.check_fields(body, p.JOB_FIELDS, job_id)
            except errors.ProtocolError as exc:
                body = {"refused": exc.reason}
            messages.append(p.Message(Command.REQUEST, job_id, body))
        return messages

    def _final_frames(self, finals: list[list[Any]], leaving: bool) -> list[bytes]:
        """One FINAL for kept results: a single job's body as it is, several as ``finals``."""
        report = self._cache_report(full=False)
        if leaving:
            report["leaving"] = True
        if len(finals) == 1:
            job_id, result = finals[0]
            return p.encode(p.WORKER_TAG, Command.FINAL, job_id, {**result, **report})
        return p.encode(p.WORKER_TAG, Command.FINAL, finals[0][0], {"finals": finals, **report})

    def _ready(self, full: bool) -> None:
        """READY: register with the broker, with the cache report.

        READY gives the broker ``1 + prefetch`` credits: the process runs one
        job at a time, and the next ``prefetch`` wait in its socket so it
        never sits idle for a FINAL -> REQUEST round trip through the broker
        (as a Celery worker's prefetch, or AMQP's ``basic.qos``). Jobs it held
        when the broker forgot it were given to other workers: they are dropped.
        """
        assert self.link is not None
        self.link.disconnected = False
        self.link.waiting.clear()
        self.link.line.forget_finals()
        report = self._cache_report(full)
        self.link.send(Command.READY, b"ready", {**report, "pid": os.getpid(), "heartbeats": True,
                                                 "credits": credits(self.config.prefetch)})

    def _cache_report(self, full: bool) -> dict[str, Any]:
        """Cache counters, and the cached code ids if they changed since the last report (or ``full``)."""
        report: dict[str, Any] = {"hits": self.cache.hits, "misses": self.cache.misses}
        if full or self.reported != self.cache.generation:
            report["cache"] = self.cache.keys()
            self.reported = self.cache.generation
        return report

    # --- jobs ---------------------------------------------------------------------

    def execute_chunk(self, job_id: bytes, jobs: list[dict[str, Any]], after: bytes | None = None
                      ) -> dict[str, Any]:
        """Run a block chunk's calls one after another; the FINAL body lists each call's result.

        Each call sees the writes of the chain's earlier ok calls
        (:class:`ChunkState`); each result says where every read came from.
        A result that says nothing about the call (a time limit, an aborted
        read) ends the chunk: the broker re-issues the calls after it. A
        chunk ``after`` another continues it: only the last chunk run here can
        be continued (else the first call fails as an internal error, and the
        broker re-issues the calls).
        """
        assert self.link is not None
        last, self._last_chunk = self._last_chunk, None
        chunk = ChunkState(self.link, job_id, last if after is not None else None)
        well_formed, problem = chunk.prefill(jobs)
        if after is not None and (last is None or last.job_id != after):
            well_formed, problem = 0, f"chunk {after.hex()} is not the last chunk this worker ran"
        self._last_chunk = chunk
        results: list[dict[str, Any]] = []
        for position, job in enumerate(jobs[:well_formed]):
            reader = chunk.reader(position, job["code_id"])
            result = self.execute(job_id, job, reader, position)
            results.append({**result, "reads": reader.reads})
            if result["code"] in p.NONDETERMINISTIC:
                break
            if result["status"] == Status.OK:
                chunk.wrote(position, job["code_id"], result["writes"])
        else:
            if well_formed < len(jobs):  # a malformed entry: an internal error, which ends the chunk
                bad = CallState(chunk.reader(well_formed, ""))
                failed = _failure(errors.InternalError(problem), bad, None, 0)
                results.append({**failed, "reads": []})
        return {"status": Status.OK, "code": ErrorCode.OK, "chunk": results}

    def execute(self, job_id: bytes, job: dict[str, Any], reader: StateReader | None = None,
                index: int | None = None) -> dict[str, Any]:
        """Run one job (or call ``index`` of a chunk); every outcome, good or bad, becomes a FINAL body."""
        call = CallState(reader=reader or self._reader(job_id), input=job.get("input", b""),
                         context=CallContext(**job.get("context", {})), readonly=job["readonly"])
        box: dict[str, Any] = {}
        assert self.link is not None
        line, limit, alarm = self.link.line, job["timeout"], alarm_ready()
        try:
            line.computing(limit)
            if alarm:  # CallTimeout is raised inside the call after ``limit`` seconds
                setitimer(ITIMER_REAL, limit)
            try:
                results = self._run(job_id, job, call, box, index)
            finally:  # inside the outer try: an alarm due just now still becomes a result
                if alarm:
                    setitimer(ITIMER_REAL, 0)
                line.computed()
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            return _failure(exc, call, box.get("instance"), job["gas_limit"])
        finally:
            self.host.end()
            if "instance" in box:  # freed now, not by the cycle collector (its gas_used stays readable)
                box["instance"].release()
        return _success(results, call, box["instance"])

    def _reader(self, job_id: bytes) -> BrokerState:
        assert self.link is not None
        return BrokerState(self.link, job_id)

    def _run(self, job_id: bytes, job: dict[str, Any], call: CallState, box: dict[str, Any],
             index: int | None = None) -> list[Any]:
        loaded = self.module(job_id, job["code_id"], index)
        if loaded.problem is not None:
            raise wasm.LinkError(loaded.problem)
        self.host.begin(call)
        instance = wasm.instantiate(loaded.module, imports=self.imports, gas_limit=job["gas_limit"])
        box["instance"] = instance
        function = _export(instance, job["function"])
        return _results(function(*_arguments(function.type, job.get("args", []))))

    def module(self, job_id: bytes, code_id: str, index: int | None = None) -> Loaded:
        """The decoded module, from the cache or fetched from the broker and checked against the ABI.

        ``index``: the call's position in a block chunk (its calls may run different contracts).
        """
        loaded = self.cache.get(code_id)
        if loaded is None:
            assert self.link is not None
            ask: dict[str, Any] = {"op": Op.CODE} if index is None else {"op": Op.CODE, "index": index}
            code = self.link.callback(job_id, ask).get("code")
            if code is None or p.code_id(code) != code_id:
                raise errors.StateUnavailable(f"the broker has no valid module {code_id}")
            loaded = load(code)
            self.cache.put(code_id, loaded, len(code))
        return loaded


def credits(prefetch: int) -> int:
    """READY's credits for ``prefetch`` (clamped to what the protocol allows)."""
    return max(1, min(p.MAX_CREDITS, 1 + prefetch))


def _export(instance: Any, name: str) -> Any:
    function = instance.exports.get(name)
    if function is None or not isinstance(getattr(function, "type", None), wasm.FuncType):
        raise errors.BadCall(f"the contract exports no function {name!r}")
    return function


def _arguments(signature: wasm.FuncType, args: list[Any]) -> list[int | float]:
    """Numbers from the wire, checked against and converted to the export's parameter types."""
    if len(args) != len(signature.params):
        raise errors.BadCall(f"the function takes {len(signature.params)} argument(s) {signature}, "
                             f"got {len(args)}")
    return [_argument(t, a, i) for i, (t, a) in enumerate(zip(signature.params, args, strict=True))]


def _argument(valtype: ValType, value: Any, index: int) -> int | float:
    mask = MASKS.get(valtype)
    if mask is not None:
        if type(value) is not int or not -(mask >> 1) - 1 <= value <= mask:
            raise errors.BadCall(f"argument {index} must be an {valtype} integer, got {value!r}")
        bits: int = value & mask
        return bits - mask - 1 if bits > mask >> 1 else bits
    if valtype in (ValType.F32, ValType.F64):
        return float(value)
    raise errors.BadCall(f"argument {index} has type {valtype}, which cannot be passed from outside")


def _results(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, tuple) else [value]


def _success(results: list[Any], call: CallState, instance: Any) -> dict[str, Any]:
    if not all(type(r) in (int, float) for r in results):
        return _failure(errors.BadCall("the function returns references, which cannot leave the pool"),
                        call, instance, 0)
    return {"status": Status.OK, "code": ErrorCode.OK, "results": results, "output": call.output,
            "gas_used": getattr(instance, "gas_used", 0), "logs": call.logs, "writes": call.writes,
            "error": None}


def _failure(exc: BaseException, call: CallState, instance: Any, gas_limit: int) -> dict[str, Any]:
    code = p.error_code(exc)
    gas = gas_limit if code is ErrorCode.OUT_OF_GAS else getattr(instance, "gas_used", 0)
    return {"status": p.status_for(code), "code": code, "results": [], "output": b"",
            "gas_used": min(gas, gas_limit) if gas_limit else gas, "logs": call.logs, "writes": {},
            "error": p.error_message(exc)}


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise errors.CallTimeout("the call exceeded its time limit")


ITIMER_REAL = signal.ITIMER_REAL
setitimer = signal.setitimer
MAIN_THREAD = threading.main_thread()
_alarm_installed = False


def alarm_ready() -> bool:
    """True when a call's time limit can be enforced here: :func:`install_alarm` ran, in the main thread."""
    return _alarm_installed and threading.current_thread() is MAIN_THREAD


def install_alarm() -> None:
    """Make SIGALRM raise CallTimeout (once per worker process, from its main thread)."""
    global _alarm_installed
    signal.signal(signal.SIGALRM, _alarm)
    _alarm_installed = True


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


@contextmanager
def signals_ignored() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM inside the body (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not MAIN_THREAD:
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except zmq.ZMQError:
        pass


def main(config: WorkerConfig) -> None:
    """A worker process's entry point: serve until SIGTERM (graceful; a second one stops at once).

    SIGINT is ignored: Ctrl-C reaches the whole process group, and the
    parent (``wasmpool.worker.supervisor``, the broker's ``--with-workers``) answers it
    with SIGTERM.
    """
    install_alarm()
    tune_allocator()
    context = zmq.Context()
    worker = Worker(config, context)
    handle_stop_signals(worker.stop)
    try:
        worker.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        context.term()


def start_workers(config: WorkerConfig, processes: int) -> list[BaseProcess]:
    """Spawn ``processes`` worker processes (spawn start method: no inherited sockets)."""
    spawn = multiprocessing.get_context("spawn")
    workers: list[BaseProcess] = [
        spawn.Process(target=main, args=(config,), name=f"wasmpool-worker-{i}", daemon=True)
        for i in range(processes)
    ]
    for process in workers:
        process.start()
    return workers


def stop_workers(workers: list[BaseProcess], timeout: float = 5.0) -> None:
    """SIGTERM every worker, wait up to ``timeout`` seconds, then SIGKILL the stragglers."""
    for process in workers:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + timeout
    for process in workers:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
