"""The broker's decisions as a plain state machine: frames in, frames out.

Like h11's connection objects, :class:`BrokerCore` does no I/O of its own.
The ZeroMQ loop (``wasmpool.broker.server``) hands it every message it receives,
together with the ROUTER identity of the sender, and sends whatever it
returns; a periodic :meth:`BrokerCore.tick` lets it act on time, read from
an injected clock. Tests drive it with byte frames and a fake clock.

Theory of operation
-------------------
*Workers* register with READY, which gives the broker their credits (one
unless it says more): a worker holds at most that many jobs, in order; it
runs the first, the others wait in its socket (prefetched, so it never
waits for the broker between jobs). A worker is idle (no job), spare (busy
with a credit left) or full. As in Majordomo, a FINAL returns the credit of
its job; several freed credits are filled with one REQUEST carrying a
``jobs`` batch, and a FINAL may carry several consecutive jobs' results
(``finals``), taken one by one, each for the oldest job the worker holds.
READY and FINAL carry the worker's module-cache report (the contents only
when they changed), and the broker routes a call to an idle worker that
has the module cached when there is one, else to a spare one (one with the
module first). Idle workers send HEARTBEATs; one that falls silent for
``liveness`` intervals is forgotten, and a HEARTBEAT from a worker the
broker does not know (say, after a broker restart) is answered with
DISCONNECT, which makes the worker register again. Heartbeats both ways,
busy workers, lost jobs, the poison-pill cap and stored replies follow the
policy of ``wasmpool.broker.liveness`` (read its docstring); :meth:`BrokerCore.heartbeats`
gives the broker's own HEARTBEATs and :meth:`BrokerCore.drain` starts a
graceful shutdown.

*Requests* from clients are checked against the protocol's schemas.
Stats and state reads are answered at once, and so are deploys of small
modules (or of a module already stored). The core does not know what a
valid module is: whoever starts it hands it a :data:`Validator` (the
engine's is ``wasmpool.worker.validate.module_error``, the default of the
public ``wasmpool.Broker``), and a core cannot be built without one, so no
broker takes garbage unchecked by accident; :func:`trust_deployer` is the
explicit opt-out. A module of ``validate_inline``
bytes or more is validated off the event loop: the deploy becomes a
:class:`Validation` the server takes (:meth:`BrokerCore.take_validations`),
runs in a process of its own and hands back (:meth:`BrokerCore.validated`),
so heartbeats and calls keep flowing meanwhile. Calls and queries
become :class:`Job`\\ s: dispatched to an idle worker or queued (bounded; a
full queue answers BUSY). While a job runs, its worker asks for state reads
and module code with CALLBACKs; the broker answers from committed state and
records the version of every key read (the job's read set). The worker's
FINAL carries the result and the write set. Only an ``ok`` call commits:
the store checks the read set against current versions and applies the
writes atomically (MVCC, as in Hyperledger Fabric). When a read went stale
the job is re-executed at the head of the queue against fresh state, up to
``max_attempts`` times; from its ``exclusive_after``-th attempt on it runs
alone on its contract (no other job of that contract is dispatched until it
ends), so a hot contract cannot starve it. Every other status commits
nothing.

*Calls between contracts* (``call_contract``): a job's CALLBACKs may name
another namespace (``space``: a called contract's, or the registry's, where
the worker finds the callee's code) and another module (``code_id``). Such
reads are recorded by location (namespace, key) beside the job's own, and
checked with them; an ok result's ``nested_writes`` (its callees' writes)
commit with its own writes and its receipt in one cross-namespace
transaction, but only into contracts the attempt found in the registry. An
exclusive re-execution holds every namespace its last attempt touched; a
running job that would write into a held one is executed again after the
hold (it was *fenced*), so the exclusive run cannot lose to a call reaching
its contracts through another contract.

*Fairness*: a client's calls and queries (its scope) are held by at most
``max_client_workers`` workers at once (0, the default: all workers but one,
at least one). A worker already holding one of the client's jobs may take
more of them in its credits; any other worker skips the client's queued
jobs and takes the next client's (:meth:`BrokerCore._pick_job`; the skipped
jobs do not use up the ``dispatch_window``), so one client's spinning calls
leave a worker to everyone else. Nor does a call wait at a worker behind
another client's waiting jobs, only behind the running one (a client's
stack of prefetched spinning calls holds no one else's call). The limit
holds when that client is the only one with work: it is a concurrency
limit, not a priority. A client passed over is counted
(``client_limit_waits``: once per dispatch decision).

*Storage errors*: when the store cannot write (disk full, I/O error), the
call is answered with code ``STORAGE`` and its request id is forgotten, so
the client's retry runs it again rather than replaying the failure; the
error is logged (event ``storage_error``) and counted (``storage_errors``).
Nothing else changes: queries and reads go on, and commits resume by
themselves once the store can write again.

*Time*: a request that has no answer ``timeout + grace`` seconds after it
arrived is answered with status ``timeout``; if a worker still holds it,
the job is abandoned (its late FINAL commits nothing) and the worker stays
busy until that FINAL.

*Request ids* are scoped to the client that sent them (:func:`client_scope`):
its CURVE public key when CURVE is on, otherwise its connection identity,
which the pool's clients choose themselves (a random session id, kept
across reconnects). Every map of requests (in flight, stored replies,
durable receipts) is keyed by the scope and the id together
(:func:`scoped_key`), so one client can never read, pre-empt or hijack
another's request. Within a scope, a REQUEST whose id is queued or running
is not run twice (the reply goes to the latest sender), and the replies of
recent requests are kept so a client's retry gets the same answer: the
ground for exactly-once delivery.

*Owners*: every job carries its owner (``wasmpool.broker.jobs``), which handles what
happens to it at a worker (finished, lost, timed out, a state read, a
module fetch). Ordinary calls and queries are owned by the core itself;
other kinds of work are clients of the core, attached from outside with
:meth:`BrokerCore.attach`: an extension gets the requests of the
ops it serves, sees every idle worker first, may hold ordinary calls in the
queue and is told of every commit, and drives its jobs through the small
public interface (:meth:`~BrokerCore.dispatch`, :meth:`~BrokerCore.reply`,
:meth:`~BrokerCore.fail`, :meth:`~BrokerCore.has_code`,
:meth:`~BrokerCore.idle_workers`, :meth:`~BrokerCore.count`, ...). Blocks
(op ``block``, ``wasmpool.broker.blocks.coordinator``) are such a client;
a core without it answers a BLOCK with BAD_REQUEST.

Anything garbled, unknown or oversized is answered with an ERROR (frontend)
or dropped (backend) and counted; no input makes the core raise.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from wasmpool.broker import ahead, contracts, limits, logs
from wasmpool.broker.ahead import Offer
from wasmpool.broker.config import BrokerConfig, Validator, Verdict
from wasmpool.broker.jobs import ClientOp, Extension, Job, NoExtension, WorkerState
from wasmpool.broker.liveness import Loss, ReplyCache, poison_message
from wasmpool.broker.metrics import Metrics
from wasmpool.broker.outgoing import Outgoing, Side, Validation
from wasmpool.broker.pins import Pins
from wasmpool.broker.scans import MAX_RANGES, check_ranges, serve_page
from wasmpool.broker.state import STORAGE_ERRORS, Location, StaleRead, StateStore
from wasmpool.broker.versions import VersionGate
from wasmpool.wire import errors, prices
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.liveness import Liveness
from wasmpool.wire.protocol import Command, ErrorCode, Op, Status


class BrokerCore:
    """Worker registry, queue, routing, in-flight jobs and commits; see the module docstring."""

    def __init__(self, store: StateStore, *, validate: Validator, config: BrokerConfig | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.config = config or BrokerConfig()
        self.clock = clock
        self.validate = validate
        self.defer_validation = False  # the server validates big modules off the loop (take_validations)
        self.validating: dict[bytes, Validation] = {}  # scoped request id -> deploy being validated
        self._validations: list[Validation] = []  # not yet taken by the server
        self.started = clock()
        self._scope = b""  # the client of the request being handled (client_message)
        self.boot = os.urandom(8)  # scopes connections named by libzmq to this run (client_scope)
        self.workers: dict[bytes, WorkerState] = {}
        self.idle: dict[bytes, WorkerState] = {}  # no job; insertion order = longest idle first
        self.spare: dict[bytes, WorkerState] = {}  # running a job, with a credit left for the next one
        self.queue: deque[Job] = deque()
        self.active: dict[bytes, Job] = {}  # scoped request id (scoped_key) -> queued or running job
        self.replies = ReplyCache(self.config.reply_cache, self.config.result_ttl,
                                  self.config.reply_cache_bytes, self.config.reply_cache_entry)
        self.inflight_bytes = 0  # bodies of accepted calls and queries not yet answered
        self.client_bytes: Counter[bytes] = Counter()  # the same by client scope
        self.liveness = Liveness(self.config.heartbeat_interval, self.config.liveness)
        self.draining = False  # shutting down: new work is refused, in-flight work finishes
        self._next_purge = clock() + self.config.receipt_purge
        self.known_code: set[str] = set()
        self.pins = Pins(store, self.has_code, self.config.pinned)  # modules every worker keeps compiled
        self.holds: Counter[str] = Counter()  # namespaces held by exclusive re-executions (how many each)
        self.counters: Counter[str] = Counter()
        self.metrics = Metrics()  # latency and jobs by status (broker.metrics)
        self.calls = _Calls(self)  # the owner of ordinary calls and queries
        self.hints = ahead.ReadHints()  # what each export's calls read: answered ahead (broker.ahead)
        self._extension: Extension = NoExtension()  # attach(): blocks
        self.log = logs.get_logger("broker")
        self.versions = VersionGate(self.log, self.count)  # workers must run by the pool's versions
        self.retired_cache = [0, 0]  # hits, misses of workers since forgotten
        self.retired_tiers: Counter[str] = Counter()  # tier counters of workers since forgotten
        self._out: list[Outgoing] = []
        self._next_job = 0
        self._client_ops: dict[Op, ClientOp] = {
            Op.DEPLOY: self._deploy, Op.CALL: self._call, Op.QUERY: self._call,
            Op.STATS: self._stats, Op.STATE_GET: self._state_get, Op.PIN: self._pin, Op.UNPIN: self._pin,
            Op.INSTANTIATE: self._instantiate, Op.MIGRATE: self._migrate,
            Op.CONTRACT_INFO: self._contract_info,
        }
        self._worker_commands: dict[Command, Callable[[WorkerState | None, bytes, p.Message], None]] = {
            Command.READY: self._ready, Command.HEARTBEAT: self._heartbeat,
            Command.DISCONNECT: self._disconnect, Command.CALLBACK: self._callback,
            Command.FINAL: self._final,
        }

    # --- entry points -----------------------------------------------------

    def client_message(self, identity: bytes, frames: list[bytes], principal: bytes | None = None
                       ) -> list[Outgoing]:
        """Handle one frontend message (frames after the identity); returns what to send.

        ``principal`` is the sender's authenticated name (its CURVE public
        key, which the server reads from the message's ZAP ``User-Id``), or
        None without CURVE: it scopes the request id (:func:`client_scope`).
        """
        rid = p.guess_request_id(frames)
        try:
            op, message = p.decode_client(frames, self.config.limits)
            rid = message.request_id
            scope = client_scope(identity, principal, self.boot)
            self._scope = scope
            self._client_request(identity, scoped_key(scope, rid), op, message)
        except errors.PoolError as exc:
            self._client_error(identity, rid, exc)
        except Exception as exc:  # a bug must not take the broker down
            self.counters["internal_errors"] += 1
            self._client_error(identity, rid, errors.InternalError(f"internal error: {exc!r}"))
        return self._flush()

    def worker_message(self, identity: bytes, frames: list[bytes]) -> list[Outgoing]:
        """Handle one backend message (frames after the identity); returns what to send."""
        try:
            message = p.decode_worker(frames, self.config.limits)
            self._worker_commands[message.command](self.workers.get(identity), identity, message)
            worker = self.workers.get(identity)
            if worker is not None:  # heard from: alive (judged by its state after this message)
                worker.expires = self._expiry(worker)
        except errors.ProtocolError:
            self.counters["dropped"] += 1
        except Exception:  # a bug must not take the broker down
            self.counters["internal_errors"] += 1
        return self._flush()

    def worker_lost(self, identity: bytes, undelivered: Iterable[list[bytes]] = ()) -> list[Outgoing]:
        """The transport says ``identity`` is gone (a send to it failed): forget it, re-queue its jobs.

        ``undelivered`` are the messages whose send failed: a job they carried
        never reached the worker, so it goes back to the queue as never tried,
        not as a loss (a dead host's processes would otherwise pass one job
        from corpse to corpse up to the poison-pill cap without running it).
        """
        worker = self.workers.get(identity)
        if worker is not None:
            self.counters["workers_lost"] += 1
            self._forget(worker, Loss.DIED, _job_ids(undelivered))
        return self._flush()

    def tick(self) -> list[Outgoing]:
        """Act on time: expire requests past their deadline and silent workers."""
        now = self.clock()
        try:
            self._expire_queued(now)
            self._expire_running(now)
            self._expire_workers(now)
            self._expire_overrun(now)
            self._purge_replies(now)
        except Exception:  # a bug must not take the broker down
            self.counters["internal_errors"] += 1
        return self._flush()

    def heartbeats(self) -> list[Outgoing]:
        """HEARTBEATs to every worker not sent anything for an interval (the server sends these each tick).

        With ROUTER_MANDATORY a heartbeat to a dead worker fails at once, so a
        killed worker holding a job is noticed within one interval.
        """
        now = self.clock()
        for worker in self.workers.values():
            if self.liveness.heartbeat_due(worker.last_sent, now):
                worker.last_sent = now
                self._out.append(Outgoing(Side.BACKEND, worker.identity, p.encode(
                    p.WORKER_TAG, Command.HEARTBEAT, b"hb", EMPTY_HEARTBEAT)))
        return self._flush()

    def settle(self) -> list[Outgoing]:
        """Work that waits until the messages of the last event were sent (the server calls it after sending).

        The extension's (a running block's rolling commit). Returns what to
        send (nothing, unless the block failed there).
        """
        self._extension.settle()
        return self._flush() if self._out else []

    def drain(self) -> None:
        """Stop taking new work (calls, queries, deploys get BUSY); jobs in flight still finish."""
        self.draining = True

    def in_flight(self) -> int:
        """Requests accepted and not yet answered (queued or running, or deploys being validated)."""
        return len(self.active) + len(self.validating)

    def take_validations(self) -> list[Validation]:
        """Deploys whose module the server must validate off the loop, then report with :meth:`validated`."""
        taken, self._validations = self._validations, []
        return taken

    def validated(self, task: Validation, error: Verdict) -> list[Outgoing]:
        """A module's validation ended (``error`` says why it is invalid): store it and answer the deploy."""
        if self.validating.pop(task.key, None) is None:
            return self._flush()
        if error is not None:
            self._client_error(task.identity, task.request_id, errors.invalid_module(error))
        else:
            try:
                self._store_module(task.identity, task.key, task.request_id, task.module, task.code_id)
            except errors.PoolError as exc:
                self._client_error(task.identity, task.request_id, exc)
        return self._flush()

    def _flush(self) -> list[Outgoing]:
        self._extension.step()  # e.g. start a waiting block, enforce a running one's time limit
        out, self._out = self._out, []
        return out

    # --- the interface for extensions ---------------------------------------------

    def attach(self, extension: Extension, ops: Mapping[Op, ClientOp]) -> None:
        """Run ``extension`` on this core's workers; the client requests of ``ops`` go to it."""
        self._extension = extension
        self._client_ops.update(ops)

    def count(self, counter: str, amount: int = 1) -> None:
        """Add to one of the broker's counters (reported by stats and metrics)."""
        self.counters[counter] += amount

    def has_code(self, code_id: str) -> bool:
        """True when a module with this code id is deployed."""
        if code_id not in self.known_code and self.store.get_code(code_id) is not None:
            self.known_code.add(code_id)
        return code_id in self.known_code

    def worker(self, identity: bytes) -> WorkerState | None:
        """The registered worker of this ROUTER identity, if any."""
        return self.workers.get(identity)

    def worker_count(self) -> int:
        """How many workers are registered."""
        return len(self.workers)

    def idle_workers(self) -> list[WorkerState]:
        """The workers holding no job, longest idle first."""
        return list(self.idle.values())

    def jobs_held(self) -> Iterable[Job]:
        """Every job some worker holds (running or waiting behind another)."""
        return (job for worker in self.workers.values() for job in worker.jobs)

    def track(self, job: Job) -> None:
        """Enter an accepted request (its ``key``): a retry re-attaches to it instead of running it twice."""
        self.active[job.key] = job

    def untrack(self, job: Job) -> None:
        """The request of ``job`` was answered (or given up): its id is no longer in flight."""
        if self.active.get(job.key) is job:
            del self.active[job.key]

    def dispatch(self, worker: WorkerState, job: Job) -> None:
        """Send ``job`` to ``worker`` (which has a free credit)."""
        self._assign(worker, job)
        self._send_job(worker, job)

    def dispatch_queued(self) -> None:
        """Give runnable queued jobs to workers with credits (after whatever held them ended)."""
        for worker in [*self.idle.values(), *self.spare.values()]:
            if not self._fill(worker):
                return

    def reply(self, identity: bytes, key: bytes, rid: bytes, body: dict[str, Any], *,
              remember: bool = True, record: bool = False) -> None:
        """Send a FINAL for request ``rid`` (scoped as ``key``), remembered for the client's retries.

        With ``remember`` false (a storage failure) the id is left free: a
        retry runs again. With ``record`` the reply is also stored as the
        request's receipt (:meth:`_record`), so even a restarted broker never
        runs it again.
        """
        if record:
            self._record(key, rid, body)
        frames = p.encode(p.CLIENT_TAG, Command.FINAL, rid, body)
        if remember:
            self._remember(key, frames)
        self._send_client(identity, frames)

    def fail(self, identity: bytes, key: bytes, rid: bytes, exc: errors.PoolError, *,
             remember: bool = True) -> None:
        """Answer request ``rid`` with an ERROR, remembered for retries unless told not to."""
        frames = p.error_frames(rid, p.error_code(exc), exc.reason)
        if remember:
            self._remember(key, frames)
        self._send_client(identity, frames)

    def storage_error(self, exc: BaseException, rid: bytes | None, what: str) -> errors.StorageError:
        """Log and count a store that failed to write; the typed error to answer with."""
        self.counters["storage_errors"] += 1
        logs.event(self.log, "storage_error", rid, level=logging.ERROR, during=what, error=str(exc))
        return errors.StorageError(f"the state store failed during {what}: {exc}; nothing was committed, "
                                   "retry later")

    # --- clients ------------------------------------------------------------

    def _client_request(self, identity: bytes, key: bytes, op: Op, message: p.Message) -> None:
        rid = message.request_id
        stored = self._stored_reply(op, key, rid)
        if stored is not None:
            self.counters["duplicates"] += 1
            self._send_client(identity, stored)
        elif key in self.active:
            self.counters["duplicates"] += 1
            self.active[key].client = identity
        elif key in self.validating:
            self.counters["duplicates"] += 1
            self.validating[key].identity = identity
        elif self.draining and op in DRAIN_REFUSED:
            raise errors.Busy("the broker is shutting down; send the request to another broker or later")
        else:
            if self.log.isEnabledFor(logging.INFO):  # the arguments cost on the hot path: only when logged
                logs.event(self.log, "request", rid, op=str(op), code_id=message.body.get("code_id"))
            handle = self._client_ops.get(op)
            if handle is None:
                raise errors.BadRequest(f"this broker does not serve op {op}", rid)
            handle(identity, key, message)

    def _stored_reply(self, op: Op, key: bytes, rid: bytes) -> list[bytes] | None:
        """The reply already given to request ``key``: kept in memory, or a committed call's receipt."""
        frames = self.replies.get(key, self.clock())
        if frames is None and op in DURABLE:
            receipt = self.store.receipt(key)
            if receipt is not None:
                frames = [p.CLIENT_TAG, bytes((Command.FINAL,)), rid, receipt]
                self.counters["receipts_replayed"] += 1
        return frames

    def _client_error(self, identity: bytes, rid: bytes, exc: errors.PoolError) -> None:
        code = p.error_code(exc)
        self.counters[f"error_{code.name.lower()}"] += 1
        limit = getattr(exc, "limit", "")
        logs.event(self.log, "rejected", rid, code=code.name, reason=exc.reason, limit=limit or None)
        self._send_client(identity, p.error_frames(rid, code, exc.reason, limit, exc.details()))

    def _remember(self, key: bytes, frames: list[bytes]) -> None:
        self.replies.put(key, frames, self.clock())

    def _send_client(self, identity: bytes, frames: list[bytes]) -> None:
        self._out.append(Outgoing(Side.FRONTEND, identity, frames))

    def _deploy(self, identity: bytes, key: bytes, message: p.Message) -> None:
        module: bytes = message.body["code"]
        rid = message.request_id
        limits.check_deploy(module, self.config, rid)
        gas = prices.deploy_gas(len(module))
        gas_limit = message.body.get("gas_limit", prices.DEFAULT_DEPLOY_GAS_LIMIT)
        if gas > gas_limit:  # priced by size alone: the same on every node, before any work
            self.counters["deploys_out_of_gas"] += 1
            raise errors.DeployOutOfGas(f"deploying {len(module)} bytes costs {gas} gas, over the limit of "
                                        f"{gas_limit}")
        code_id = p.code_id(module)
        if self.has_code(code_id):  # stored already, so valid: nothing to check again
            self._deployed(identity, key, rid, code_id, gas)
        elif self.defer_validation and len(module) >= self.config.validate_inline:
            task = Validation(identity, key, rid, module, code_id)
            self.validating[key] = task
            self._validations.append(task)
            self.counters["deploys_validated_off_loop"] += 1
        else:
            error = self.validate(module)
            if error is not None:
                raise errors.invalid_module(error)
            self._store_module(identity, key, rid, module, code_id)

    def _store_module(self, identity: bytes, key: bytes, rid: bytes, module: bytes, code_id: str) -> None:
        """Keep a valid module and answer its deploy with the code id."""
        try:
            self.store.put_code(code_id, module)
        except STORAGE_ERRORS as exc:
            raise self.storage_error(exc, rid, "deploy") from exc
        self.known_code.add(code_id)
        self._deployed(identity, key, rid, code_id, prices.deploy_gas(len(module)))
        self._warm(code_id)

    def _warm(self, code_id: str) -> None:
        """Ask one worker to compile a newly deployed module between jobs (``compile_on_deploy``).

        The idle worker idle the longest (which then counts as idle the least:
        it is busy compiling, and the next deploy goes to another), else the
        registered worker holding the fewest jobs; one that does not heartbeat (it would not read the
        HEARTBEAT's ``warm``) is never asked, nor one with ``MAX_WARM``
        modules still to fetch. The worker fetches the module with a ``pin_code``
        CALLBACK (served once per module asked, :meth:`_serve_pinned`) or
        finds it in its disk cache, and its cache report then routes the
        module's first call to it; a call that comes first is served as
        before (fetched and compiled by whoever runs it).
        """
        if not self.config.compile_on_deploy or any(code_id in w.cache for w in self.workers.values()):
            return  # (a worker that kept it from before a restart of an in-memory broker: nothing to do)
        by_jobs = sorted(self.workers.values(), key=lambda w: len(w.jobs))
        candidates = itertools.chain(self.idle.values(), by_jobs)
        worker = next((w for w in candidates if w.heartbeats and len(w.warming) < p.MAX_WARM), None)
        if worker is None:
            return
        if self.idle.pop(worker.identity, None) is not None:  # busy compiling: idle the least from now on,
            self.idle[worker.identity] = worker  # so a burst of deploys spreads over the idle workers
        worker.warming.add(code_id)
        worker.last_sent = self.clock()
        self.counters["warms"] += 1
        self._out.append(Outgoing(Side.BACKEND, worker.identity, p.encode(
            p.WORKER_TAG, Command.HEARTBEAT, b"hb", m.Heartbeat(warm=[code_id]).to_body())))

    def _deployed(self, identity: bytes, key: bytes, rid: bytes, code_id: str, gas_used: int) -> None:
        """Answer a deploy: the module is stored under ``code_id``; it cost ``gas_used``."""
        self.counters["deploys"] += 1
        self.reply(identity, key, rid, m.DeployReply(code_id, gas_used).to_body())

    def _call(self, identity: bytes, key: bytes, message: p.Message) -> None:
        body = message.body
        target = body["code_id"]
        if contracts.is_address(target):  # a contract instance: its code runs in its own namespace
            contract = contracts.require(self.store, target)
            self._enqueue(identity, key, message, contract.code_id, body["function"], contract.address)
            return
        if not self.has_code(target):
            raise errors.UnknownCode(f"no module deployed with code id {target}")
        self._enqueue(identity, key, message, target, body["function"])

    def _enqueue(self, identity: bytes, key: bytes, message: p.Message, code_id: str, function: str,
                 address: bytes = b"", pending: contracts.Pending | None = None, optional: bool = False
                 ) -> None:
        """Queue a call of ``function`` of ``code_id``: in ``address``'s namespace, or the code's (legacy)."""
        if len(self.queue) >= self.config.max_queue:
            raise errors.Busy(f"the queue is full ({len(self.queue)} requests); try again later")
        job = self._new_job(identity, message, code_id, function, address, optional)
        job.key, job.scope, job.pending = key, self._scope, pending
        self._admit(job)
        self.active[key] = job
        self._submit(job)

    def _instantiate(self, identity: bytes, key: bytes, message: p.Message) -> None:
        """Create a contract: run the code's ``instantiate`` export (if any) in its namespace, then commit.

        The registry row, its history and the call's writes commit together
        when the call is ok (:meth:`_complete`); otherwise nothing exists.
        """
        body = message.body
        if not self.has_code(body["code_id"]):
            raise errors.UnknownCode(f"no module deployed with code id {body['code_id']}")
        pending = contracts.instantiation(self.store, body["code_id"], body.get("caller", b""),
                                          body.get("salt", b""), body.get("admin"))
        self._enqueue(identity, key, message, body["code_id"], "instantiate", pending.contract.address,
                      pending, optional=True)

    def _migrate(self, identity: bytes, key: bytes, message: p.Message) -> None:
        """Switch a contract to new code (its admin only), running the new code's ``migrate`` export."""
        body = message.body
        pending = contracts.migration(self.store, body["address"], body["code_id"], body.get("caller", b""))
        if not self.has_code(body["code_id"]):
            raise errors.UnknownCode(f"no module deployed with code id {body['code_id']}")
        self._enqueue(identity, key, message, body["code_id"], "migrate", pending.contract.address, pending,
                      optional=True)

    def _contract_info(self, identity: bytes, key: bytes, message: p.Message) -> None:
        self.reply(identity, key, message.request_id, contracts.info(self.store, message.body["address"]))

    def _admit(self, job: Job) -> None:
        """Count a call's body against the in-flight byte limits (all clients, and its own), or refuse it."""
        size, cfg = len(job.request), self.config
        if self.inflight_bytes + size > cfg.max_inflight_bytes:
            self.counters["refused_inflight_bytes"] += 1
            raise errors.Busy(f"the pool holds {self.inflight_bytes} bytes of requests (max_inflight_bytes "
                              f"{cfg.max_inflight_bytes}); try again later")
        if self.client_bytes[job.scope] + size > cfg.max_client_bytes:
            self.counters["refused_client_bytes"] += 1
            raise errors.Busy(f"this client has {self.client_bytes[job.scope]} bytes of requests in flight "
                              f"(max_client_bytes {cfg.max_client_bytes}); wait for their answers")
        self.inflight_bytes += size
        self.client_bytes[job.scope] += size

    def _release(self, job: Job) -> None:
        """A call was answered: its body no longer counts in flight."""
        size = len(job.request)
        self.inflight_bytes -= size
        self.client_bytes[job.scope] -= size
        if self.client_bytes[job.scope] <= 0:
            del self.client_bytes[job.scope]

    def _new_job(self, identity: bytes, message: p.Message, code_id: str, function: str,
                 address: bytes = b"", optional: bool = False) -> Job:
        body, cfg = message.body, self.config
        op = Op(body["op"])
        gas = body.get("gas_limit", cfg.default_gas)
        if op is Op.QUERY:  # queries have their own cap (as wasmd's): above it, the cap
            gas = min(gas, cfg.query_gas)
        timeout = body.get("timeout", cfg.default_timeout)
        limits.check_call(body, cfg, message.request_id)  # gas, timeout, input, args ceilings
        context = body.get("context", {})
        if "caller" in body:  # instantiate and migrate name their caller apart from a call's context
            context = {"caller": body["caller"]}
        request = self.job_message(code_id, function, body.get("args", []), body.get("input", b""), context,
                                   gas, op is Op.QUERY, timeout)
        job_body = request.to_body()
        if address:
            job_body["address"] = address
        if optional:
            job_body["optional"] = True
        now = self.clock()
        return Job(message.request_id, identity, op, code_id, p.pack(job_body), now,
                   now + timeout + cfg.grace, self.calls, namespace=address.hex(), function=function,
                   access=tuple(body.get("access", ())))

    def job_message(self, code_id: str, function: str, args: list[Any], input: bytes,
                    context: dict[str, Any], gas_limit: int, readonly: bool, timeout: float | None = None
                    ) -> m.Job:
        """The job a worker gets for one call: a client's call or query, or one call of a block.

        ``timeout`` defaults to the broker's ``default_timeout`` (a block's calls have none of their own).
        """
        return m.Job(code_id=code_id, function=function, args=args, input=input, context=context,
                     gas_limit=gas_limit, readonly=readonly,
                     timeout=self.config.default_timeout if timeout is None else timeout)

    def _stats(self, identity: bytes, key: bytes, message: p.Message) -> None:
        self.reply(identity, key, message.request_id, self.stats())

    def _state_get(self, identity: bytes, key: bytes, message: p.Message) -> None:
        target = message.body["code_id"]
        if contracts.is_address(target):
            target = contracts.require(self.store, target).namespace
        value, version = self.store.get(target, message.body["key"])
        self.reply(identity, key, message.request_id, m.StateReply(value, version).to_body())

    def _pin(self, identity: bytes, key: bytes, message: p.Message) -> None:
        """Pin or unpin a module; a change goes to every worker at once (a HEARTBEAT with the whole set)."""
        try:
            reply = self.pins.change(Op(message.body["op"]), message.body["code_id"])
        except STORAGE_ERRORS as exc:
            raise self.storage_error(exc, message.request_id, "pin") from exc
        if reply.changed:
            self.counters["pins" if reply.pinned else "unpins"] += 1
            body = m.Heartbeat(pinned=self.pins.listed()).to_body()
            now = self.clock()
            for worker in self.workers.values():
                if worker.heartbeats:  # a worker of today: it reads HEARTBEAT bodies
                    worker.last_sent = now
                    self._out.append(Outgoing(Side.BACKEND, worker.identity, p.encode(
                        p.WORKER_TAG, Command.HEARTBEAT, b"hb", body)))
        self.reply(identity, key, message.request_id, reply.to_body())

    def stats(self) -> dict[str, Any]:
        """Pool statistics: workers, queue, in flight, jobs done, cache hit rate, counters."""
        hits = self.retired_cache[0] + sum(w.hits for w in self.workers.values())
        misses = self.retired_cache[1] + sum(w.misses for w in self.workers.values())
        return {
            "workers": len(self.workers), "idle": len(self.idle), "queue": len(self.queue),
            "in_flight": sum(len(w.jobs) for w in self.workers.values()),
            "inflight_bytes": self.inflight_bytes, "reply_cache_bytes": self.replies.bytes,
            "reply_cache_entries": len(self.replies), "validating": len(self.validating),
            "floats": self.config.floats, "deploy_limits": self.config.deploy_limits.as_dict(),
            "jobs_done": self.counters["jobs_done"], "cache_hits": hits, "cache_misses": misses,
            "cache_hit_rate": hits / (hits + misses) if hits + misses else 0.0,
            "metrics": self.metrics.snapshot(),
            "sequence": self.store.sequence(), "uptime": self.clock() - self.started,
            "counters": dict(self.counters), "pinned": self.pins.listed(),
            "worker_versions": self.versions.expected,
            "cache_tiers": tier_totals(self.retired_tiers, [w.tiers for w in self.workers.values()]),
            "worker_list": [{"pid": w.pid, "busy": w.job is not None, "held": len(w.jobs),
                             "credits": w.credits, "cached": len(w.cache),
                             "pinned_missing": self.pins.missing(w.cache)}
                            for w in self.workers.values()],
        }

    # --- routing --------------------------------------------------------------

    def _submit(self, job: Job, front: bool = False) -> None:
        """Dispatch to an idle worker (one with the module cached if any) or queue."""
        worker = self._pick_worker(job) if self._can_run(job) else None
        if worker is not None:
            self.dispatch(worker, job)
        elif front:
            self.queue.appendleft(job)
        else:
            self.queue.append(job)

    @property
    def exclusive(self) -> set[str]:
        """The namespaces held by exclusive re-executions: no other job touching one is dispatched."""
        return set(self.holds)

    def _can_run(self, job: Job) -> bool:
        """False while an exclusive re-execution holds a namespace the job touches (its own, or one its
        last attempt called into); an exclusive job waits until no job it would meet still runs."""
        if self._extension.holds(job):
            return False
        if job.exclusive:  # another exclusive run holds what it will touch, besides what it touched so far
            return not any(not held.abandoned and not (held.touching() | held.held).isdisjoint(job.held)
                           for w in self.workers.values() for held in w.jobs)
        if not self.holds:
            return True
        return (job.touched or {job.space}).isdisjoint(self.holds)

    def _pick_worker(self, job: Job) -> WorkerState | None:
        """An idle worker (one with the module cached if any), else a busy one with a credit left.

        Only a worker the job's client may use (:meth:`_client_may_use`).
        """
        occupied = self._occupied()
        idle = [w for w in self.idle.values() if self._client_may_use(job, w, occupied)]
        if len(idle) < len(self.idle):  # an idle worker is kept from this client
            self.counters["client_limit_waits"] += 1
        for workers in (idle, [w for w in self.spare.values() if self._client_may_use(job, w, occupied)]):
            for worker in workers:
                if job.code_id in worker.cache or job.code_id in self.pins:  # pinned: held by every worker
                    return worker
            if workers:
                return workers[0]
        return None

    def client_worker_limit(self) -> int:
        """How many workers may hold one client's calls at once (``max_client_workers``; 0: all but one)."""
        limit = self.config.max_client_workers
        return limit if limit > 0 else max(1, len(self.workers) - 1)

    def _occupied(self) -> dict[bytes, set[bytes]] | None:
        """Per client scope, the workers holding its calls; None when the limit cannot bind (few workers)."""
        if self.client_worker_limit() >= len(self.workers):
            return None
        occupied: dict[bytes, set[bytes]] = {}
        for worker in self.workers.values():
            for job in worker.jobs:
                if job.owner is self.calls and not job.abandoned:
                    occupied.setdefault(job.scope, set()).add(worker.identity)
        return occupied

    def _client_may_use(self, job: Job, worker: WorkerState, occupied: dict[bytes, set[bytes]] | None
                        ) -> bool:
        """True when ``worker`` may take ``job`` under the per-client limit (see *Fairness*).

        Nor is a call queued at a worker behind another client's waiting
        jobs (only behind the one running): a client's stack of spinning
        calls at its workers holds no one else's call.
        """
        if occupied is None or job.owner is not self.calls:
            return True
        if any(waiting.scope != job.scope for waiting in itertools.islice(worker.jobs, 1, None)):
            return False
        held = occupied.get(job.scope, ())
        return worker.identity in held or len(held) < self.client_worker_limit()

    def _pick_job(self, worker: WorkerState) -> Job | None:
        """The first runnable queued job (within the window) whose module ``worker`` has, else the first.

        Jobs of a client at its worker limit are skipped (another client's
        job is taken) and do not count in the window.
        """
        first = None
        occupied = self._occupied()
        window, seen, passed = self.config.dispatch_window, 0, False
        for index, job in enumerate(self.queue):
            if seen >= window:
                break
            if not self._client_may_use(job, worker, occupied):
                passed = True
                continue
            seen += 1
            if not self._can_run(job):
                continue
            if job.code_id in worker.cache or job.code_id in self.pins:
                first = index
                break
            if first is None:
                first = index
        if passed:
            self.counters["client_limit_waits"] += 1
        if first is None:
            return None
        job = self.queue[first]
        del self.queue[first]
        return job

    def overdue(self, worker: WorkerState, since: float) -> bool:
        """True when a runnable queued job that ``worker`` may take has waited since ``since`` or before.

        The extension asks it before taking an idle worker (blocks: ``max_block_hold``).
        """
        if not self.queue:
            return False
        occupied = self._occupied()
        for job in itertools.islice(self.queue, self.config.dispatch_window):
            if (job.arrival <= since and self._client_may_use(job, worker, occupied)
                    and self._can_run(job)):
                return True
        return False

    def _fill(self, worker: WorkerState) -> bool:
        """Give ``worker`` queued jobs up to its free credits, in one REQUEST; False when none was left."""
        jobs = []
        while worker.takes_more:
            job = self._pick_job(worker)
            if job is None:
                break
            self._assign(worker, job)
            jobs.append(job)
        if len(jobs) == 1:
            self._send_job(worker, jobs[0])
        elif jobs:
            body = p.pack(m.JobBatch([[job.job_id, job.outgoing or job.request] for job in jobs]).to_body())
            frames = [p.WORKER_TAG, bytes((Command.REQUEST,)), jobs[0].job_id, body]
            self._out.append(Outgoing(Side.BACKEND, worker.identity, frames))
            self.counters["batched_jobs"] += len(jobs)
        return worker.free > 0

    def _send_job(self, worker: WorkerState, job: Job) -> None:
        frames = [p.WORKER_TAG, bytes((Command.REQUEST,)), job.job_id, job.outgoing or job.request]
        self._out.append(Outgoing(Side.BACKEND, worker.identity, frames))

    def _assign(self, worker: WorkerState, job: Job) -> None:
        """The broker's side of a dispatch: a job id, an attempt, the worker's credit taken."""
        self._next_job += 1
        job.job_id = self._next_job.to_bytes(8, "big")
        job.attempts += 1
        job.start_attempt()
        job.started = worker.last_sent = self.clock()  # a waiting job's start is reset when it runs
        runs_now = not worker.jobs
        if runs_now and job.owner is self.calls and self.config.read_ahead:  # its likely reads go with it
            self._read_ahead(job)
        worker.jobs.append(job)
        self._place(worker)
        worker.expires = self._expiry(worker)
        if self.log.isEnabledFor(logging.INFO):
            logs.event(self.log, "dispatched", job.request_id, job=job.job_id.hex(), worker=worker.pid,
                       attempt=job.attempts)

    def _make_idle(self, worker: WorkerState) -> None:
        """A worker has credits again: fill them (the extension's job first), or note it idle or spare."""
        if not worker.jobs and self._extension.assign(worker):
            return
        self._fill(worker)
        self._place(worker)

    def _read_ahead(self, job: Job) -> None:
        """Read the keys ``job`` will likely read and send them with it (``broker.ahead``).

        Declared keys first, then learned ones, up to MAX_AHEAD_KEYS and as
        many bytes as the REQUEST has room for; each read as a CALLBACK
        ``get`` would be. A store that cannot read sends none: the worker asks.
        """
        keys = ahead.wanted(job.access, self.hints.keys(job.space, job.function))
        if not keys:
            return
        room = min(ahead.MAX_AHEAD_BYTES, self.config.limits.max_body // 4,
                   self.config.limits.max_body - len(job.request) - AHEAD_SLACK)
        offer = Offer()
        try:
            for key in keys:
                value, version = self.store.get(job.space, key)
                room -= len(key) + (0 if value is None else len(value)) + AHEAD_ENTRY
                if room < 0:
                    break
                offer.pairs.append([key, value])
                offer.versions.append(version)
        except STORAGE_ERRORS as exc:
            self.storage_error(exc, job.request_id, "read ahead")
            return
        if offer.pairs:
            job.offer = offer
            job.outgoing = p.with_entry(job.request, "prefetched", offer.pairs)
            self.counters["read_ahead"] += len(offer.pairs)

    def _took_ahead(self, job: Job, result: dict[str, Any]) -> None:
        """The reads answered ahead that the call read (its result's ``ahead``) join its read set.

        ``ahead`` is taken out of the result: it is for the broker, not the client.
        """
        taken = result.pop("ahead", ())
        if job.offer is None:
            return
        for index in taken:
            read = job.offer.version(index)
            if read is not None:
                key, version = read
                job.reads.setdefault(key, version)
                job.gets.append(key)
                self.counters["read_ahead_used"] += 1

    def _place(self, worker: WorkerState) -> None:
        """File a worker by what it holds: idle (nothing), spare (busy, takes more) or neither."""
        if not worker.jobs:
            self.idle[worker.identity] = worker
        else:
            self.idle.pop(worker.identity, None)
        if worker.jobs and worker.takes_more:
            self.spare[worker.identity] = worker
        else:
            self.spare.pop(worker.identity, None)

    # --- workers ---------------------------------------------------------------

    def _ready(self, worker: WorkerState | None, identity: bytes, message: p.Message) -> None:
        if not self.versions.admit(identity, message.body.get("versions")):  # never given a job
            if worker is not None:
                self._forget(worker, Loss.LEFT)
            return
        if worker is None:
            worker = WorkerState(identity, self.clock() + self._silence())
            self.workers[identity] = worker
            self.counters["workers_joined"] += 1
        self._note_cache(worker, message.body)
        worker.pid = message.body.get("pid", worker.pid)
        worker.heartbeats = message.body.get("heartbeats", False)
        worker.credits = message.body.get("credits", 1)
        if worker.heartbeats:  # tell it the broker's numbers: both sides judge liveness alike
            worker.last_sent = self.clock()  # this HEARTBEAT counts: the next is due an interval later
            announce = {**self.liveness.announce(self.config.limits.max_body), "pinned": self.pins.listed()}
            self._out.append(Outgoing(Side.BACKEND, identity, p.encode(
                p.WORKER_TAG, Command.HEARTBEAT, b"hb", announce)))
        if worker.jobs:  # it dropped its jobs (it restarted, or lies): they run again, no loss counted
            self.counters["requeued_dropped"] += len(worker.jobs)
            self._requeue_held(worker, Loss.DROPPED, frozenset(job.job_id for job in worker.jobs))
        if worker.identity not in self.idle:
            self._make_idle(worker)

    @staticmethod
    def _note_cache(worker: WorkerState, body: dict[str, Any]) -> None:
        """Take in a cache report (READY or FINAL); the contents come only when they changed."""
        cache = body.pop("cache", None)
        if cache is not None:
            worker.cache = frozenset(cache)
            if worker.warming:  # loaded from its disk cache without a fetch: asked no more
                worker.warming.difference_update(worker.cache)
        worker.hits = body.pop("hits", worker.hits)
        worker.misses = body.pop("misses", worker.misses)
        worker.tiers = body.pop("tiers", worker.tiers)

    def _heartbeat(self, worker: WorkerState | None, identity: bytes, message: p.Message) -> None:
        if worker is None:
            self._out.append(disconnect(identity, message.request_id))
        else:  # an idle worker's cache report rides on a HEARTBEAT (a pinned module loaded between jobs)
            self._note_cache(worker, message.body)

    def _disconnect(self, worker: WorkerState | None, identity: bytes, message: p.Message) -> None:
        if worker is not None:
            self._forget(worker, Loss.LEFT)

    def _forget(self, worker: WorkerState, loss: Loss = Loss.LEFT, unstarted: frozenset[bytes] = frozenset()
                ) -> None:
        self.workers.pop(worker.identity, None)
        self.idle.pop(worker.identity, None)
        self.spare.pop(worker.identity, None)
        self.retired_cache[0] += worker.hits
        self.retired_cache[1] += worker.misses
        self.retired_tiers.update({k: n for k, n in worker.tiers.items() if k != HOST_GAUGE})
        self.counters["workers_left"] += 1
        if worker.jobs:
            self._requeue_held(worker, loss, unstarted)
            self.dispatch_queued()  # its jobs no longer hold their contracts: queued ones may run now

    def _requeue_held(self, worker: WorkerState, loss: Loss, unstarted: frozenset[bytes] = frozenset()
                      ) -> None:
        """Take back every job ``worker`` holds: the running one was lost, the waiting ones never started.

        A running job whose id is in ``unstarted`` (it never reached the
        worker, or the worker dropped it unrun) is no loss: it goes back as never tried.
        """
        jobs = list(worker.jobs)
        worker.jobs.clear()
        self.spare.pop(worker.identity, None)
        started = 1 if jobs and jobs[0].job_id not in unstarted else 0
        for job in reversed(jobs[started:]):  # to the queue's head in their order, after the lost one
            job.owner.lost(job, loss, started=False)
        if started:
            jobs[0].owner.lost(jobs[0], loss, started=True)

    def _requeue_waiting(self, job: Job) -> None:
        """A call that only waited at a lost worker: back to the queue's head, as never tried."""
        job.attempts -= 1
        if not job.abandoned:
            self.counters["requeued_waiting"] += 1
            self._submit(job, front=True)

    def _requeue(self, job: Job, loss: str) -> None:
        """A job lost its worker: run it elsewhere with a fresh time budget, or give up at the cap."""
        if job.abandoned:
            return
        job.losses += 1
        self.counters[f"lost_{loss}"] += 1
        if job.losses >= self.config.max_losses:
            self.counters["poison_pills"] += 1
            self._answer(job, _failed({}, ErrorCode.WORKER_LOST, poison_message(job.losses)))
            return
        self.counters["requeued"] += 1
        now = self.clock()
        job.arrival, job.deadline = now, now + job.budget
        self._submit(job, front=True)

    def _callback(self, worker: WorkerState | None, identity: bytes, message: p.Message) -> None:
        body = message.body
        job = _held(worker, message.request_id)  # the job it runs: earlier ones' FINALs may still be kept
        reply: m.CallbackReply
        if body["op"] == Op.PIN_CODE:  # outside any job: a worker loads a pinned module
            reply = self._serve_pinned(worker, body)
        elif job is None:
            reply = m.RefusedReply(body["seq"], "no such job on this broker")
        elif body["op"] == Op.GET:
            reply = job.owner.read(job, body)
        elif body["op"] == Op.SCAN:
            scan = getattr(job.owner, "scan", None)
            reply = (m.RefusedReply(body["seq"], "key ranges cannot be read here") if scan is None
                     else scan(job, body))
        else:
            reply = job.owner.code(job, body)
        self.counters["callbacks"] += 1
        self._out.append(Outgoing(Side.BACKEND, identity, p.encode(
            p.WORKER_TAG, Command.CALLBACK_REPLY, message.request_id, reply.to_body())))

    def _serve_read(self, job: Job, body: dict[str, Any]) -> m.CallbackReply:
        """Read committed state for a job, recording the version in its read set by location.

        ``space`` names another namespace: a called contract's, or the
        registry's, where a record found makes that contract one the job
        called (:meth:`_nested_problem` lets it write only there).
        """
        key, space = body["key"], body.get("space")
        if space is None or space == job.space:  # its own namespace: the fast path
            value, version = self.store.get(job.space, key)
            job.reads.setdefault(key, version)
            job.gets.append(key)
            return m.ReadReply(body["seq"], value, version)
        value, version = self.store.get(space, key)
        job.foreign.setdefault((space, key), version)
        if space == p.REGISTRY_SPACE and value is not None and len(key) == p.ADDRESS_SIZE:
            job.callees.add(key.hex())
        self.counters["foreign_reads"] += 1
        return m.ReadReply(body["seq"], value, version)

    def _serve_scan(self, job: Job, body: dict[str, Any]) -> m.CallbackReply:
        """A page of a key range for a job: its entries join the read set, the range it covers the ranges.

        ``space`` names a called contract's namespace: the page is recorded
        under it, and checked there at commit.
        """
        if len(job.ranges) + len(job.foreign_ranges) >= MAX_RANGES:
            return m.RefusedReply(body["seq"], f"more than {MAX_RANGES} pages of key ranges in one call")
        space = body.get("space") or job.space
        try:
            page = serve_page(self.store, space, body["start"], body["end"], body["order"], body["limit"])
        except NotImplementedError as exc:
            return m.RefusedReply(body["seq"], str(exc))
        if space == job.space:
            for entry in page.entries:
                job.reads.setdefault(entry.key, entry.version)
            job.ranges.append(page.covered)
        else:
            for entry in page.entries:
                job.foreign.setdefault((space, entry.key), entry.version)
            job.foreign_ranges.append((space, page.covered))
        self.counters["scan_pages"] += 1
        return m.ScanReply(body["seq"], [[e.key, e.value] for e in page.entries], page.more)

    def _serve_pinned(self, worker: WorkerState | None, body: dict[str, Any]) -> m.CallbackReply:
        """A module's bytes for a registered worker loading it between jobs: a pinned one, or one it was
        asked to warm (once; no other module is served so)."""
        code_id = body["code_id"]
        if worker is not None and code_id in worker.warming:
            worker.warming.discard(code_id)
            self.counters["warm_fetches"] += 1
        elif worker is not None and code_id in self.pins:
            self.counters["pin_fetches"] += 1
        else:
            return m.RefusedReply(body["seq"], "not a pinned module")
        return m.CodeReply(body["seq"], self.store.get_code(code_id))

    def _serve_code(self, job: Job, body: dict[str, Any]) -> m.CallbackReply:
        """A job's module, or with ``code_id`` a called contract's: each sent once per attempt
        (MAX_CODE_FETCHES), at most MAX_MODULE_FETCHES distinct modules per attempt."""
        code_id = body.get("code_id", job.code_id)
        if code_id in job.fetched or len(job.fetched) >= MAX_MODULE_FETCHES:
            self.counters["refused_code_fetches"] += 1
            why = ("the module was already sent for this job" if code_id in job.fetched else
                   f"a call may fetch at most {MAX_MODULE_FETCHES} modules")
            return m.RefusedReply(body["seq"], why)
        module = self.store.get_code(code_id)
        if module is None:
            return m.RefusedReply(body["seq"], f"no module deployed with code id {code_id}")
        job.fetched.add(code_id)
        self.counters["code_fetches"] += 1
        return m.CodeReply(body["seq"], module)

    def _final(self, worker: WorkerState | None, identity: bytes, message: p.Message) -> None:
        """A job's result, which also hands the worker's credit back."""
        if worker is None:  # we restarted since this worker registered: it must register again
            self.counters["stray_finals"] += 1
            self._out.append(disconnect(identity, message.request_id))
            return
        self._note_cache(worker, message.body)
        if "finals" in message.body:  # several jobs' results, in the order it ran them
            for job_id, result in message.body["finals"]:
                if not self._result(worker, job_id, _checked_result(result)):
                    break
        else:
            self._result(worker, message.request_id, message.body)
        if message.body.get("leaving"):  # stopping or recycled: it takes no further job
            self._forget(worker, Loss.LEFT)
        elif worker.identity not in self.idle:
            self._make_idle(worker)

    def _result(self, worker: WorkerState, job_id: bytes, result: dict[str, Any]) -> bool:
        """One job's result from ``worker``, whose oldest job it must be; False for a stray one."""
        job = worker.job
        if job is None or job.job_id != job_id:
            self.counters["stray_finals"] += 1  # not the job it runs (about an earlier one, or garbled)
            return False
        worker.jobs.popleft()
        if worker.jobs:  # the next job it holds starts now
            worker.jobs[0].started = self.clock()
        if job.abandoned:
            self.counters["late_finals"] += 1
            return True
        _stamp_floats(result, self.config.floats)
        job.owner.finished(job, result)
        return True

    def _complete(self, job: Job, result: dict[str, Any]) -> None:
        """Commit an ok call's writes (or re-execute it on a stale read), then answer.

        The writes of the contracts it called (``nested_writes``) commit with
        its own, in one transaction, or not at all; a query may write neither.
        """
        writes: dict[bytes, bytes | None] = result.get("writes", {})
        nested_list: list[list[Any]] = result.get("nested_writes", [])
        self._took_ahead(job, result)
        if result["status"] == Status.OK:
            self.hints.learn(job.space, job.function, job.gets)
        if result["status"] != Status.OK:
            result["writes"] = {}
            result.pop("nested_writes", None)
        elif writes or nested_list or job.pending is not None:
            problem = self._nested_problem(job, nested_list)
            if job.readonly:
                result = _failed(result, ErrorCode.READ_ONLY, "a read-only query cannot write state")
            elif problem is not None:
                self.counters["refused_nested_writes"] += 1
                result = _failed(result, ErrorCode.INTERNAL, f"the worker sent a bad result: {problem}")
            elif not self._commit(job, writes, _located(nested_list), result):
                return
            else:
                self._answer(job, result, recorded=True)  # its receipt went with the commit
                return
        elif not self._still_current(job):
            return
        self._answer(job, result)

    @staticmethod
    def _nested_problem(job: Job, nested: list[list[Any]]) -> str | None:
        """Why a result's nested writes cannot be committed, or None.

        A worker writes only where the call went: every namespace must be
        that of a contract the job's attempt looked up in the registry and
        found (``call_contract`` finds its callee so), never the job's own
        (its writes say that) and never from a legacy call (it calls no one).
        """
        if not nested:
            return None
        if len(nested) > MAX_NESTED_WRITES:
            return f"{len(nested)} nested writes, more than {MAX_NESTED_WRITES}"
        for space, _, _ in nested:
            if not job.namespace or space == job.space:
                return f"a nested write into {space}, the call's own namespace or a legacy call's"
            if space not in job.callees:
                return f"a nested write into {space}, a contract the call never looked up"
        return None

    def _still_current(self, job: Job) -> bool:
        """True when an ok job that wrote nothing (a query) read one state: its reads and ranges hold now.

        Its reads came from the store at different moments; if a commit
        changed one of them meanwhile, it may have seen half of that commit,
        so it is executed again like a stale commit. When all still hold, its
        result is that of a call run now: serializable, as a commit is. Reads
        and ranges in other namespaces (contracts it called) are checked too.
        """
        try:
            self._check_ranges(job)
            stale = [key for key, version in job.reads.items()
                     if self.store.get(job.space, key).version != version]
            stale += [key for (space, key), version in job.foreign.items()
                      if self.store.get(space, key).version != version]
            if stale:
                raise StaleRead(job.space, stale)
        except STORAGE_ERRORS as exc:
            failure = self.storage_error(exc, job.request_id, "read check")
            self._answer(job, _failed({}, ErrorCode.STORAGE, failure.reason), remember=False)
            return False
        except StaleRead:
            self._stale(job)
            return False
        return True

    def _check_ranges(self, job: Job) -> None:
        """Raise StaleRead when a key range the job read, in its namespace or another, changed (phantoms)."""
        check_ranges(self.store, job.space, job.ranges)
        for space, scanned in job.foreign_ranges:
            check_ranges(self.store, space, (scanned,))

    def _stale(self, job: Job) -> None:
        """A job whose reads went stale runs again at the head of the queue, up to ``max_attempts``.

        What its attempt touched is kept: until a re-execution holding one
        of those namespaces ends, it waits (:meth:`_can_run`).
        """
        self.counters["reexecutions"] += 1
        job.touched = job.touching()
        if job.attempts < self.config.max_attempts:
            self._escalate(job)
            self._submit(job, front=True)
            return
        self._answer(job, _failed({}, ErrorCode.CONFLICT,
                                  f"state kept changing under the call ({job.attempts} attempts)"))

    def _commit(self, job: Job, writes: dict[bytes, bytes | None], nested: dict[Location, bytes | None],
                result: dict[str, Any]) -> bool:
        """True when committed; False when the job went back to the queue for re-execution (or was
        answered with a failure).

        The reply is stored with the commit (a receipt), so a retry of the
        request id is answered from it even by a restarted broker. A call
        that read or wrote other namespaces commits through the store's
        cross-namespace commit, every read checked where it was made.
        """
        job.wrote = frozenset(space for space, _ in nested)
        if self.holds and not job.exclusive and self._fenced(job):
            self.counters["fenced_commits"] += 1
            self._stale(job)
            return False
        receipt = p.pack(job_reply(job, result))
        try:
            self._check_ranges(job)  # phantoms: a key inserted in a range read
            if job.pending is None and not job.foreign and not nested:
                self.store.commit_with_receipt(job.space, job.reads, writes, job.key, receipt,
                                               self.config.result_ttl)
            else:  # calls between contracts, instantiate or migrate: everything lands, or nothing
                reads, located = self._located_sets(job, writes, nested)
                self.store.commit_many_with_receipt(reads, located, job.key, receipt, self.config.result_ttl)
        except STORAGE_ERRORS as exc:
            failure = self.storage_error(exc, job.request_id, "commit")
            self._answer(job, _failed({}, ErrorCode.STORAGE, failure.reason), remember=False)
            return False
        except NotImplementedError as exc:  # a plugged-in store without commit_many
            self._answer(job, _failed(result, ErrorCode.INTERNAL, str(exc)))
            return False
        except StaleRead:
            if job.pending is not None and not self._refresh(job, result):
                return False
            self._stale(job)
            return False
        self.counters["commits"] += 1
        self._tell_committed(job, writes, nested)
        return True

    @staticmethod
    def _located_sets(job: Job, writes: dict[bytes, bytes | None], nested: dict[Location, bytes | None]
                      ) -> tuple[dict[Location, int], dict[Location, bytes | None]]:
        """A job's whole read set and write set keyed by location (namespace, key), registry change too."""
        reads = {(job.space, k): v for k, v in job.reads.items()} | job.foreign
        located = nested | {(job.space, k): v for k, v in writes.items()}
        if job.pending is not None:  # instantiate or migrate: the registry change lands with the writes
            pending: contracts.Pending = job.pending
            reads |= pending.reads()
            located |= pending.writes()
        return reads, located

    def _tell_committed(self, job: Job, writes: dict[bytes, bytes | None],
                        nested: dict[Location, bytes | None]) -> None:
        """Tell the extension of every namespace a commit changed (blocks keep the state root from it)."""
        self._extension.committed(job.space, writes)
        for space, changed in contracts.by_namespace(nested).items():
            self._extension.committed(space, changed)
        if job.pending is not None:  # the registry's namespaces changed too
            for space, changed in contracts.by_namespace(job.pending.writes()).items():
                self._extension.committed(space, changed)

    def _fenced(self, job: Job) -> bool:
        """True when ``job`` would write into a namespace an exclusive re-execution holds while it runs.

        Such a job was dispatched before the hold, or called into a held
        contract on the way: committing it could make the exclusive run lose
        again. It is executed again instead, after the hold ends.
        """
        written = {job.space, *job.wrote}
        return any(held.exclusive and not held.abandoned and not held.held.isdisjoint(written)
                   for held in self.jobs_held() if held is not job)

    def _refresh(self, job: Job, result: dict[str, Any]) -> bool:
        """Before an instantiate or migrate runs again: does its registry change still hold? Else answer."""
        try:
            job.pending = contracts.refreshed(self.store, job.pending)
        except errors.PoolError as exc:
            self._answer(job, _failed(result, p.error_code(exc), exc.reason))
            return False
        return True

    def _escalate(self, job: Job) -> None:
        """After ``exclusive_after`` stale reads, run the job alone on what it touches: it cannot lose again.

        It holds every namespace its last attempt read or wrote (its own and
        its callees'): no job touching one is dispatched until it ends, and a
        running one that writes into one is executed again (:meth:`_fenced`).
        """
        if job.attempts >= self.config.exclusive_after and not job.exclusive:
            job.exclusive = True
            job.held = job.touched or frozenset({job.space})
            self.holds.update(job.held)
            self.counters["exclusive_runs"] += 1

    def _answer(self, job: Job, result: dict[str, Any], remember: bool = True,
                recorded: bool = False) -> None:
        """Answer a job's client; remember the reply (unless told not to), a call's in the store too."""
        if job.exclusive:
            job.exclusive = False
            self.holds -= Counter(job.held)
            self.dispatch_queued()
        if self.active.pop(job.key, None) is job:
            self._release(job)
        self.counters["jobs_done"] += 1
        self.counters[f"status_{result['status']}"] += 1
        latency = self.clock() - job.arrival
        self.metrics.answered(result["status"], latency)
        if self.log.isEnabledFor(logging.INFO):
            logs.event(self.log, "answered", job.request_id, status=str(result["status"]),
                       attempts=job.attempts, gas_used=result.get("gas_used", 0),
                       latency_ms=round(latency * 1000, 3))
        reply = job_reply(job, result)
        self.reply(job.client, job.key, job.request_id, reply, remember=remember,
                   record=remember and not recorded and job.op in DURABLE)

    def _record(self, key: bytes, rid: bytes, result: Mapping[str, Any]) -> None:
        """Store the outcome of a request that wrote nothing as its receipt, so a retry never runs it again.

        A store that fails here is logged and counted; the client still gets
        its answer (only a broker restart before the retry would forget it).
        """
        try:
            self.store.record_receipt(key, p.pack(result), self.config.result_ttl)
        except STORAGE_ERRORS as exc:
            self.storage_error(exc, rid, "receipt")

    # --- time ------------------------------------------------------------------------

    def _silence(self) -> float:
        return self.liveness.window

    def _expiry(self, worker: WorkerState) -> float:
        """When a silent worker is forgotten: after the heartbeat window (see broker.liveness)."""
        deadline = max((job.deadline for job in worker.jobs), default=None)
        return self.liveness.expires(self.clock(), worker.heartbeats, deadline)

    def _expire_queued(self, now: float) -> None:
        if any(job.deadline <= now for job in self.queue):
            late = [job for job in self.queue if job.deadline <= now]
            self.queue = deque(job for job in self.queue if job.deadline > now)
            self._time_out(late, "waiting in the queue")

    def _expire_running(self, now: float) -> None:
        late = [job for w in self.workers.values() for job in w.jobs
                if not job.abandoned and job.deadline <= now]
        for job in late:
            job.abandoned = True
        self._time_out(late, "running")

    def _time_out(self, jobs: Iterable[Job], where: str) -> None:
        for job in jobs:
            job.owner.timed_out(job, where)

    def _answer_timeout(self, job: Job, where: str) -> None:
        self.counters["timeouts"] += 1
        message = f"no result within {job.deadline - job.arrival:.1f}s (timed out {where})"
        self._answer(job, _failed({}, ErrorCode.TIMEOUT, message))

    def _expire_workers(self, now: float) -> None:
        for worker in [w for w in self.workers.values() if w.expires <= now]:
            self.counters["workers_expired"] += 1
            self._forget(worker, Loss.SILENT)

    def _expire_overrun(self, now: float) -> None:
        """Forget heartbeating workers still holding a job a liveness window past its own time budget.

        Such a worker is alive but wedged (its own time limit did not stop
        the call); it is told to register again, and its job is lost.
        """
        for worker in [w for w in self.workers.values() if w.heartbeats and w.job is not None
                       and self.liveness.overran(w.job.started, w.job.budget, now)]:
            self.counters["workers_overran"] += 1
            self._out.append(disconnect(worker.identity, b"overran"))
            self._forget(worker, Loss.OVERRAN)

    def _purge_replies(self, now: float) -> None:
        """Now and then drop expired replies, in memory and in the store."""
        if now >= self._next_purge:
            self._next_purge = now + self.config.receipt_purge
            self.replies.expire(now)
            try:
                self.store.purge_receipts()
            except STORAGE_ERRORS as exc:
                self.storage_error(exc, None, "purge")


