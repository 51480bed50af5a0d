"""Running a block: :class:`BlockRun`, the Block-STM coordinator the broker drives.

Theory of operation
-------------------
:class:`BlockRun` is Block-STM (Gelashvili et al., 2022) arranged for a
broker that owns all state and workers that only execute: it joins the
multi-version memory (:mod:`wasmpool.broker.blocks.mvmemory`) and the collaborative
scheduler (:mod:`wasmpool.broker.blocks.scheduler`) behind four events.

- :meth:`BlockRun.next_task` -- a worker is idle: the next *execution* task
  ``(tx_index, incarnation)``, or None for now. Validation tasks never leave
  the coordinator: validating is a few dictionary lookups in the memory the
  coordinator holds, so it is done on the spot, and an abort it causes may
  yield a re-execution, queued for the next idle worker.
- :meth:`BlockRun.read` -- the running execution reads ``(contract, key)``:
  the value the highest lower transaction wrote, else committed storage; the
  read is recorded in the task's read set (one version per key: a second
  read of a key returns the first answer). A read that meets an ESTIMATE
  of a lower transaction still being re-executed suspends the task: it
  raises :class:`TaskAborted`, the worker abandons the call, and the
  transaction is re-issued when the blocking one finishes.
- :meth:`BlockRun.finish` -- the execution's outcome: recorded (its writes
  only when ``ok``; reads always, since a failed call's status depends on
  what it read too), then validated as Block-STM prescribes. A result of an
  incarnation that is no longer live (suspended, lost, superseded) is
  refused.
- :meth:`BlockRun.task_lost` -- the worker died: the task is re-issued as a
  new incarnation.

The block is :attr:`BlockRun.done` when every transaction has been executed
and validated in order; :meth:`BlockRun.outcomes` and :meth:`BlockRun.writes`
are then exactly those of executing the transactions one after another,
provided an execution is a deterministic function of its transaction and
the values it reads -- whatever the number of workers, their speed, or
lost tasks. The read set validation guarantees it: every final outcome was
computed from the values serial execution would have shown it.

Wiring into a broker
--------------------
One :class:`BlockRun` per block, ``storage(contract, key)`` reading
committed state (the memory calls it once per location; record the store
versions there if other commits may happen during the block):

- a worker is idle (READY, FINAL) -> ``task = run.next_task()``; a task is a
  job running ``calls[task.tx_index]``, its job id naming (block, task);
- that job's CALLBACK ``get`` -> ``run.read(task, code_id, key)``; on
  :class:`TaskAborted` answer an error: the call ends, its FINAL is refused
  (a chunk's reads: ``run.chunk_read``, or ``run.chunk_prefetch`` to answer
  likely reads before the chunk is sent, without ever suspending it);
- its FINAL -> ``run.finish(task, outcome)``, writes keyed (code_id, key);
  results that are not a function of the reads (timeouts, infrastructure
  errors) are better reported as ``run.task_lost(task)``;
- its worker is lost -> ``run.task_lost(task)``;
- after a FINAL or a loss, offer ``next_task()`` to every idle worker until
  it returns None; when :attr:`BlockRun.done`, ``run.result(tree)`` gives
  the BlockResult and the state tree after it: commit ``result.writes``
  atomically (or not, for a dry run).

The tests' serial reference and in-process driver with simulated workers
(``run_serial``, ``run_block``) drive the same :class:`BlockRun` from
``tests/pool/blocksim.py``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass

from wasmpool.broker.blocks import mvmemory as mv
from wasmpool.broker.blocks.commit import RollingCommit
from wasmpool.broker.blocks.mvmemory import Location, MVMemory, ReadKind, ReadVersion, Storage, Value, Version
from wasmpool.broker.blocks.ranges import BaseScanner, RangeRead
from wasmpool.broker.blocks.scheduler import Scheduler, Task, TaskKind, TxStatus
from wasmpool.broker.blocks.state_root import StateTree
from wasmpool.wire.receipts import BlockResult, Outcome


class TaskAborted(Exception):
    """The task is no longer live (suspended on a dependency, lost or superseded): abandon the execution."""


@dataclass(slots=True)
class BlockStats:
    """What a block run did: how much of Block-STM's machinery it needed."""

    executions: int = 0  # execution tasks handed out
    validations: int = 0
    aborts: int = 0  # failed validations
    suspensions: int = 0  # executions stopped at an ESTIMATE
    lost: int = 0  # executions re-issued after their worker was lost
    refused: int = 0  # results of incarnations no longer live
    reads: int = 0


class _Read:
    """One recorded read: the version seen and the value returned."""

    __slots__ = ("value", "version")

    def __init__(self, version: ReadVersion, value: Value) -> None:
        self.version = version
        self.value = value


