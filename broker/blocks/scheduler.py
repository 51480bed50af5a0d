"""Block-STM's collaborative scheduler, as a plain event-driven object.

Theory of operation
-------------------
Block-STM (Gelashvili et al., 2022) keeps two shared indices over the block
``0 .. n-1`` instead of a task queue:

- ``execution_idx``: the lowest transaction that may still need an
  execution; handing out an execution task moves it up by one.
- ``validation_idx``: the lowest transaction that may still need a
  validation of its last execution; likewise.

:meth:`Scheduler.next_task` prefers validation while ``validation_idx`` is
behind ``execution_idx`` (validations are cheap and catch conflicts early),
else hands out an execution. Each transaction has an *incarnation* number
(how many times it was (re)scheduled) and a status:

``READY_TO_EXECUTE -> EXECUTING -> EXECUTED`` and, on an abort,
``EXECUTED -> ABORTING -> READY_TO_EXECUTE`` with the incarnation number + 1.

Events:

- **finish_execution**: the transaction is EXECUTED; transactions that were
  suspended waiting for it are made ready again (``execution_idx`` comes
  back down to the lowest of them). If validation had already passed this
  index, it must be validated now: when the new incarnation wrote a
  location the previous one did not, every higher transaction must be
  revalidated too (``validation_idx`` comes down to it); else only the
  transaction itself is validated, returned as the follow-up task.
- **add_dependency**: an execution read an ESTIMATE of a lower transaction
  that has not finished its re-execution; the execution is abandoned and
  the transaction waits on that one (status ABORTING until resumed).
- **try_validation_abort / finish_validation**: a failed validation aborts
  the incarnation (only once per incarnation); the transaction is made
  ready with the next incarnation, every higher transaction must be
  revalidated, and the re-execution is returned as the follow-up task when
  ``execution_idx`` is already past it.
- **task_lost** (not in the paper; our workers are processes that can die):
  an execution whose worker vanished is made ready with the next
  incarnation and ``execution_idx`` comes back down to it, so the next
  worker asking gets it; a late result of the lost incarnation no longer
  matches and is refused (:meth:`Scheduler.is_executing`).

``active`` counts handed-out tasks not yet finished; the block is done when
both indices have passed the end and no task is active. The object is
single-threaded and driven by events: no threads, clocks or sockets.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple


class TxStatus(IntEnum):
    """Where a transaction's current incarnation is in its life."""

    READY_TO_EXECUTE = 0
    EXECUTING = 1
    EXECUTED = 2
    ABORTING = 3


class TaskKind(IntEnum):
    """The two kinds of Block-STM task."""

    EXECUTION = 0
    VALIDATION = 1


class Task(NamedTuple):
    """Execute, or validate the last execution of, one incarnation of one transaction."""

    kind: TaskKind
    tx_index: int
    incarnation: int


class SchedulerError(RuntimeError):
    """An event that does not fit the transaction's state (a bug in the caller)."""


