"""Jobs and workers as the broker's core tracks them, and who a job belongs to.

A :class:`Job` is one client request on its way through the workers (a
call or query, or a task of a block); a :class:`WorkerState` is what the
core knows of one worker process. Every job carries its :class:`JobOwner`,
which handles what happens to it at a worker; work run on the core's
workers from outside it (blocks) plugs in as an :class:`Extension`. Read
``wasmpool.broker.core`` for the state machine that uses them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from wasmpool.broker.ahead import Offer
from wasmpool.broker.scans import ScanRange
from wasmpool.broker.state import Location
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Op


class JobOwner(Protocol):
    """Who handles what happens to a job at a worker: the core for calls and queries, or an extension.

    ``queue_behind`` says whether other jobs may wait at a worker behind one
    of its jobs (a block's task keeps the worker's free credits to itself).
    """

    queue_behind: bool

    def finished(self, job: Job, result: dict[str, Any]) -> None:
        """The job's FINAL (a job abandoned before is not handed over)."""

    def lost(self, job: Job, why: str, started: bool) -> None:
        """Its worker died, stalled or left; ``started``: it ran (else it only waited behind another job)."""

    def timed_out(self, job: Job, where: str) -> None:
        """Its deadline passed (``where``: waiting in the queue, or running)."""

    def read(self, job: Job, body: dict[str, Any]) -> m.CallbackReply:
        """A CALLBACK ``get`` of the job: the CALLBACK_REPLY."""

    def code(self, job: Job, body: dict[str, Any]) -> m.CallbackReply:
        """A CALLBACK ``code`` of the job: the CALLBACK_REPLY."""


ClientOp = Callable[[bytes, bytes, p.Message], None]
"""The handler of one client op: (identity, scoped request id, message); raises the PoolError to answer."""


class Extension(Protocol):
    """Work run on the core's workers from outside it (blocks): what the core tells it, and asks it."""

    def step(self) -> None:
        """After every event (the core's messages not yet taken): act on the new state or the time."""

    def settle(self) -> None:
        """After the messages of an event were sent: work that must not delay them."""

    def holds(self, job: Job) -> bool:
        """True when the queued call ``job`` must wait (not be dispatched) for now."""

    def assign(self, worker: WorkerState) -> bool:
        """An idle worker: give it a job of the extension's; True when it got one."""

    def committed(self, code_id: str, writes: dict[bytes, bytes | None]) -> None:
        """An ordinary call committed ``writes`` in namespace ``code_id``: told once per namespace a
        commit changed (the call's own, each contract it called, the registry's)."""


class NoExtension:
    """The core without an extension: nothing held, nothing assigned."""

    def step(self) -> None:
        pass

    def settle(self) -> None:
        pass

    def holds(self, job: Job) -> bool:
        return False

    def assign(self, worker: WorkerState) -> bool:
        return False

    def committed(self, code_id: str, writes: dict[bytes, bytes | None]) -> None:
        pass