class BlockRun:
    """The Block-STM coordinator of one block of ``block_size`` calls over committed ``storage``."""

    def __init__(self, block_size: int, storage: Storage, scanner: BaseScanner | None = None) -> None:
        self.block_size = block_size
        self.scheduler = Scheduler(block_size)
        self.memory = MVMemory(block_size, storage, scanner)
        self.stats = BlockStats()
        self._outcomes: list[Outcome | None] = [None] * block_size
        self._reads: dict[int, dict[Location, _Read]] = {}  # live execution's reads, by tx index
        self._ready: deque[Task] = deque()  # re-executions produced by validations
        self._final = 0  # calls below this index are final (see advance_final)

    def validate_ahead(self) -> None:
        """Run every validation due now, queuing the re-executions they call for.

        :meth:`next_task` validates only until it meets an execution task, so
        calls aborted further on are found one offer at a time; validations
        are cheap and local, and running them early is what Block-STM's
        scheduler does anyway (any worker may take a validation task first).
        """
        scheduler = self.scheduler
        while scheduler.validation_idx < min(scheduler.execution_idx, self.block_size):
            task = scheduler.next_task()
            follow = None if task is None else self._validate(task)
            if follow is not None:
                self._ready.append(self._issue(follow))

    @property
    def reexecution_next(self) -> bool:
        """True when :meth:`next_task` would hand out a re-execution now (no validation comes first)."""
        if self._ready:
            return True
        scheduler = self.scheduler
        tx_index = scheduler.execution_idx
        if tx_index >= self.block_size or scheduler.validation_idx < tx_index:
            return False
        status, incarnation = scheduler.status(tx_index)
        return status is TxStatus.READY_TO_EXECUTE and incarnation > 0

    @property
    def done(self) -> bool:
        """Every call executed and validated: the outcomes and write set are final."""
        return not self._ready and self.scheduler.done

    # --- the four events -------------------------------------------------------

    def next_task(self) -> Task | None:
        """An execution task for an idle worker, or None when none is available now.

        None is not the end: after any later :meth:`finish` or :meth:`task_lost`,
        offer tasks to idle workers again until None.
        """
        if self._ready:
            return self._ready.popleft()
        scheduler = self.scheduler
        while not scheduler.exhausted:
            task = scheduler.next_task()
            if task is not None and task.kind is TaskKind.VALIDATION:
                task = self._validate(task)
            if task is not None:
                return self._issue(task)
        return None

    def next_chunk(self, limit: int, solo: Container[int] = ()) -> list[Task]:
        """Execution tasks of up to ``limit`` consecutive calls for one worker, or [] for now.

        The first task is :meth:`next_task`'s. The chunk then takes the next
        call while it is ready to execute, or queued for re-execution, or
        executed but no longer valid (its validation is run here, and an
        abort makes it part of the chunk): so a chunk whose first call was
        aborted re-executes the run of calls that read its writes in one task.
        It stops at the first call that is none of these (still valid, running,
        suspended) -- whatever the chunk holds, every call in it is an
        ordinary live execution task, recorded one by one with
        :meth:`finish_reads`. A transaction in ``solo`` is never part of a
        longer chunk (the coordinator keeps calls that lost workers alone).
        """
        first = self.next_task()
        return [] if first is None else self._extend([first], limit, solo)

    def continuation(self, start: int, limit: int, solo: Container[int] = ()) -> list[Task]:
        """A chunk from call ``start`` on, when the next execution task would start there anyway; else [].

        For a worker that will run it right after its chunk ending at
        ``start`` and carry that chunk's writes over (see :meth:`next_chunk`
        for how a chunk grows): due validations run first
        (:meth:`validate_ahead`), and a waiting re-execution or a lower
        call ready to execute goes first, to any worker, as usual.
        """
        self.validate_ahead()
        if self._ready or self.scheduler.execution_idx != start or start in solo:
            return []
        first = self._claim(start)
        return [] if first is None else self._extend([first], limit, solo)

    def _extend(self, chunk: list[Task], limit: int, solo: Container[int]) -> list[Task]:
        """Grow a chunk with the calls after it while they are due (none past a call in ``solo``)."""
        first = chunk[0]
        while len(chunk) < limit and first.tx_index not in solo and chunk[-1].tx_index + 1 not in solo:
            task = self._claim(chunk[-1].tx_index + 1)
            if task is None:
                break
            chunk.append(task)
        return chunk

    def chunk_read(self, chunk: Sequence[Task], contract: str, key: bytes) -> tuple[Value, ReadVersion]:
        """What every call of a consecutive chunk reads at a location no earlier call of the chunk wrote.

        For calls ``a .. b-1`` run one after another, a location the chunk's own
        calls did not write reads, for each of them, the write of the highest
        transaction below ``a`` (or the base): the answer for the first call is
        the answer for all, with its version. Meeting an ESTIMATE suspends the
        whole chunk on the blocking transaction and raises TaskAborted.
        """
        if not chunk or not all(self._is_live(task) for task in chunk):
            raise TaskAborted("this chunk is no longer live")
        self.stats.reads += 1
        result = self.memory.read((contract, key), chunk[0].tx_index)
        if result.kind is ReadKind.ESTIMATE:
            self._suspend_chunk(chunk, result.blocking)
        return result.value, result.version

    def chunk_scan(self, chunk: Sequence[Task], contract: str, start: bytes, end: bytes, descending: bool,
                   limit: int) -> tuple[list[tuple[bytes, Value, ReadVersion]], bool, tuple[bytes, bytes]]:
        """:meth:`chunk_read` of a key range: a page of entries below the chunk, whether more follow, and
        the part of the range it covers (record it with the call's result: :class:`RangeRead`).

        An ESTIMATE in the way suspends the whole chunk and raises TaskAborted.
        """
        if not chunk or not all(self._is_live(task) for task in chunk):
            raise TaskAborted("this chunk is no longer live")
        self.stats.reads += 1
        entries, more, span, blocking = self.memory.page(contract, start, end, descending, limit,
                                                         chunk[0].tx_index)
        if blocking != mv.NO_TX:
            self._suspend_chunk(chunk, blocking)
        return entries, more, span

    def _suspend_chunk(self, chunk: Sequence[Task], blocking: int) -> None:
        """Every call of the chunk waits for ``blocking`` (an ESTIMATE met): raises TaskAborted."""
        for task in chunk:
            suspended = self.scheduler.add_dependency(task.tx_index, blocking)
            assert suspended, "an ESTIMATE of an executed transaction"
            del self._reads[task.tx_index]
        self.stats.suspensions += 1
        raise TaskAborted(f"transactions from {chunk[0].tx_index} wait for transaction {blocking}")

    def chunk_prefetch(self, chunk: Sequence[Task],
                       locations: Iterable[Location]) -> Iterator[tuple[Location, Value, ReadVersion]]:
        """:meth:`chunk_read` of ``locations`` ahead of execution, for a chunk about to be sent.

        Yields (location, value, version) for each location that has an answer
        now; a location behind an ESTIMATE is skipped, not suspended on (the
        chunk stays live: a call that does read it asks with :meth:`chunk_read`
        and waits then). Lazy: stop iterating to read no further. Raises
        TaskAborted at once when the chunk is not live.
        """
        if not chunk or not all(self._is_live(task) for task in chunk):
            raise TaskAborted("this chunk is no longer live")
        return self._prefetch(chunk[0].tx_index, locations)

    def _prefetch(self, below: int,
                  locations: Iterable[Location]) -> Iterator[tuple[Location, Value, ReadVersion]]:
        read = self.memory.read
        for location in locations:
            result = read(location, below)
            if result.kind is not ReadKind.ESTIMATE:
                self.stats.reads += 1
                yield location, result.value, result.version

    def read(self, task: Task, contract: str, key: bytes) -> Value:
        """What ``task``'s execution reads at (contract, key); raises TaskAborted (see the module doc)."""
        reads = self._live_reads(task)
        location = (contract, key)
        seen = reads.get(location)
        if seen is not None:
            return seen.value
        self.stats.reads += 1
        result = self.memory.read(location, task.tx_index)
        if result.kind is ReadKind.ESTIMATE:
            suspended = self.scheduler.add_dependency(task.tx_index, result.blocking)
            # One thread: an ESTIMATE's writer is never EXECUTED (recording replaces the marker).
            assert suspended, "an ESTIMATE of an executed transaction"
            del self._reads[task.tx_index]
            self.stats.suspensions += 1
            raise TaskAborted(f"transaction {task.tx_index} waits for transaction {result.blocking}")
        reads[location] = _Read(result.version, result.value)
        return result.value

    def finish(self, task: Task, outcome: Outcome) -> bool:
        """Record an execution's outcome and validate; False (nothing done) when the task is not live."""
        if not self._is_live(task):
            self.stats.refused += 1
            return False
        reads = self._reads[task.tx_index]
        return self.finish_reads(task, outcome, {location: read.version for location, read in reads.items()})

    def finish_reads(self, task: Task, outcome: Outcome, read_set: dict[Location, ReadVersion],
                     ranges: tuple[RangeRead, ...] = ()) -> bool:
        """Like :meth:`finish`, with the read set given: the versions the execution's reads resolved to.

        For a chunk's call: a read of an earlier call's write in the chunk has
        that call's version (record the chunk in order), any other read the
        version :meth:`chunk_read` returned.
        """
        if not self._is_live(task):
            self.stats.refused += 1
            return False
        tx_index = task.tx_index
        del self._reads[tx_index]
        wrote_new = self.memory.record(Version(tx_index, task.incarnation), read_set,
                                       outcome.effective_writes(), ranges)
        self._outcomes[tx_index] = outcome
        follow = self.scheduler.finish_execution(tx_index, task.incarnation, wrote_new)
        if follow is not None:
            follow = self._validate(follow)
        if follow is not None:
            self._ready.append(self._issue(follow))
        return True

    def task_lost(self, task: Task) -> bool:
        """The worker running ``task`` is gone: re-issue the call. False when it was not live anyway."""
        if not self._is_live(task):
            return False
        del self._reads[task.tx_index]
        self.scheduler.task_lost(task)
        self.stats.lost += 1
        return True

    # --- results ------------------------------------------------------------------

    @property
    def final(self) -> int:
        """How many leading calls are final: their outcomes can no longer change."""
        return self._final

    def advance_final(self) -> int:
        """Extend the final prefix as far as it goes now, and return its length.

        Call ``i`` becomes final when every call below it is final, its last
        incarnation is EXECUTED, and its read set still validates: its reads
        then resolve only to final writes (or the base), which no later event
        can change, so no validation will ever abort it and its outcome and
        writes are those of serial execution. (Aborts come only from failed
        validations; a lost task is never an EXECUTED one.) This lets the
        caller build receipts and fold writes into the state tree while later
        calls still run -- a rolling commit -- instead of after the last one.
        """
        scheduler, memory, final = self.scheduler, self.memory, self._final
        while final < self.block_size:
            status, _ = scheduler.status(final)
            if status is not TxStatus.EXECUTED or not memory.validate_read_set(final):
                break
            final += 1
        self._final = final
        return final

    def outcome(self, tx_index: int) -> Outcome:
        """The outcome of a final call (``tx_index`` below :attr:`final`)."""
        outcome = self._outcomes[tx_index]
        if tx_index >= self._final or outcome is None:
            raise RuntimeError(f"call {tx_index} is not final")
        return outcome

    def outcomes(self) -> list[Outcome]:
        """The final outcome of every call, in block order (only once :attr:`done`)."""
        self._check_done()
        return [outcome for outcome in self._outcomes if outcome is not None]

    def writes(self) -> dict[Location, Value]:
        """The block's combined write set (only once :attr:`done`)."""
        self._check_done()
        return self.memory.snapshot()

    def result(self, tree: StateTree, dry_run: bool = False) -> tuple[BlockResult, StateTree]:
        """The BlockResult, with the state root of ``tree`` after the writes, and that new tree."""
        commit = self.roll(RollingCommit(tree))
        self._check_done()
        return commit.result(dry_run), commit.tree

    def roll(self, commit: RollingCommit) -> RollingCommit:
        """Give ``commit`` the outcomes that became final since it last took some (and fold a full batch)."""
        for tx_index in range(len(commit), self.advance_final()):
            commit.add(self.outcome(tx_index))
        commit.fold()
        return commit

    # --- inside ---------------------------------------------------------------------

    def _check_done(self) -> None:
        if not self.done:
            raise RuntimeError("the block is not finished")

    def _is_live(self, task: Task) -> bool:
        return (task.kind is TaskKind.EXECUTION and 0 <= task.tx_index < self.block_size
                and self.scheduler.is_executing(task.tx_index, task.incarnation)
                and task not in self._ready)

    def _live_reads(self, task: Task) -> dict[Location, _Read]:
        if not self._is_live(task):
            raise TaskAborted(f"transaction {task.tx_index} incarnation {task.incarnation} is not live")
        return self._reads[task.tx_index]

    def _issue(self, task: Task) -> Task:
        """Hand out an execution task: a fresh read set for it."""
        self._reads[task.tx_index] = {}
        self.stats.executions += 1
        return task

    def _claim(self, tx_index: int) -> Task | None:
        """The execution task of ``tx_index`` for a chunk, if it is due (see :meth:`next_chunk`)."""
        for queued in self._ready:
            if queued.tx_index == tx_index:
                self._ready.remove(queued)
                return queued
        task = self.scheduler.claim_execution(tx_index)
        if task is None:
            check = self.scheduler.claim_validation(tx_index)
            task = None if check is None else self._validate(check)
            if task is None:  # still valid, or made ready with execution_idx below it
                task = self.scheduler.claim_execution(tx_index)
        return None if task is None else self._issue(task)

    def _validate(self, task: Task) -> Task | None:
        """Run a validation task here and now; returns the re-execution it calls for, if due now."""
        self.stats.validations += 1
        valid = self.memory.validate_read_set(task.tx_index)
        aborted = not valid and self.scheduler.try_validation_abort(task.tx_index, task.incarnation)
        if aborted:
            self.stats.aborts += 1
            self.memory.convert_writes_to_estimates(task.tx_index)
        return self.scheduler.finish_validation(task.tx_index, aborted)