class Scheduler:
    """Execution/validation indices, statuses, incarnations and dependencies of one block."""

    def __init__(self, block_size: int) -> None:
        self.block_size = block_size
        self.execution_idx = 0
        self.validation_idx = 0
        self.active = 0
        self.decreases = 0  # how many times an index came back down (statistics)
        self._status = [TxStatus.READY_TO_EXECUTE] * block_size
        self._incarnation = [0] * block_size
        self._dependents: list[set[int]] = [set() for _ in range(block_size)]

    # --- queries ---------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Every transaction executed and validated, and no task outstanding."""
        return self.exhausted and self.active == 0

    @property
    def exhausted(self) -> bool:
        """Both indices are past the end: no task can be handed out until an event lowers one."""
        return self.execution_idx >= self.block_size and self.validation_idx >= self.block_size

    def status(self, tx_index: int) -> tuple[TxStatus, int]:
        """The transaction's status and current incarnation number."""
        return self._status[tx_index], self._incarnation[tx_index]

    def is_executing(self, tx_index: int, incarnation: int) -> bool:
        """True when this incarnation's execution is the live one (its result is wanted)."""
        return (self._status[tx_index] is TxStatus.EXECUTING
                and self._incarnation[tx_index] == incarnation)

    # --- task handout ------------------------------------------------------------------

    def next_task(self) -> Task | None:
        """One probe of the indices: a task, or None (which need not mean nothing is left)."""
        if self.validation_idx < self.execution_idx:
            return self._next_validation()
        return self._next_execution()

    def _next_validation(self) -> Task | None:
        if self.validation_idx >= self.block_size:
            return None
        tx_index = self.validation_idx
        self.validation_idx += 1
        if self._status[tx_index] is not TxStatus.EXECUTED:
            return None
        self.active += 1
        return Task(TaskKind.VALIDATION, tx_index, self._incarnation[tx_index])

    def _next_execution(self) -> Task | None:
        if self.execution_idx >= self.block_size:
            return None
        tx_index = self.execution_idx
        self.execution_idx += 1
        if self._status[tx_index] is not TxStatus.READY_TO_EXECUTE:
            return None
        self.active += 1
        return self._incarnate(tx_index)

    def claim_execution(self, tx_index: int) -> Task | None:
        """Hand out the execution of ``tx_index`` out of turn when it is ready (a chunk's next call).

        ``execution_idx`` moves past it when it pointed there; when it points
        lower, its probe will find the transaction EXECUTING and skip it, as
        it skips any transaction that is not ready.
        """
        if not 0 <= tx_index < self.block_size or self._status[tx_index] is not TxStatus.READY_TO_EXECUTE:
            return None
        if self.execution_idx == tx_index:
            self.execution_idx += 1
        self.active += 1
        return self._incarnate(tx_index)

    def claim_validation(self, tx_index: int) -> Task | None:
        """A validation of ``tx_index``'s last execution out of turn, when it is EXECUTED.

        An extra validation is always safe (``validation_idx`` is untouched: the
        transaction is validated again in turn); it lets a chunk re-execute a
        run of calls its first call's abort invalidated, in one task.
        """
        if not 0 <= tx_index < self.block_size or self._status[tx_index] is not TxStatus.EXECUTED:
            return None
        self.active += 1
        return Task(TaskKind.VALIDATION, tx_index, self._incarnation[tx_index])

    def _incarnate(self, tx_index: int) -> Task:
        """READY_TO_EXECUTE -> EXECUTING: the execution task of the current incarnation."""
        self._status[tx_index] = TxStatus.EXECUTING
        return Task(TaskKind.EXECUTION, tx_index, self._incarnation[tx_index])

    # --- events ----------------------------------------------------------------------------

    def add_dependency(self, tx_index: int, blocking: int) -> bool:
        """Suspend an executing transaction until ``blocking`` finishes executing.

        Returns False when ``blocking`` is already EXECUTED (read again instead).
        The suspended execution's task ends here; it is re-issued as a new
        incarnation when ``blocking`` finishes.
        """
        self._expect(tx_index, TxStatus.EXECUTING)
        if self._status[blocking] is TxStatus.EXECUTED:
            return False
        self._status[tx_index] = TxStatus.ABORTING
        self._dependents[blocking].add(tx_index)
        self.active -= 1
        return True

    def finish_execution(self, tx_index: int, incarnation: int, wrote_new_location: bool) -> Task | None:
        """An execution's results are recorded; returns its validation task when one is due now."""
        if not self.is_executing(tx_index, incarnation):
            raise SchedulerError(f"transaction {tx_index} incarnation {incarnation} is not executing")
        self._status[tx_index] = TxStatus.EXECUTED
        self._resume(self._dependents[tx_index])
        self._dependents[tx_index] = set()
        if self.validation_idx > tx_index:
            if not wrote_new_location:
                return Task(TaskKind.VALIDATION, tx_index, incarnation)  # the task goes on: still active
            self._lower_validation(tx_index)
        self.active -= 1
        return None

    def try_validation_abort(self, tx_index: int, incarnation: int) -> bool:
        """Abort this incarnation after a failed validation; False when it was already aborted."""
        if self._status[tx_index] is TxStatus.EXECUTED and self._incarnation[tx_index] == incarnation:
            self._status[tx_index] = TxStatus.ABORTING
            return True
        return False

    def finish_validation(self, tx_index: int, aborted: bool) -> Task | None:
        """A validation ended; after an abort, returns the re-execution when it is due now."""
        if aborted:
            self._expect(tx_index, TxStatus.ABORTING)
            self._make_ready(tx_index)
            self._lower_validation(tx_index + 1)
            if self.execution_idx > tx_index:
                return self._incarnate(tx_index)  # the task goes on as an execution: still active
        self.active -= 1
        return None

    def task_lost(self, task: Task) -> bool:
        """The worker running ``task`` is gone: re-issue it. False when the task was no longer live.

        Validation tasks run inside the coordinator and cannot be lost midway;
        a lost one is simply handed out again.
        """
        if task.kind is TaskKind.VALIDATION:
            self.active -= 1
            self._lower_validation(task.tx_index)
            return True
        if not self.is_executing(task.tx_index, task.incarnation):
            return False
        self._make_ready(task.tx_index)
        self._lower_execution(task.tx_index)
        self.active -= 1
        return True

    # --- helpers ------------------------------------------------------------------------

    def _resume(self, dependents: set[int]) -> None:
        """Make suspended transactions ready again (new incarnations) and bring execution back to them."""
        if not dependents:
            return
        for tx_index in dependents:
            self._expect(tx_index, TxStatus.ABORTING)
            self._make_ready(tx_index)
        self._lower_execution(min(dependents))

    def _make_ready(self, tx_index: int) -> None:
        self._incarnation[tx_index] += 1
        self._status[tx_index] = TxStatus.READY_TO_EXECUTE

    def _lower_execution(self, tx_index: int) -> None:
        if tx_index < self.execution_idx:
            self.execution_idx = tx_index
            self.decreases += 1

    def _lower_validation(self, tx_index: int) -> None:
        if tx_index < self.validation_idx:
            self.validation_idx = tx_index
            self.decreases += 1

    def _expect(self, tx_index: int, status: TxStatus) -> None:
        if self._status[tx_index] is not status:
            raise SchedulerError(f"transaction {tx_index} is {self._status[tx_index].name}, "
                                 f"expected {status.name}")
