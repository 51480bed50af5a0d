"""Blocks in the broker: the glue between :class:`~..core.BrokerCore` and Block-STM's :class:`BlockRun`.

Theory of operation
-------------------
A BLOCK request (op ``block``) carries an ordered list of calls. The pool
executes them in parallel on its workers with Block-STM
(:mod:`wasmpool.broker.blocks`) and answers with a :class:`~wasmpool.broker.blocks.BlockResult`:
one receipt per call in block order, the combined write set and the state
root after it -- bit for bit what executing the calls one after another
would give, whatever the number of workers, their speed or their crashes.

Life of a block (:class:`BlockCoordinator`, one per broker):

1. *Accepted*: every call is checked (schema, a deployed code id, the gas
   ceiling) and the block joins a bounded FIFO of pending blocks (full:
   BUSY). Its request id is entered in the core's ``active`` map, so a
   client's retry re-attaches to it instead of running it twice; its
   reply (FINAL or ERROR) is remembered like every reply.
2. *Quiet state*: from acceptance on, ordinary calls on the block's
   *reach* are held in the queue (:meth:`BlockCoordinator.holds`; their own
   deadlines still run) while read-only queries and calls on other
   contracts go on (a waiting block that names an expected ``state_root``
   holds every call, so the root it checks cannot move). The reach is the
   namespaces of the block's calls and, as they run, of every contract
   their callees touch (``call_contract``: a registry lookup, a read, a
   scan page or a nested write in its namespace); a call is held when its
   own namespace, or one its last losing attempt touched, is in it. The
   block starts once no ordinary call touching its reach is in flight, so
   its pre-state is one definite state; calls elsewhere that commit while
   it runs count as committed before it (their writes join its state tree,
   :meth:`BlockCoordinator.committed`, except where the block wrote: its
   write lands last). Callees are known only once they run, so such a call
   may still reach into the block's contracts through one of its own
   callees: when its commit changes a location the block read from
   committed state, the block starts again from the new state
   (:meth:`BlockCoordinator._restart`, counted ``blocks_restarted``; after
   ``max_attempts`` runs it fails with Conflict, nothing committed).
   (The alternative, validating the block's storage reads at commit and
   re-running the block on a conflict, could starve a block behind a busy
   contract; holding the block's contracts for its length cannot starve
   anything.) The versions of the storage reads are still checked by the
   atomic commit, as a safety net.
   *Sharing the workers*: a block's tasks get an idle worker before queued
   calls, except when a call that may run has waited ``max_block_hold``
   seconds (:meth:`BrokerCore.overdue`): then freed workers go to the calls
   (counted ``block_yields``), and a chain of chunks stops at the running
   one. A call on another contract thus waits at most about
   ``max_block_hold`` plus the end of one running task (itself cut by gas
   and the call time limit), never the block's whole time limit.
3. *Running*: if the request named an expected ``state_root`` that differs
   from the current one, the block is refused (StateRootMismatch).
   Otherwise a :class:`BlockRun` is created over committed storage and
   every idle worker is offered an execution task, before any queued
   query. A task is an ordinary worker REQUEST for ``calls[tx_index]`` (the
   broker's :class:`~wasmpool.broker.core.Job` with op ``block``), so workers need
   nothing new: the task's state reads (CALLBACK ``get``) are answered by
   :meth:`BlockRun.read` instead of the store -- an aborted task gets an
   error, the worker ends the call, and its FINAL is refused -- and its
   FINAL becomes the :class:`Outcome` given to :meth:`BlockRun.finish`.
   *Chunks*: a task is in fact a run of consecutive calls ``a .. b-1``
   (:meth:`BlockRun.next_chunk`; about ``block_chunks_per_worker`` chunks
   per worker, at most MAX_CHUNK calls), one REQUEST whose ``chunk`` lists
   the calls' job bodies. The worker runs them one after another: a call
   reads the writes of the chunk's earlier ok calls locally, and any other
   location with one CALLBACK ``get`` (with the call's ``index``) answered
   by :meth:`BlockRun.chunk_read` -- the same answer for every call of the
   chunk, so the worker keeps it for the chunk. One FINAL lists every call's
   result with where each read came from (the chain position of the call
   whose write it saw, see below, or -1: the broker's answer); the broker
   turns that into the call's read set (versions) and records the calls in
   order with :meth:`BlockRun.finish_reads`, so validation stays per call.
   *Calls between contracts*: a location is ``(namespace, key)``. A call's
   callees read other namespaces (a CALLBACK ``get``/``scan`` naming its
   ``space``: a contract's address, or the registry for the callee's code),
   reported as ``[key, writer, space]``, and their ok writes come as the
   result's ``nested_writes`` (``[address, key, value]``): both join the
   call's read and write sets like its own, so Block-STM validates a call
   against what its callees read too (a failed callee's reads included: its
   return code steered the caller), and the block's writes and state root
   hold every namespace written. A nested write must go to a contract the
   call looked up in the registry, never its own namespace
   (:func:`nested_problem`). A ``code`` CALLBACK naming ``code_id`` gets
   that module (a callee's).
   A chunk re-executing an aborted call also takes the following calls
   whose validation now fails. A block with more than 1/SERIAL_ABORT_SHARE
   of its calls aborted goes *serial*: one worker runs the rest of the
   block, chunk after chunk, so high contention costs about one serial
   execution.
   *Chains*: where one worker runs the block's calls in order -- a serial
   block, or a pool of one worker -- the broker sends it the next chunk
   while the one before still runs (:meth:`BlockCoordinator._continue`,
   :meth:`BlockRun.continuation`), so it never waits for the broker
   between chunks. Such a chunk *continues* the running one (the REQUEST's
   ``after``): the worker carries that chunk's writes over, as if the two
   were one chunk, and reads name their writer by its position along the
   chain (:attr:`Chunk.chain`). Its prefetched answers may be older than
   what the running chunk writes; the carried writes take precedence, and
   as everywhere the read versions are checked by validation.
   *Validations ahead*: after handing out a task the broker runs every
   validation due (:meth:`BlockRun.validate_ahead`), so calls aborted
   together are found together, and their re-executions go to the worker
   at once, waiting in its credits (up to MAX_QUEUED_TASKS tasks) instead
   of a round trip each.
   *Prefetched reads*: a CALLBACK costs a round trip (the worker idle) of
   about the time of a whole call, so the broker answers likely reads
   before they are asked (:meth:`BlockCoordinator._prefetched`): for each
   call of a chunk it is sending, the keys the call declared (``access``,
   like a Solana transaction's account list) and, for a re-execution, the
   keys its previous incarnation read (*learned hints*: they help under
   contention without any declaration). Each is resolved exactly as a
   CALLBACK ``get`` would be (:meth:`BlockRun.chunk_prefetch`, the version
   noted in the chunk's reads), sent once per chunk with the first call
   expecting it (the entry's ``prefetched``), up to MAX_PREFETCH_BYTES; a
   key behind an ESTIMATE is left out rather than suspending the chunk. The
   worker reads them like broker answers (writer position -1), so
   validation is unchanged, and a wrong or missing hint costs at most a
   CALLBACK: hints change speed, never a receipt.
   *Predicted serial*: a block whose access sets predict that more than
   1/SERIAL_ABORT_SHARE of its calls would abort starts serial instead of
   wasting a parallel round (:func:`predicted_conflicts`: cut as the first
   chunks would be, a call counts when a location it declares was declared
   by an earlier call of another chunk running at the same time; calls
   without ``access`` count as no conflict). Serial chunks are MAX_CHUNK
   calls, in a chain.
   *Rolling commit*: after the messages of each event are sent
   (:meth:`BlockCoordinator.settle`), the calls that became final
   (:meth:`BlockRun.advance_final`) get their receipts and their writes
   folded into the state tree (:class:`~wasmpool.broker.blocks.RollingCommit`), while
   later calls still run: at the last FINAL only the rest remains.
4. *Non-determinism is never an outcome*: a lost worker (DISCONNECT,
   silence, READY while busy, unreachable), a task past its deadline, or a
   FINAL whose code says time limit, unavailable state or internal error
   re-issues the call (:meth:`BlockRun.task_lost`; every call of a lost
   chunk counts a loss, and from then on runs alone, so a poison call is
   pinned and fails the block by itself; the calls after a nondeterministic
   result in a chunk are re-issued without counting). A call lost
   ``max_attempts`` times, or the block's own time limit, fails the whole
   block (BlockFailed, nothing committed). So a block either fails as a
   whole or gives the receipts every node gives.
5. *Done*: the write set is committed with
   :meth:`~wasmpool.broker.state.StateStore.commit_many` in one atomic commit
   (not at all for a dry run), the state tree moves on, the client gets the
   result, and held calls resume. (The server's loop pauses the cyclic
   garbage collector while a block runs -- a full collection over the
   broker's heap would stall every worker -- and turns it back on once the
   reply is sent: it reads :attr:`BlockCoordinator.running` and
   :attr:`BlockCoordinator.started`.)

The coordinator is a client of the core: it is attached with
:func:`attach_blocks`, serves op ``block``, and drives its tasks (jobs it
owns: :class:`~wasmpool.broker.core.JobOwner`) through the core's public
interface only.

The state tree (:class:`~wasmpool.broker.blocks.StateTree`) is built from
:meth:`~wasmpool.broker.state.StateStore.items` when the first block needs it and
is then kept current by every commit, ordinary ones included
(:meth:`BlockCoordinator.committed`): a pool that never runs a block pays
nothing for it.

Receipts depend only on the calls and the pre-state: a call without a gas
limit gets the protocol's fixed default (``DEFAULT_GAS_LIMIT``), never a
node's configuration.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wasmpool.broker import contracts
from wasmpool.broker.blocks import BlockCall, BlockRun, Outcome, RollingCommit, StateTree, Task, TaskAborted
from wasmpool.broker.blocks.mvmemory import ReadVersion, Storage, Version
from wasmpool.broker.blocks.ranges import BaseScanner, RangeRead
from wasmpool.broker.core import MAX_NESTED_WRITES, BrokerCore
from wasmpool.broker.jobs import Job, WorkerState
from wasmpool.broker.state import STORAGE_ERRORS, StaleRead, StateStore
from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import ErrorCode, Op, Status
from wasmpool.wire.receipts import Location, Value, events_of

MAX_PENDING_BLOCKS = 64
DEFAULT_BLOCK_TIMEOUT = 60.0

NONDETERMINISTIC: frozenset[int] = p.NONDETERMINISTIC
"""Codes of a FINAL that say how the machine fared, not what the call does: re-execute, never record."""

MAX_CHUNK = 128
"""The most calls in one chunk task (bounds a chunk's messages and what one loss costs)."""

SERIAL_ABORT_SHARE = 8
"""A block goes serial once more than 1/SERIAL_ABORT_SHARE of its calls had an execution aborted
(or are predicted to, from their declared access sets)."""

MAX_QUEUED_TASKS = 4
"""The most tasks a worker holds at once when re-executions are waiting (it runs them in turn)."""

MAX_PREFETCH_BYTES = 4 * 1024 * 1024
"""The most key and value bytes of prefetched reads one chunk REQUEST carries (further reads: CALLBACKs)."""


@dataclass(eq=False, slots=True)
class Chunk:
    """One dispatched task: consecutive calls run in order by one worker, and the reads served for it.

    ``chain`` is every call the worker runs as one sequence up to this
    chunk's last: the calls of the chunks it continues (carried writes),
    then its own; a chunk's reads name their writers by position in it.
    """

    tasks: list[Task]
    worker: bytes  # the identity of the worker it was sent to
    chain: list[Task]
    reads: dict[Location, ReadVersion] = field(default_factory=dict)  # broker answers, by location
    # key range pages served, by call position: (contract, covered start, covered end, key -> version)
    scans: dict[int, list[tuple[str, bytes, bytes, dict[bytes, ReadVersion]]]] = field(default_factory=dict)

    @property
    def base(self) -> int:
        """The chain position of the chunk's first call."""
        return len(self.chain) - len(self.tasks)

    @property
    def end(self) -> int:
        """The index of the call right after the chunk."""
        return self.tasks[-1].tx_index + 1


@dataclass(eq=False, slots=True)
class Block:
    """One accepted block: its calls (and their declared access sets), and its run once started."""

    holder: Job  # in the core's ``active`` map: its ``client`` follows the client's retries
    calls: tuple[BlockCall, ...]
    dry_run: bool
    expected_root: bytes | None
    deadline: float
    run: BlockRun | None = None
    versions: dict[Location, int] = field(default_factory=dict)  # store version of each storage read
    losses: Counter[int] = field(default_factory=Counter)  # non-deterministic endings per call
    timeouts: Counter[int] = field(default_factory=Counter)  # executions cut by the call's time limit
    access: tuple[tuple[Location, ...], ...] = ()  # each call's declared locations (a hint), no repeats
    serial: bool = False  # too many aborts (or predicted): one worker runs the rest, chunk after chunk
    stale: bool = False  # an ordinary commit changed state it read (through a call between contracts)
    scanned: dict[str, set[tuple[bytes, bytes]]] = field(default_factory=dict)  # ranges paged, by namespace
    restarts: int = 0  # times it started again for that
    commit: RollingCommit | None = None  # receipts and state tree of the calls final so far (once running)
    contracts: frozenset[str] = frozenset()  # its calls' own namespaces (known before it runs)
    # every namespace it has touched so far: its calls' own, and those their callees read or wrote
    # (``call_contract``); ordinary calls on any of them wait for the block (:meth:`BlockCoordinator.holds`)
    reach: set[str] = field(default_factory=set)
    modules: tuple[str, ...] = ()  # the code id each call runs (its contract's code, or the code it names)
    # what each executed incarnation (tx index, incarnation) wrote, by location (its callees' writes in
    # their namespaces included), as its worker applied it: what a later call of its chain saw (ok calls'
    # writes; none for any other outcome)
    task_writes: dict[tuple[int, int], dict[Location, Value]] = field(default_factory=dict)

    @property
    def request_id(self) -> bytes:
        return self.holder.request_id


class BlockCoordinator:
    """Runs BLOCK requests on the core's workers, one block at a time; see the module docstring.

    It owns its tasks' jobs (:class:`~wasmpool.broker.core.JobOwner`) and is
    the core's :class:`~wasmpool.broker.core.Extension`.
    """

    queue_behind = False  # no call waits at a worker behind a block's task: its credits are the block's

    def __init__(self, core: BrokerCore) -> None:
        self.core = core
        self.pending: deque[Block] = deque()
        self.current: Block | None = None
        self.started = 0  # blocks started so far (the server's collector policy tells blocks apart by it)
        self.tasks: dict[Job, Chunk] = {}  # the current block's dispatched, unfinished chunks
        self.tails: dict[bytes, tuple[Job, Chunk]] = {}  # per worker: the current block's chunk sent last
        self._tree: StateTree | None = None

    @property
    def running(self) -> bool:
        """A block is running (started, not yet ended)."""
        return self.current is not None

    # --- the state tree ---------------------------------------------------------------------

    @property
    def tree(self) -> StateTree:
        """The state tree of committed state (built from the store on first use)."""
        if self._tree is None:
            self._tree = StateTree.from_items(self.core.store.items())
        return self._tree

    def committed(self, code_id: str, writes: dict[bytes, bytes | None]) -> None:
        """An ordinary call committed ``writes`` in namespace ``code_id``: keep the tree current (once it
        exists).

        While a block runs, only calls on contracts outside its reach commit
        (see :meth:`holds`): they count as committed before it, and its state
        tree takes their writes too -- except where the block already wrote
        (its write lands after theirs). But such a call may have called a
        contract the block uses (``call_contract``) and changed a location the
        block read from committed state, or put a key into a range it paged:
        then the block computed with a state serial order would not show it,
        and it starts again (:meth:`_restart`, at the next step).
        """
        located = {(code_id, key): value for key, value in writes.items()}
        if self._tree is not None:
            self._tree = self._tree.updated(located)
        block = self.current
        if block is None or block.commit is None or block.run is None or not located:
            return
        if any(self._seen(block, location) for location in located):
            block.stale = True
        kept = {location: value for location, value in located.items() if location not in block.commit.writes}
        block.commit.tree = block.commit.tree.updated(kept)

    # --- hooks called by the core -----------------------------------------------------------

    def request(self, identity: bytes, key: bytes, message: p.Message) -> None:
        """A BLOCK request: check it and queue the block (raises the PoolError to answer with)."""
        body, rid = message.body, message.request_id
        checked = [self._checked_call(index, raw, rid) for index, raw in enumerate(body["calls"])]
        calls = tuple(call for call, _ in checked)
        timeout = body.get("timeout", DEFAULT_BLOCK_TIMEOUT)
        if timeout > self.core.config.max_timeout:
            raise errors.BadRequest(f"timeout {timeout} exceeds the maximum {self.core.config.max_timeout}",
                                    rid)
        if len(self.pending) >= MAX_PENDING_BLOCKS:
            raise errors.Busy(f"{len(self.pending)} blocks are waiting; try again later")
        now = self.core.clock()
        holder = Job(rid, identity, Op.BLOCK, "", b"", now, now + timeout, self, key=key)
        self.core.track(holder)
        own = frozenset(c.code_id for c in calls)
        self.pending.append(Block(holder, calls, bool(body.get("dry_run", False)), body.get("state_root"),
                                  now + timeout, access=tuple(declared(c) for c in calls),
                                  contracts=own, reach=set(own),
                                  modules=tuple(module for _, module in checked)))
        self.core.count("blocks_accepted")

    def holds(self, job: Job) -> bool:
        """True when the queued call ``job`` must wait: a call (not a query) whose contract a block touches.

        The running block touches its calls' contracts and, once their callees
        ran, the contracts those called (its ``reach``, which grows as it runs).
        A waiting block that names an expected state root holds every call:
        its root must not move between acceptance and start.
        """
        if job.readonly:
            return False
        touches = job.touched or {job.space}  # a re-execution: what its losing attempt touched
        current = self.current
        if current is not None and not current.reach.isdisjoint(touches):
            return True
        return any(block.expected_root is not None or not block.reach.isdisjoint(touches)
                   for block in self.pending)

    def assign(self, worker: WorkerState) -> bool:
        """An idle worker: give it a task of the running block if there is one now and no call is overdue."""
        block = self.current
        if block is None or block.run is None:
            return False
        if self._yields(worker):
            self.core.count("block_yields")
            return False
        if not self._offer(worker, block):  # validations run inside next_chunk: they may finish the block
            self._advance(block)
            return False
        return True

    def read(self, job: Job, body: dict[str, Any]) -> m.CallbackReply:
        """A task's state read (CALLBACK ``get``): the CALLBACK_REPLY."""
        found = self._running_call(job, body)
        if isinstance(found, m.RefusedReply):
            return found
        chunk, run, contract, _ = found
        location = (body.get("space", contract), body["key"])
        self._reached(*location)
        try:
            value, version = run.chunk_read(chunk.tasks, *location)
        except TaskAborted as exc:
            return m.RefusedReply(body["seq"], f"block task aborted: {exc}")
        chunk.reads[location] = version
        return m.ReadReply(body["seq"], value)

    def scan(self, job: Job, body: dict[str, Any]) -> m.CallbackReply:
        """A task's key range page (CALLBACK ``scan``), below the chunk; noted for the call's range reads."""
        found = self._running_call(job, body)
        if isinstance(found, m.RefusedReply):
            return found
        chunk, run, contract, index = found
        contract = body.get("space", contract)
        self._reached(contract)
        try:
            entries, more, (low, high) = run.chunk_scan(
                chunk.tasks, contract, body["start"], body["end"], body["order"] == 1, body["limit"])
        except TaskAborted as exc:
            return m.RefusedReply(body["seq"], f"block task aborted: {exc}")
        except NotImplementedError as exc:
            return m.RefusedReply(body["seq"], str(exc))
        seen = {key: version for key, _, version in entries}
        chunk.scans.setdefault(index, []).append((contract, low, high, seen))
        if self.current is not None:
            self.current.scanned.setdefault(contract, set()).add((low, high))
        page = [[key, value] for key, value, _ in entries if value is not None]
        return m.ScanReply(body["seq"], page, more)

    def _running_call(self, job: Job,
                      body: dict[str, Any]) -> tuple[Chunk, BlockRun, str, int] | m.RefusedReply:
        """The chunk, block run, contract and index of the call a state CALLBACK names, or why it has none."""
        chunk, block = self.tasks.get(job), self.current
        if chunk is None or block is None or block.run is None:
            return m.RefusedReply(body["seq"], "this block task is over")
        index = body.get("index", 0)
        if index >= len(chunk.tasks):
            return m.RefusedReply(body["seq"], f"no call {index} in this chunk")
        return chunk, block.run, block.calls[chunk.tasks[index].tx_index].code_id, index

    def _reached(self, space: str, key: bytes = b"") -> None:
        """The running block touched ``space`` (a registry lookup: the namespace of the contract looked
        up, as the core counts it): from now on ordinary calls on it wait for the block."""
        if self.current is None:
            return
        if space != contracts.REGISTRY:
            self.current.reach.add(space)
        elif len(key) == p.ADDRESS_SIZE:
            self.current.reach.add(key.hex())

    def code(self, job: Job, body: dict[str, Any]) -> m.CallbackReply:
        """A task's module fetch (CALLBACK ``code``) for the call at ``index`` of its chunk, or the module
        ``code_id`` names (a contract the call called)."""
        chunk, block = self.tasks.get(job), self.current
        index = body.get("index", 0)
        if chunk is None or block is None or index >= len(chunk.tasks):
            return m.RefusedReply(body["seq"], "this block task is over")
        code_id = body.get("code_id")
        if code_id is None:
            own = block.modules[chunk.tasks[index].tx_index]
            return m.CodeReply(body["seq"], self.core.store.get_code(own))
        code = self.core.store.get_code(code_id)
        if code is None:  # a registry record names only deployed code: not expected
            return m.RefusedReply(body["seq"], f"no module deployed with code id {code_id}")
        return m.CodeReply(body["seq"], code)

    def finished(self, job: Job, result: dict[str, Any]) -> None:
        """A task's FINAL: an outcome for the run, or a loss when it says nothing about the call."""
        chunk, block = self.tasks.pop(job, None), self.current
        if chunk is None or block is None or block.run is None:
            self.core.count("block_stray_finals")
            return
        results = result.get("chunk", [])
        for position, task in enumerate(chunk.tasks):
            entry = results[position] if position < len(results) else None
            if entry is None:  # the worker stopped before this call: not executed, not a loss
                self._lose(block, task, "the chunk ended before this call", count=False)
                continue
            recorded = self._record(block, chunk, position, entry)
            if recorded is not None:
                self._lose(block, task, recorded)
                self._cut_by_time(block, task)
                results = results[:position + 1]  # later calls may have read what this one did
        stats = block.run.stats
        if stats.aborts * SERIAL_ABORT_SHARE > block.run.block_size and not block.serial:
            block.serial = True
            self.core.count("blocks_serial")
        self._advance(block)
        worker = self.core.worker(chunk.worker)
        if worker is not None and block is self.current:  # it runs the chunk after this one: send the next
            self._continue(worker, block)

    def lost(self, job: Job, why: object, started: bool = True) -> None:
        """A task lost its worker (or its deadline passed): re-issue it.

        Each call of a task that had ``started`` counts a loss (a lost chunk's
        calls then run alone, so a poison call is pinned); a task that only
        waited at the worker behind another counts none.
        """
        chunk, block = self.tasks.pop(job, None), self.current
        if chunk is None or block is None:
            return
        job.abandoned = True  # a late FINAL of this job is not wanted
        for task in chunk.tasks:
            self._lose(block, task, f"worker {why}", count=started)
        self._advance(block)

    def timed_out(self, job: Job, where: str) -> None:
        """A task past its deadline: lost, as if its worker had died."""
        self.lost(job, f"timed out {where}")

    def step(self) -> None:
        """After every event: enforce the running block's time limit, start the next block when quiet."""
        if self.current is None and not self.pending:
            return
        try:
            now = self.core.clock()
            if self.current is not None and now >= self.current.deadline:
                self._fail(self.current, errors.BlockFailed("the block did not finish within its time limit"))
            if self.current is not None and self.current.stale:
                self._restart(self.current)
            while self.current is None and self.pending and not self._writers_in_flight(self.pending[0]):
                self._start(self.pending.popleft(), now)
        except Exception as exc:  # a bug must not take the broker down, nor leave calls held
            self.core.count("internal_errors")
            if self.current is not None:
                self._fail(self.current, errors.InternalError(f"internal error in the block: {exc!r}"))

    def settle(self) -> None:
        """After the messages of an event were sent: the running block's rolling commit.

        It takes the calls that became final (:meth:`BlockRun.roll`): after
        the worker whose FINAL made them final got its next task, not before.
        """
        block = self.current
        if block is not None and block.run is not None and block.commit is not None:
            try:
                block.run.roll(block.commit)
            except Exception as exc:  # a bug must not take the broker down, nor leave calls held
                self.core.count("internal_errors")
                self._fail(block, errors.InternalError(f"internal error in the block: {exc!r}"))

    # --- inside -------------------------------------------------------------------------------

    def _checked_call(self, index: int, raw: dict[str, Any], rid: bytes) -> tuple[BlockCall, str]:
        """A block call, checked, and the code id of the module it runs.

        A call naming a contract's address keeps it as its ``code_id``: that
        is its state namespace, what the block's reads and writes are keyed
        by; the module is the code the contract runs when the block arrives.
        """
        try:
            p.check_fields(raw, p.BLOCK_CALL, rid)
        except errors.BadRequest as exc:
            raise errors.BadRequest(f"calls[{index}]: {exc.reason}", rid) from None
        call = BlockCall.from_wire(raw)
        module = call.code_id
        if contracts.is_address(call.code_id):
            contract = contracts.lookup(self.core.store, bytes.fromhex(call.code_id))
            if contract is None:
                raise errors.UnknownContract(f"calls[{index}]: no contract at address {call.code_id}")
            module = contract.code_id
        elif not self.core.has_code(call.code_id):
            raise errors.UnknownCode(f"calls[{index}]: no module deployed with code id {call.code_id}")
        if call.gas_limit > self.core.config.max_gas:
            raise errors.BadRequest(f"calls[{index}]: gas_limit {call.gas_limit} exceeds the maximum "
                                    f"{self.core.config.max_gas}", rid)
        return call, module

    def _worker_job(self, call: BlockCall, module: str) -> dict[str, Any]:
        """The job body a worker gets for ``call`` of ``module`` (:meth:`BrokerCore.job_message`).

        One entry of a chunk, with the contract's ``address`` when the call
        names one. Made when the call is sent, not kept with the block: fewer
        objects living through a block means fewer, shorter garbage collections.
        """
        body = self.core.job_message(module, call.function, list(call.args), call.input, dict(call.context),
                                     call.gas_limit, readonly=False).to_body()
        if module != call.code_id:
            body["address"] = bytes.fromhex(call.code_id)
        return body

    def _writers_in_flight(self, block: Block) -> bool:
        """True while an ordinary call runs whose commit could still land on ``block``'s state.

        A call on another contract cannot change what the block reads,
        unless the block checks an expected state root.
        """
        return any(not job.abandoned and not job.readonly and job.owner is not self
                   and (block.expected_root is not None or not block.reach.isdisjoint(job.touching()))
                   for job in self.core.jobs_held())

    def _yields(self, worker: WorkerState) -> bool:
        """True when ``worker`` goes to a call queued ``max_block_hold`` seconds or more, not the block."""
        since = self.core.clock() - self.core.config.max_block_hold
        return self.core.overdue(worker, since)

    def _start(self, block: Block, now: float) -> None:
        if now >= block.deadline:
            self._fail(block, errors.BlockFailed("the block waited past its time limit"))
        elif block.expected_root is not None and block.expected_root != self.tree.root:
            self._fail(block, errors.StateRootMismatch(
                f"the state root is {self.tree.root.hex()}, not the expected {block.expected_root.hex()}"))
        else:
            self.current = block
            self.started += 1
            block.modules = self._codes_now(block)
            block.run = BlockRun(len(block.calls), storage(self.core.store, block.versions),
                                 scanner(self.core.store, block.versions))
            block.commit = RollingCommit(self.tree)
            self._predict(block)
            self._advance(block)

    def _codes_now(self, block: Block) -> tuple[str, ...]:
        """The code each call runs as the block starts: a migrate that committed since acceptance counts.

        Contracts are never removed, and once the block is accepted no
        migrate of its contracts starts before it ends (:meth:`holds`).
        """
        now: dict[str, str] = {}  # address -> its code: one read per contract, not per call
        for call, module in zip(block.calls, block.modules, strict=True):
            if call.code_id not in now and contracts.is_address(call.code_id):
                found = contracts.lookup(self.core.store, bytes.fromhex(call.code_id))
                now[call.code_id] = module if found is None else found.code_id
        return tuple(now.get(call.code_id, module) for call, module in zip(block.calls, block.modules,
                                                                             strict=True))

    def _predict(self, block: Block) -> None:
        """Start the block serial when its declared access sets predict more aborts than serial allows."""
        workers = self.core.worker_count()
        if workers > 1 and any(block.access):
            conflicts = predicted_conflicts(block.access, self._chunk_limit(block), workers)
            if conflicts * SERIAL_ABORT_SHARE > len(block.calls):
                block.serial = True
                self.core.count("blocks_serial_predicted")

    def _chunk_limit(self, block: Block) -> int:
        """How many calls the next chunk may take: a few chunks per worker (serial: MAX_CHUNK)."""
        assert block.run is not None
        size = block.run.block_size
        if block.serial:
            return MAX_CHUNK
        workers = max(1, self.core.worker_count()) * self.core.config.block_chunks_per_worker
        return max(1, min(MAX_CHUNK, math.ceil(size / workers)))

    def _offer(self, worker: WorkerState, block: Block) -> bool:
        """Give ``worker`` the next chunk, if there is one now; True when it got one.

        A serial block runs on one worker at a time (as a chain of chunks); a
        call that was lost before runs alone, so a poison call is pinned and
        fails the block by itself.
        """
        assert block.run is not None
        if (block.serial and self.tasks) or self._yields(worker):
            return False
        tasks = block.run.next_chunk(self._chunk_limit(block), solo=block.losses)
        if not tasks:
            return False
        self._dispatch(worker, block, tasks)
        if self._continue(worker, block):
            return True
        queued = 1
        block.run.validate_ahead()
        while (block.run.reexecution_next and queued < MAX_QUEUED_TASKS and worker.free > 0
               and not block.serial):  # re-executions wait at the worker, not a round trip each
            tasks = block.run.next_chunk(self._chunk_limit(block), solo=block.losses)
            if not tasks:
                break
            self._dispatch(worker, block, tasks)
            self.core.count("block_tasks_queued")
            queued += 1
        return True

    def _continue(self, worker: WorkerState, block: Block) -> bool:
        """Send ``worker`` the chunk that continues the one it runs now; True when it got one.

        Only where one worker runs the block's calls in order -- a serial
        block, or a pool of one worker -- so the worker never waits for the
        broker between two chunks: it carries its running chunk's writes over
        (:meth:`_dispatch`). With several workers running side by side the
        next calls go to another worker instead: a chunk waiting here would
        start from older state than one sent when this worker is free.
        """
        assert block.run is not None
        tail = self.tails.get(worker.identity)
        if (not (block.serial or self.core.worker_count() == 1) or worker.free <= 0 or tail is None
                or tail[0] not in self.tasks or len(worker.jobs) != 1 or self._yields(worker)):
            return False
        tasks = block.run.continuation(tail[1].end, self._chunk_limit(block), solo=block.losses)
        if not tasks:
            return False
        self._dispatch(worker, block, tasks)
        self.core.count("block_tasks_continued")
        return True

    def _dispatch(self, worker: WorkerState, block: Block, tasks: list[Task]) -> None:
        """Send ``worker`` a chunk; it continues the worker's running chunk if that one ends just before."""
        now, config = self.core.clock(), self.core.config
        tail = self.tails.get(worker.identity)
        if tail is not None and (tail[0] not in self.tasks or tail[1].end != tasks[0].tx_index):
            tail = None
        chunk = Chunk(tasks, worker.identity, tasks if tail is None else [*tail[1].chain, *tasks])
        jobs = self._prefetched(block, chunk)
        request = p.pack(m.Job.chunk_of(jobs, None if tail is None else tail[0].job_id))
        budget = len(tasks) * config.default_timeout + config.grace
        job = Job(block.request_id, block.holder.client, Op.BLOCK, jobs[0]["code_id"], request, now,
                  now + budget, self)
        self.tasks[job] = chunk
        self.tails[worker.identity] = (job, chunk)
        self.core.count("block_tasks")
        self.core.count("block_chunk_calls", len(tasks))
        self.core.dispatch(worker, job)

    def _prefetched(self, block: Block, chunk: Chunk) -> list[dict[str, Any]]:
        """The chunk's job bodies with the reads answered ahead (``prefetched``), noted in ``chunk.reads``.

        Each call's hints -- its declared locations and, for a re-execution,
        what its previous incarnation read -- are read as a CALLBACK ``get``
        would be (:meth:`BlockRun.chunk_prefetch`: one answer for the whole
        chunk, so each location is sent once, with the first call that expects
        it) until the bytes reach the cap; a location behind an ESTIMATE is
        left to a CALLBACK, and so is one outside the call's own namespace (a
        callee's state, the registry: an entry's ``prefetched`` has keys only).
        """
        assert block.run is not None
        wanted: dict[Location, int] = {}  # location -> position of the first call expecting to read it
        for position, task in enumerate(chunk.tasks):
            own = block.calls[task.tx_index].code_id
            for location in self._hints(block, task):
                if location[0] == own:  # an answer goes by key with a call: in that call's namespace
                    wanted.setdefault(location, position)
        jobs = [self._worker_job(block.calls[task.tx_index], block.modules[task.tx_index])
                for task in chunk.tasks]
        if not wanted:
            return jobs
        pairs: list[list[list[Value]]] = [[] for _ in jobs]  # per call: [key, value] answered ahead
        room = min(MAX_PREFETCH_BYTES, self.core.config.limits.max_body // 4)
        sent = 0
        try:
            answers = block.run.chunk_prefetch(chunk.tasks, wanted)
        except TaskAborted:  # not expected for a chunk just handed out; then simply nothing is sent ahead
            return jobs
        for location, value, version in answers:
            room -= len(location[1]) + (0 if value is None else len(value))
            if room < 0:
                break
            chunk.reads[location] = version
            pairs[wanted[location]].append([location[1], value])
            sent += 1
        self.core.count("block_prefetched", sent)
        for job, ahead in zip(jobs, pairs, strict=True):
            if ahead:
                job["prefetched"] = ahead
        return jobs

    def _hints(self, block: Block, task: Task) -> Iterable[Location]:
        """The locations ``task``'s call should read: declared, and read by its previous incarnation."""
        assert block.run is not None
        declared = block.access[task.tx_index]
        if task.incarnation == 0:
            return declared
        return (*declared, *block.run.memory.read_set(task.tx_index))

    def _record(self, block: Block, chunk: Chunk, position: int, entry: dict[str, Any]) -> str | None:
        """Give the run one call's result from a chunk FINAL; a reason to re-issue the call instead."""
        assert block.run is not None
        task = chunk.tasks[position]
        try:
            p.check_fields(entry, p.CHUNK_RESULT_FIELDS)
        except errors.BadRequest as exc:
            return f"a malformed result: {exc.reason}"
        code_id = block.calls[task.tx_index].code_id
        writes = located_writes(code_id, entry) if entry["status"] == Status.OK else {}
        block.task_writes[task.tx_index, task.incarnation] = writes
        if entry["code"] in NONDETERMINISTIC:
            if entry["code"] == ErrorCode.TIMEOUT:
                block.timeouts[task.tx_index] += 1
            return str(entry.get("error") or entry["status"])
        read_set = self._read_set(block, chunk, position, code_id, entry["reads"])
        if isinstance(read_set, str):
            return read_set
        problem = nested_problem(code_id, entry.get("nested_writes", ()), read_set)
        if problem is not None:
            return problem
        ranges = self._ranges(block, chunk, position)
        if ranges is None:
            return "a range read over writes of the chain the broker does not know"
        for space, _ in writes:
            self._reached(space)
        if not block.run.finish_reads(task, outcome(code_id, entry), read_set, ranges):
            self.core.count("block_refused")
        return None

    def _read_set(self, block: Block, chunk: Chunk, position: int, code_id: str,
                  reads: list[list[Any]]) -> dict[Location, ReadVersion] | str:
        """The read set of the call at ``position`` from its result's ``reads``; else what is wrong.

        Each read is ``[key, writer]`` in the call's own namespace ``code_id``,
        or ``[key, writer, space]`` in another one (a contract it called, the
        registry). Writer -1 is the broker's answer to the chunk (its version
        was noted when served); else the chain position of an earlier call
        whose write (its own or one of its callees') the worker read: that
        call's version, provided it did write the location.
        """
        read_set: dict[Location, ReadVersion] = {}
        before = chunk.base + position
        for read in reads:
            location = (read[2] if len(read) > 2 else code_id, read[0])
            writer = read[1]
            if writer < 0:
                if location not in chunk.reads:
                    return "a read the broker did not serve"
                read_set.setdefault(location, chunk.reads[location])
                continue
            written = chunk.chain[writer] if writer < before else None
            if written is None or location not in block.task_writes.get(
                    (written.tx_index, written.incarnation), {}):
                return f"a read of call {writer}'s writes in the chain"
            read_set.setdefault(location, Version(written.tx_index, written.incarnation))
        return read_set

    def _ranges(self, block: Block, chunk: Chunk, position: int) -> tuple[RangeRead, ...] | None:
        """The range reads of the call at ``position``: each page served to it (in whichever namespace),
        under the writes of the calls before it in its chain in that namespace (as its worker merged
        them), with the version of each entry."""
        pages = chunk.scans.get(position)
        if not pages:
            return ()
        writers: list[tuple[Version, dict[Location, Value]]] = []
        for earlier in chunk.chain[:chunk.base + position]:
            writes = block.task_writes.get((earlier.tx_index, earlier.incarnation))
            if writes is None:
                return None
            if writes:
                writers.append((Version(earlier.tx_index, earlier.incarnation), writes))
        ranges = []
        for contract, low, high, seen in pages:
            entries: dict[bytes, ReadVersion] = dict(seen)
            for version, writes in writers:
                for (space, key), value in writes.items():
                    if space == contract and low <= key and (not high or key < high):
                        if value is None:
                            entries.pop(key, None)
                        else:
                            entries[key] = version
            ranges.append(RangeRead(contract, low, high, tuple(sorted(entries.items()))))
        return tuple(ranges)

    def _cut_by_time(self, block: Block, task: Task) -> None:
        """Fail the block once a call was cut by its time limit ``block_call_timeouts`` times.

        A block's outcome cannot depend on time, so a call cut by its time
        limit is executed again (the worker may just have been slow). A
        call cut again and again is looping: the block fails then, instead
        of re-running it until the block's own deadline while the calls on
        its contracts wait.
        """
        cuts = block.timeouts[task.tx_index]
        if block is self.current and cuts >= self.core.config.block_call_timeouts:
            self.core.count("blocks_cut_by_time")
            self._fail(block, errors.BlockFailed(
                f"call {task.tx_index} reached its time limit on {cuts} executions; a block's outcome cannot "
                "depend on time (give the call less work, or the broker a longer --timeout)"))

    def _lose(self, block: Block, task: Task, why: str, count: bool = True) -> None:
        """A non-deterministic ending: re-issue the call, or fail the block past the cap."""
        if block is not self.current or block.run is None or not block.run.task_lost(task):
            return
        if not count:
            return
        block.losses[task.tx_index] += 1
        self.core.count("block_tasks_lost")
        if block.losses[task.tx_index] >= self.core.config.max_attempts:
            self._fail(block, errors.BlockFailed(
                f"call {task.tx_index} could not be executed: {block.losses[task.tx_index]} executions "
                f"ended without a result (last: {why})"))

    def _advance(self, block: Block) -> None:
        """After a change: finish the block when done, else offer tasks to every idle worker."""
        if block is not self.current or block.run is None:
            return
        for worker in self.core.idle_workers():
            if not self._offer(worker, block):
                break
        if block.run.done:  # the last validations run inside next_task
            self._complete(block)

    def _complete(self, block: Block) -> None:
        assert block.run is not None and block.commit is not None
        if block.stale:  # it read a location an ordinary commit has changed since
            self._restart(block)
            return
        result = block.run.roll(block.commit).result(block.dry_run)
        after, writes = block.commit.tree, block.commit.writes
        wire = result.to_wire()
        receipt = p.pack(wire)  # the reply, kept by the store: a retry after a restart gets it, not a re-run
        if not block.dry_run and writes:
            reads = {location: block.versions[location] for location in block.run.memory.base_reads}
            try:
                self.core.store.commit_many_with_receipt(reads, writes, block.holder.key, receipt,
                                                         self.core.config.result_ttl)
            except StaleRead as exc:  # only a commit from outside the broker can cause this
                self._fail(block, errors.Conflict(f"state changed under the block: {exc}"))
                return
            except STORAGE_ERRORS as exc:  # disk full, I/O error: answered, and the id left free for a retry
                self._fail(block, self.core.storage_error(exc, block.request_id, "block commit"),
                           remember=False)
                return
        if not block.dry_run:
            self._tree = after
        stats = block.run.stats
        count = self.core.count
        count("blocks_done")
        count("block_calls", block.run.block_size)
        count("block_aborts", stats.aborts)
        count("block_suspensions", stats.suspensions)
        self._end(block)
        # a block that wrote nothing (and is no dry run) keeps its reply as a receipt all the same
        holder = block.holder
        self.core.reply(holder.client, holder.key, holder.request_id, wire,
                        record=not block.dry_run and not writes)

    def _fail(self, block: Block, exc: errors.PoolError, remember: bool = True) -> None:
        """End a block without committing anything, answering an ERROR (remembered unless told not to)."""
        if block in self.pending:
            self.pending.remove(block)
        self.core.count("blocks_failed")
        self._end(block)
        holder = block.holder
        self.core.fail(holder.client, holder.key, holder.request_id, exc, remember=remember)

    @staticmethod
    def _seen(block: Block, location: Location) -> bool:
        """True when the block has read ``location`` from committed state, or paged a range holding it."""
        assert block.run is not None
        space, key = location
        return location in block.run.memory.base_reads or any(
            low <= key and (not high or key < high) for low, high in block.scanned.get(space, ()))

    def _restart(self, block: Block) -> None:
        """Start a block again from the current state: an ordinary commit changed state it had read.

        That commit came from a call on a contract outside the block's reach
        that called into it; from now on the block holds calls on its whole
        reach (what its first run touched) from the start. After
        ``max_attempts`` runs the block fails (Conflict; nothing committed).
        """
        if block.restarts + 1 >= self.core.config.max_attempts:
            self._fail(block, errors.Conflict(
                f"state the block read kept changing under it ({block.restarts + 1} runs): calls on other "
                "contracts called into its contracts; nothing was committed"))
            return
        self.core.count("blocks_restarted")
        for job in self.tasks:
            job.abandoned = True
        self.tasks.clear()
        self.tails.clear()
        self.current = None
        self.pending.appendleft(Block(block.holder, block.calls, block.dry_run, block.expected_root,
                                      block.deadline, access=block.access, contracts=block.contracts,
                                      reach=set(block.reach), modules=block.modules,
                                      restarts=block.restarts + 1))

    def _end(self, block: Block) -> None:
        """Forget a block: its still-running tasks become late, and held calls may run again."""
        self.core.untrack(block.holder)
        if block is self.current:
            for job in self.tasks:
                job.abandoned = True
            self.tasks.clear()
            self.tails.clear()
            self.current = None
        if not self.pending:
            self.core.dispatch_queued()


def attach_blocks(core: BrokerCore) -> BlockCoordinator:
    """Run blocks on ``core``: a coordinator attached as its extension, serving op ``block``."""
    blocks = BlockCoordinator(core)
    core.attach(blocks, {Op.BLOCK: blocks.request})
    return blocks


def storage(store: StateStore, versions: dict[Location, int]) -> Storage:
    """Committed state for a run (read once per location), each version noted in ``versions`` for the commit.

    A closure over the store and the versions only, not the block: a block
    that referred to itself through its run's storage would be a reference
    cycle, left to the cyclic garbage collector (a pause of tens of
    milliseconds at the start of a later block) instead of freed at once.
    """
    def read(contract: str, key: bytes) -> Value:
        value, version = store.get(contract, key)
        versions[contract, key] = version
        return value

    return read


def scanner(store: StateStore, versions: dict[Location, int]) -> BaseScanner:
    """Committed state for a run's range reads, in key order; each version noted, as :func:`storage` does."""
    def scan(contract: str, start: bytes, end: bytes, descending: bool,
             limit: int) -> list[tuple[bytes, bytes]]:
        found = store.scan(contract, start, end, descending, limit)
        for entry in found:
            versions.setdefault((contract, entry.key), entry.version)
        return [(entry.key, entry.value) for entry in found]

    return scan


def declared(call: BlockCall) -> tuple[Location, ...]:
    """A call's declared access set as locations of its contract, each once, in order."""
    return tuple(dict.fromkeys((call.code_id, key) for key in call.access))


def predicted_conflicts(access: Sequence[Sequence[Location]], chunk_size: int, workers: int) -> int:
    """How many calls declared a location that an earlier call of a chunk running alongside declared.

    The block is cut into chunks of ``chunk_size`` calls; with ``workers``
    workers, chunk ``c`` runs alongside chunks ``c-workers+1 .. c-1`` (the
    order they are handed out in). A call counts once, however many of its
    locations overlap; an overlap inside its own chunk is no conflict (the
    worker passes writes along), nor is a call without declared access.
    """
    never = -workers  # a chunk index no chunk runs alongside
    last: dict[Location, int] = {}  # location -> the latest chunk that declared it
    earlier: dict[Location, int] = {}  # location -> the latest chunk before that one that declared it
    conflicts = 0
    for index, locations in enumerate(access):
        current = index // chunk_size
        hit = False
        for location in locations:
            seen = last.get(location, never)
            if seen == current:
                seen = earlier.get(location, never)
            else:
                earlier[location], last[location] = seen, current
            hit = hit or current - workers < seen
        conflicts += hit
    return conflicts


def nested_problem(code_id: str, nested: Sequence[Sequence[Any]],
                   read_set: Mapping[Location, ReadVersion]) -> str | None:
    """Why a result's nested writes cannot be recorded, or None (the core's rule for ordinary calls).

    A worker writes only where the call went: the namespace of a contract
    the call looked up in the registry (``call_contract`` finds its callee
    so), never the call's own, and never from a legacy call (it calls no one).
    """
    if not nested:
        return None
    if len(nested) > MAX_NESTED_WRITES:
        return f"{len(nested)} nested writes, more than {MAX_NESTED_WRITES}"
    for space, _, _ in nested:
        if not contracts.is_address(code_id) or space == code_id:
            return f"a nested write into {space}, the call's own namespace or a legacy call's"
        if (contracts.REGISTRY, bytes.fromhex(space)) not in read_set:
            return f"a nested write into {space}, a contract the call never looked up"
    return None


def located_writes(code_id: str, result: dict[str, Any]) -> dict[Location, Value]:
    """A result's writes by location: its own (in namespace ``code_id``), then those its callees made in
    their namespaces (``nested_writes``, ``[address hex, key, value]``)."""
    writes: dict[Location, Value] = {(code_id, key): value for key, value in result.get("writes", {}).items()}
    for space, key, value in result.get("nested_writes", ()):
        writes[space, key] = value
    return writes


def outcome(code_id: str, result: dict[str, Any]) -> Outcome:
    """The Outcome of one execution from its worker FINAL body (writes keyed by location: its own under
    ``code_id``, its callees' under their addresses)."""
    return Outcome(status=Status(result["status"]), output=bytes(result.get("output", b"")),
                   gas_used=int(result.get("gas_used", 0)), logs=tuple(result.get("logs", ())),
                   writes=located_writes(code_id, result),
                   results=tuple(result.get("results", ())), error=result.get("error"),
                   versions=result.get("versions") or {}, events=events_of(result.get("events", ())))