class _Calls:
    """The owner of ordinary calls and queries: their events go to the core's own handling."""

    queue_behind = True

    def __init__(self, core: BrokerCore) -> None:
        self.core = core

    def finished(self, job: Job, result: dict[str, Any]) -> None:
        self.core._complete(job, result)

    def lost(self, job: Job, why: str, started: bool) -> None:
        if started:
            self.core._requeue(job, why)
        else:
            self.core._requeue_waiting(job)

    def timed_out(self, job: Job, where: str) -> None:
        self.core._answer_timeout(job, where)

    def read(self, job: Job, body: dict[str, Any]) -> m.CallbackReply:
        return self.core._serve_read(job, body)

    def code(self, job: Job, body: dict[str, Any]) -> m.CallbackReply:
        return self.core._serve_code(job, body)

    def scan(self, job: Job, body: dict[str, Any]) -> m.CallbackReply:
        return self.core._serve_scan(job, body)


SCOPE_CURVE, SCOPE_CHOSEN, SCOPE_CONNECTION = b"k", b"s", b"c"
"""How a client's scope was found: its CURVE key, an identity it chose, or an identity libzmq made."""


def client_scope(identity: bytes, principal: bytes | None, boot: bytes) -> bytes:
    """Whose request ids these are: what keeps one client's ids apart from every other's.

    With CURVE, the client's public key (``principal``): it alone proves who
    sent the request, whatever socket it came on. Without it, the ROUTER
    identity: the pool's clients set it to a random session id of their own
    (``Client(session=...)``), which they keep across reconnects and broker
    restarts, and ZeroMQ refuses a second connection claiming an identity
    already connected. An identity libzmq generated (it starts with a zero
    byte and counts up from the same value in every broker run) is scoped
    to this broker run by ``boot``, so a later run never mistakes a new
    connection for an old one.
    """
    if principal is not None:
        return SCOPE_CURVE + principal
    if identity[:1] != b"\0":
        return SCOPE_CHOSEN + identity
    return SCOPE_CONNECTION + boot + identity


