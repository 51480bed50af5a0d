"""Block-STM without a pool: a serial reference and an in-process driver with simulated workers.

Test code only. :func:`run_serial` is the reference (a plain loop), and
:func:`run_block` drives a :class:`~wasmpool.broker.blocks.BlockRun` with
simulated workers in an interleaving chosen by a seeded random generator,
down to single reads: each execution runs in its own thread, but only one
thread ever runs at a time, handing control back and forth at every read,
so a run is reproducible from its seed.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from enum import Enum
from typing import Protocol

from wasmpool.broker.blocks import BlockRun, Location, StateTree, Storage, Task, TaskAborted, Value
from wasmpool.wire.receipts import BlockResult, Outcome


class View(Protocol):
    """State as one execution sees it."""

    def get(self, contract: str, key: bytes) -> Value: ...


Execute = Callable[[int, View], Outcome]
"""Execute transaction ``tx_index`` reading through ``view``; must be deterministic in what it reads."""


# --- the serial reference ------------------------------------------------------------


class SerialView:
    """State during serial execution: the writes of earlier ok calls over committed storage."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.writes: dict[Location, Value] = {}

    def get(self, contract: str, key: bytes) -> Value:
        location = (contract, key)
        return self.writes[location] if location in self.writes else self.storage(contract, key)


def run_serial(block_size: int, execute: Execute,
               storage: Storage) -> tuple[list[Outcome], dict[Location, Value]]:
    """Execute the calls one after another: the outcomes and the combined write set."""
    view = SerialView(storage)
    outcomes = []
    for tx_index in range(block_size):
        outcome = execute(tx_index, view)
        view.writes.update(outcome.effective_writes())
        outcomes.append(outcome)
    return outcomes, view.writes


# --- the in-process driver with simulated workers -----------------------------------------


class _Cancelled(BaseException):
    """Unwinds a simulated execution whose worker was lost (a BaseException: contracts cannot catch it)."""


class _Fiber:
    """One execution on a simulated worker: a thread that runs only while the driver waits for it."""

    def __init__(self, run: BlockRun, task: Task, execute: Execute) -> None:
        self.run = run
        self.task = task
        self.execute = execute
        self.outcome: Outcome | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.cancelled = False
        self._go = threading.Semaphore(0)
        self._back = threading.Semaphore(0)
        self._thread = threading.Thread(target=self._main, name=f"block-tx-{task.tx_index}", daemon=True)

    def start(self) -> None:
        """Run until the first read (parked before it) or the end."""
        self._thread.start()
        self._back.acquire()

    def step(self) -> None:
        """Perform the pending read, and run on to the next read or the end."""
        self._go.release()
        self._back.acquire()
        if self.finished:
            self._thread.join()

    def cancel(self) -> None:
        """Unwind the execution (its worker died) and wait for the thread."""
        self.cancelled = True
        while not self.finished:
            self.step()
        self._thread.join()

    def get(self, contract: str, key: bytes) -> Value:
        """The View of the running execution: park, and read when the driver says so."""
        if self.cancelled:
            raise _Cancelled
        self._back.release()
        self._go.acquire()
        if self.cancelled:
            raise _Cancelled
        return self.run.read(self.task, contract, key)

    def _main(self) -> None:
        try:
            self.outcome = self.execute(self.task.tx_index, self)
        except BaseException as exc:  # reported to the driver, which decides
            self.error = exc
        finally:
            self.finished = True
            self._back.release()


class _Event(Enum):
    ASK = "ask"  # an idle worker asks for a task
    STEP = "step"  # a busy worker performs one read, or delivers its result
    LOSE = "lose"  # a busy worker dies; a replacement is idle at once
    LATE = "late"  # a dead worker's execution goes on and delivers a result nobody wants