@dataclass(eq=False, slots=True)
class Job:
    """A call or query: one client request, possibly executed several times."""

    request_id: bytes
    client: bytes
    op: Op
    code_id: str
    request: bytes  # the packed REQUEST body sent to workers
    arrival: float
    deadline: float
    owner: JobOwner  # handles its FINAL, losses, timeout and callbacks
    job_id: bytes = b""
    attempts: int = 0
    reads: dict[bytes, int] = field(default_factory=dict)  # this attempt's reads in its own namespace
    ranges: list[ScanRange] = field(default_factory=list)  # key ranges read by this attempt (broker.scans)
    foreign: dict[Location, int] = field(default_factory=dict)  # reads in other namespaces (call_contract)
    foreign_ranges: list[tuple[str, ScanRange]] = field(default_factory=list)  # (namespace, range) pages
    callees: set[str] = field(default_factory=set)  # namespaces of contracts it found in the registry
    fetched: set[str] = field(default_factory=set)  # code ids of the modules sent for this attempt
    wrote: frozenset[str] = frozenset()  # other namespaces its last result wrote (nested writes)
    touched: frozenset[str] = frozenset()  # namespaces its last losing attempt read or wrote
    abandoned: bool = False
    exclusive: bool = False  # re-executed alone on what it touches (after repeated stale reads)
    held: frozenset[str] = frozenset()  # the namespaces its exclusive run holds
    losses: int = 0  # times a worker died, stalled or left holding this job (broker.liveness)
    started: float = 0.0  # when the current attempt was dispatched
    key: bytes = b""  # the request id scoped to its client (scoped_key): what active and replies use
    scope: bytes = b""  # its client (client_scope), whose in-flight bytes it counts in
    namespace: str = ""  # where its state lives: a contract's address in hex, or "" (its code id: legacy)
    pending: Any = None  # the registry change an instantiate or migrate commits with (broker.contracts)
    function: str = ""  # the export it calls (its reads are learned by namespace and export: broker.ahead)
    access: tuple[bytes, ...] = ()  # the keys its client declared it reads (a hint: broker.ahead)
    gets: list[bytes] = field(default_factory=list)  # this attempt's point reads in its own namespace
    offer: Offer | None = None  # this attempt's reads answered ahead (broker.ahead)
    outgoing: bytes = b""  # this attempt's REQUEST body when it differs from ``request`` (reads ahead)

    @property
    def space(self) -> str:
        """The state namespace it reads and writes: its contract's, else its code id's (a legacy call)."""
        return self.namespace or self.code_id

    def touching(self) -> frozenset[str]:
        """The namespaces this attempt has read or written so far: its own, and those of contracts it called.

        A registry lookup of an address counts as touching that address's
        namespace (a migrate of that contract runs there).
        """
        spaces = {self.space, *self.wrote}
        for space, key in self.foreign:
            if space != p.REGISTRY_SPACE:
                spaces.add(space)
            elif len(key) == p.ADDRESS_SIZE:
                spaces.add(key.hex())
        spaces.update(space for space, _ in self.foreign_ranges)
        return frozenset(spaces)

    def start_attempt(self) -> None:
        """Forget what the previous attempt read, fetched and wrote (a dispatch starts a fresh one)."""
        self.reads = {}
        self.ranges = []
        self.foreign = {}
        self.foreign_ranges = []
        self.callees = set()
        self.fetched = set()
        self.wrote = frozenset()
        self.gets = []
        self.offer = None
        self.outgoing = b""

    @property
    def budget(self) -> float:
        """Seconds the job may take, from arrival (or from its latest re-queue after a loss)."""
        return self.deadline - self.arrival

    @property
    def readonly(self) -> bool:
        return self.op is Op.QUERY


@dataclass(eq=False, slots=True)
class WorkerState:
    """What the broker knows about one worker process."""

    identity: bytes
    expires: float
    pid: int = 0
    cache: frozenset[str] = frozenset()
    hits: int = 0
    misses: int = 0
    tiers: dict[str, int] = field(default_factory=dict)  # its module tiers' counters (memory, disk, ...)
    jobs: deque[Job] = field(default_factory=deque)  # dispatched and unfinished, in order: the first runs
    credits: int = 1  # how many jobs it may hold at once (READY's ``credits``): one runs, the rest wait
    heartbeats: bool = False  # it said on READY that it heartbeats while busy (broker.liveness)
    last_sent: float = 0.0  # when the broker last sent it a REQUEST or HEARTBEAT
    warming: set[str] = field(default_factory=set)  # deployed modules it was asked to compile ahead (warm)

    @property
    def job(self) -> Job | None:
        """The job it runs now (the oldest one it holds), if any."""
        return self.jobs[0] if self.jobs else None

    @property
    def free(self) -> int:
        """Jobs it may still be given."""
        return self.credits - len(self.jobs)

    @property
    def takes_more(self) -> bool:
        """It has a free credit for a call or query (none waits behind a job that keeps the worker)."""
        return self.free > 0 and (not self.jobs or self.jobs[-1].owner.queue_behind)