def scoped_key(scope: bytes, rid: bytes) -> bytes:
    """The key of request ``rid`` of the client ``scope``: length-prefixed, so no two pairs collide."""
    return len(scope).to_bytes(2, "big") + scope + rid


EMPTY_HEARTBEAT = m.Heartbeat().to_body()
DISCONNECT = m.Disconnect().to_body()


def disconnect(identity: bytes, rid: bytes) -> Outgoing:
    """A DISCONNECT to a worker: forget what you hold and register again."""
    return Outgoing(Side.BACKEND, identity, p.encode(p.WORKER_TAG, Command.DISCONNECT, rid, DISCONNECT))
"""The broker's periodic HEARTBEAT body (built once: it never changes)."""

MAX_CODE_FETCHES = 1
"""CALLBACKs for one module one job attempt may make: a worker fetches it once, then compiles and caches it.

Each reply carries the whole module (up to 16 MiB); a worker asking again
and again without reading would otherwise pile copies up in the broker.
"""

AHEAD_SLACK = 64
"""Bytes kept free in a REQUEST body beyond its reads answered ahead (the key ``prefetched``, list header)."""

AHEAD_ENTRY = 16
"""Bytes counted per read answered ahead beyond its key and value (its pair's msgpack headers)."""

MAX_MODULE_FETCHES = 64
"""Distinct modules one job attempt may fetch: its own and its callees' (twice the call depth, 32)."""