def is_abort(error: BaseException) -> bool:
    """True when an execution ended because its task was aborted (the engine may wrap the exception)."""
    seen: BaseException | None = error
    for _ in range(16):
        if seen is None:
            return False
        if isinstance(seen, TaskAborted | _Cancelled):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class _Driver:
    """Simulated workers taking tasks from a BlockRun in a seeded random interleaving."""

    def __init__(self, run: BlockRun, execute: Execute, workers: int, seed: int, losses: int) -> None:
        self.run = run
        self.execute = execute
        self.rng = random.Random(seed)
        self.busy: list[_Fiber | None] = [None] * workers
        self.waiting: set[int] = set()  # idle workers told "nothing now" since the last change
        self.late: list[_Fiber] = []
        self.losses = losses

    def drive(self) -> None:
        try:
            while not self.run.done:
                self._event()
        finally:
            for fiber in [*self.busy, *self.late]:
                if fiber is not None:
                    fiber.cancel()

    def _events(self) -> list[tuple[_Event, int]]:
        events = []
        for worker, fiber in enumerate(self.busy):
            if fiber is None:
                if worker not in self.waiting:
                    events.append((_Event.ASK, worker))
            else:
                events.append((_Event.STEP, worker))
                if self.losses:
                    events.append((_Event.LOSE, worker))
        events.extend((_Event.LATE, index) for index in range(len(self.late)))
        return events

    def _event(self) -> None:
        events = self._events()
        if not events:
            raise RuntimeError("the block stalled: no worker can make progress")
        kind, which = self.rng.choice(events)
        if kind is _Event.ASK:
            self._ask(which)
        elif kind is _Event.STEP:
            self._step(which)
        elif kind is _Event.LOSE:
            self._lose(which)
        else:
            self._late(which)

    def _ask(self, worker: int) -> None:
        task = self.run.next_task()
        if task is None:
            self.waiting.add(worker)
            return
        fiber = _Fiber(self.run, task, self.execute)
        self.busy[worker] = fiber
        fiber.start()

    def _step(self, worker: int) -> None:
        fiber = self.busy[worker]
        if fiber is None:
            return
        if not fiber.finished:
            fiber.step()
            return
        self.busy[worker] = None
        self.waiting.clear()
        self._deliver(fiber)

    def _deliver(self, fiber: _Fiber) -> bool:
        """The worker's FINAL; True when the coordinator took the result."""
        if fiber.error is not None:
            if not is_abort(fiber.error):
                raise fiber.error
            return False
        if fiber.outcome is None:
            raise RuntimeError(f"the execution of transaction {fiber.task.tx_index} returned nothing")
        return self.run.finish(fiber.task, fiber.outcome)

    def _lose(self, worker: int) -> None:
        fiber = self.busy[worker]
        if fiber is None:
            return
        self.losses -= 1
        self.busy[worker] = None
        self.waiting.clear()
        self.run.task_lost(fiber.task)
        if self.rng.random() < 0.5:
            fiber.cancel()
        else:
            self.late.append(fiber)

    def _late(self, index: int) -> None:
        fiber = self.late[index]
        if not fiber.finished:
            fiber.step()
            return
        del self.late[index]
        if self._deliver(fiber):
            raise RuntimeError(f"a lost execution of transaction {fiber.task.tx_index} was accepted")


def run_block(block_size: int, execute: Execute, storage: Storage, *, workers: int = 1, seed: int = 0,
              losses: int = 0) -> BlockRun:
    """Run a block on ``workers`` simulated workers in the interleaving chosen by ``seed``.

    Up to ``losses`` times a busy worker dies mid-task (its execution is either
    cancelled or runs on and delivers a late result, which must be refused).
    Returns the finished :class:`BlockRun` (outcomes, writes, stats).
    """
    if workers < 1:
        raise ValueError("a block needs at least one worker")
    run = BlockRun(block_size, storage)
    _Driver(run, execute, workers, seed, losses).drive()
    return run


def execute_block(block_size: int, execute: Execute, storage: Storage, tree: StateTree, *,
                  workers: int = 1, seed: int = 0, dry_run: bool = False) -> tuple[BlockResult, StateTree]:
    """Run a block in process and build its BlockResult; returns it with the state tree after it.

    With ``dry_run`` the result is marked so; the caller simply keeps the old tree.
    """
    run = run_block(block_size, execute, storage, workers=workers, seed=seed)
    return run.result(tree, dry_run)