MAX_NESTED_WRITES = 4096
"""The most writes in other contracts' namespaces one result may carry (the worker's own cap on a
whole call's writes, ``HostLimits.writes``, counts them too); a result with more is refused."""

DURABLE = frozenset({Op.CALL, Op.BLOCK, Op.INSTANTIATE, Op.MIGRATE})
"""Requests whose outcome is kept by the store (receipts), so that a restarted broker still knows it."""

DRAIN_REFUSED = frozenset({Op.DEPLOY, Op.CALL, Op.QUERY, Op.BLOCK, Op.INSTANTIATE, Op.MIGRATE})
"""What a draining broker refuses (with BUSY); stats and state reads are still answered."""


def _job_ids(messages: Iterable[list[bytes]]) -> frozenset[bytes]:
    """The job ids of the REQUESTs among ``messages`` (broker -> worker frames): one, or a batch's."""
    ids: set[bytes] = set()
    for frames in messages:
        if frames[1] == bytes((Command.REQUEST,)):
            body = p.unpack(frames[3])
            ids.update(job_id for job_id, _ in body.get("jobs", [[frames[2], b""]]))
    return frozenset(ids)


def _held(worker: WorkerState | None, job_id: bytes) -> Job | None:
    """The job ``worker`` holds with id ``job_id``, if any."""
    if worker is not None:
        for job in worker.jobs:
            if job.job_id == job_id:
                return job
    return None


def _checked_result(result: dict[str, Any]) -> dict[str, Any]:
    """One result of a batched FINAL as a FINAL body is checked; a malformed one becomes an internal error."""
    try:
        p.check_fields(result, p.WORKER_SCHEMAS[Command.FINAL])
    except errors.BadRequest as exc:
        return _failed({}, ErrorCode.INTERNAL, f"the worker sent a malformed result: {exc.reason}")
    return result


def _stamp_floats(result: dict[str, Any], floats: str) -> None:
    """Add the broker's float policy to the versions of a worker's result (each call's, in a chunk)."""
    versions = result.get("versions")
    if versions is not None:
        result["versions"] = {**versions, "floats": floats}
    for entry in result.get("chunk", ()):
        _stamp_floats(entry, floats)


def _located(nested: list[list[Any]]) -> dict[Location, bytes | None]:
    """A result's nested writes (``[address hex, key, value or None]``) by location; a later one wins."""
    return {(space, key): value for space, key, value in nested}


def _failed(result: dict[str, Any], code: ErrorCode, message: str) -> dict[str, Any]:
    """A result that commits nothing, with ``code``'s status and ``message`` (what the call returned kept)."""
    return m.CallResult(p.status_for(code), int(code), result.get("results", []), result.get("output", b""),
                        result.get("gas_used", 0), result.get("logs", []), {}, message,
                        result.get("versions")).to_body()


def call_reply(result: Mapping[str, Any], attempts: int) -> dict[str, Any]:
    """The client's FINAL for a call or query, and its receipt: the result, and how many attempts it took."""
    body = m.CallResult.from_checked(result).to_body()
    body["attempts"] = attempts
    return body


def job_reply(job: Job, result: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`call_reply`, with the contract's address for an instantiate or migrate that succeeded."""
    body = call_reply(result, job.attempts)
    if job.pending is not None and body["status"] == Status.OK:
        body["address"] = job.namespace
    return body


HOST_GAUGE = "disk_bytes"
"""The one tier figure that is a size, not a count: a host's workers share one disk cache (not summed)."""


def tier_totals(retired: Mapping[str, int], workers: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """The pool's module-tier counters: each count summed over live and forgotten workers, the disk
    cache's size the largest any live worker reported (workers of one host report one directory)."""
    totals: Counter[str] = Counter(retired)
    sizes = []
    for tiers in workers:
        totals.update({k: n for k, n in tiers.items() if k != HOST_GAUGE})
        if HOST_GAUGE in tiers:
            sizes.append(tiers[HOST_GAUGE])
    if sizes:
        totals[HOST_GAUGE] = max(sizes)
    return dict(sorted(totals.items()))
