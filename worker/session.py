"""The worker's side of the backend protocol as a state machine: frames in, frames out, an injected clock.

:class:`WorkerSession` makes every decision of a worker's conversation
with the broker, and nothing else: it never touches a socket, a thread or
the system clock, so it is tested with plain frames and a fake clock
(``tests/pool/test_session.py``), as ``BrokerCore`` is. The socket and the
heartbeat thread (:mod:`wasmpool.worker.heartbeat`) only move frames: what
arrives goes to :meth:`~WorkerSession.heard`, what the session returns is
sent.

What it decides
    - READY: registering (again) with the broker, with the credits
      (``1 + prefetch``: one job runs, the next ones wait here) and the
      module cache's contents; jobs and results held when the broker
      forgot the worker are dropped (the broker gave those jobs to others).
    - Jobs: REQUESTs queue in arrival order; a batch (``jobs``) becomes its
      single jobs, a malformed one a job to refuse.
    - HEARTBEATs: one whenever nothing was sent for an interval; the
      broker's HEARTBEAT answering READY carries its interval and liveness,
      which the session adopts. Any frame from the broker counts as heard.
    - Pins: a HEARTBEAT from the broker may carry the pinned set
      (``pinned``), which the session keeps for the worker to load
      (:meth:`~WorkerSession.take_pinned`); a cache report that changed
      between jobs (a pinned module loaded) rides on a HEARTBEAT
      (:meth:`~WorkerSession.report`).
    - Reconnecting: a broker silent for the liveness window is gone: the
      socket is replaced after a delay (1 s doubling to 32 s:
      :class:`~wasmpool.wire.liveness.Backoff`), then the worker registers
      again (Paranoid Pirate). A DISCONNECT from the broker (it restarted,
      or forgot the worker) also means registering again.
    - CALLBACKs: numbering a running job's questions and matching the reply.
    - FINALs: the results of consecutive jobs that wrote nothing may travel
      in one FINAL (:meth:`~WorkerSession.finished`), as long as together
      they fit under the broker's limits (:meth:`~WorkerSession.make_room`); a job that wrote
      state, a block chunk, or a worker on its way out sends at once, and
      results kept behind a long job go out on the heartbeat thread's next
      wake-up (:meth:`~WorkerSession.while_computing`).
    - The watchdog: a job still computing ``watchdog`` seconds past its
      time limit has wedged the process (:meth:`~WorkerSession.wedged`).

Threads: the session is not thread-safe. The line calls it with its lock
held, except :meth:`computing`, :meth:`computed` and :meth:`wedged`, which
only set or read single attributes.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.liveness import Backoff, Liveness
from wasmpool.wire.protocol import Command
from wasmpool.worker.config import WorkerConfig, credits
from wasmpool.worker.readers import Question, Reply
from wasmpool.worker.versions import WORKER_VERSIONS

Frames = list[bytes]
HEARTBEAT = p.encode(p.WORKER_TAG, Command.HEARTBEAT, b"hb", m.Heartbeat().to_body())
DISCONNECT = m.Disconnect().to_body()

Result = m.CallResult | m.ChunkFinal
"""A finished job's result: a call's, or a block chunk's (each call's result with its reads)."""



def _footprint(result: Result) -> m.Footprint:
    """What ``result`` uses of a FINAL's room: a call's bound, or its calls' bounds for a block chunk."""
    if isinstance(result, m.CallResult):
        return m.footprint(result)
    used = m.Footprint()
    for entry in result.chunk:
        used = used.plus(m.footprint(m.CallResult.from_checked(entry), entry["reads"]))
    return used


class CacheView(Protocol):
    """What the session reports of the worker's module cache."""

    hits: int
    misses: int
    generation: int

    def keys(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Due:
    """What the line must do now: send ``send`` (a HEARTBEAT), or reconnect after ``reconnect`` seconds."""

    send: Frames | None = None
    reconnect: float | None = None


NOTHING_DUE = Due()


class WorkerSession:
    """A worker's conversation with the broker; see the module docstring."""

    def __init__(self, config: WorkerConfig, cache: CacheView, clock: Callable[[], float],
                 pid: int | None = None) -> None:
        self.config = config
        self.cache = cache
        self.clock = clock
        self.pid = os.getpid() if pid is None else pid
        self.liveness = Liveness(config.heartbeat, config.liveness)
        self.backoff = Backoff(config.reconnect_min, config.reconnect_max)
        self.batch = max(1, credits(config.prefetch) // 2)  # results kept back for one FINAL, at most
        self.jobs: deque[p.Message] = deque()  # REQUESTs received and not run yet (prefetched)
        self.finals: list[tuple[bytes, Result]] = []  # finished jobs' results not sent yet
        self.result_limits = config.limits  # the limits the broker reads this worker's messages with
        self.room = m.result_room(config.limits)  # what the results of one FINAL may use
        self.kept = m.Footprint()  # what the kept results use of it
        self.disconnected = False  # the broker forgot this worker: register again
        self.reported = -1  # cache generation last reported to the broker
        self.busy = False  # a job computes: the heartbeat thread speaks for the worker
        self.job_deadline: float | None = None  # when the watchdog ends the process
        self.reconnects = 0
        self.versions = WORKER_VERSIONS.as_dict()  # announced in READY: the broker admits only the pool's
        self.pinned: frozenset[str] = frozenset()  # the pinned code ids the broker announced
        self._pins_news = False  # the pinned set changed since the worker last took it
        self.warm: deque[str] = deque()  # deployed modules the broker asked to compile ahead, in order
        self.tiers: Callable[[], dict[str, int]] | None = None  # the module tiers' counters (reported)
        self._seq = itertools.count(1)
        self._asked: tuple[bytes, int] | None = None  # the CALLBACK waiting for its reply
        self._answer: m.CallbackReply | None = None
        self.last_heard = self.last_sent = clock()
        self._on_message: dict[Command, Callable[[p.Message], None]] = {
            Command.REQUEST: self._request, Command.CALLBACK_REPLY: self._reply,
            Command.HEARTBEAT: self._heartbeat, Command.DISCONNECT: self._forgotten}

    def _sent(self, frames: Frames) -> Frames:
        self.last_sent = self.clock()
        return frames

    # --- registering -------------------------------------------------------------------------

    def ready(self) -> Frames:
        """READY: register (again) with the broker; what this worker held for it before is dropped."""
        self.disconnected = False
        self.jobs.clear()
        self.finals.clear()
        self.kept = m.Footprint()
        ready = m.Ready.of(self._cache_report(full=True), self.pid, credits(self.config.prefetch),
                           versions=self.versions)
        return self._sent(p.encode(p.WORKER_TAG, Command.READY, b"ready", ready.to_body()))

    def goodbye(self) -> Frames:
        """DISCONNECT: the worker leaves."""
        return self._sent(p.encode(p.WORKER_TAG, Command.DISCONNECT, b"bye", DISCONNECT))

    def connected(self) -> None:
        """A (new) socket to the broker: the silence is counted from now."""
        self.last_heard = self.last_sent = self.clock()

    # --- frames in ---------------------------------------------------------------------------

    def heard(self, frames: Frames) -> None:
        """Take in a message from the broker (a garbled one only counts as heard)."""
        self.last_heard = self.clock()
        self.backoff.reset()
        try:
            message = p.decode_broker(frames, self.config.limits)
        except errors.ProtocolError:
            return
        self._on_message[message.command](message)

    def _request(self, message: p.Message) -> None:
        if "jobs" in message.body:  # several jobs: they run one after another, before anything later
            self.jobs.extend(self._unbatch(message.body["jobs"]))
        else:
            self.jobs.append(message)

    def _unbatch(self, jobs: list[list[Any]]) -> list[p.Message]:
        """The jobs of a batched REQUEST as single REQUESTs (a malformed one is to be refused)."""
        messages = []
        for job_id, packed in jobs:
            try:
                body = p.unpack(packed, self.config.limits, job_id)
                p.check_fields(body, p.JOB_FIELDS, job_id)
            except errors.ProtocolError as exc:
                body = {"refused": exc.reason}
            messages.append(p.Message(Command.REQUEST, job_id, body))
        return messages

    def _reply(self, message: p.Message) -> None:
        if self._asked == (message.request_id, message.body["seq"]):
            self._answer = m.callback_reply(message.body, message.request_id)

    def _heartbeat(self, message: p.Message) -> None:
        numbers = m.Heartbeat.from_checked(message.body)
        if numbers.interval is not None or numbers.liveness is not None:
            self.liveness = Liveness(
                self.liveness.interval if numbers.interval is None else float(numbers.interval),
                self.liveness.liveness if numbers.liveness is None else int(numbers.liveness))
        if numbers.max_body is not None and numbers.max_body != self.result_limits.max_body:
            self.result_limits = replace(self.config.limits, max_body=numbers.max_body)
            self.room = m.result_room(self.result_limits)
        if numbers.pinned is not None and frozenset(numbers.pinned) != self.pinned:
            self.pinned = frozenset(numbers.pinned)
            self._pins_news = True
        if numbers.warm:
            for code_id in numbers.warm:
                if code_id not in self.warm and len(self.warm) < p.MAX_WARM:
                    self.warm.append(code_id)

    def take_pinned(self) -> frozenset[str] | None:
        """The pinned set, when it changed since the last time it was taken (else None)."""
        if not self._pins_news:
            return None
        self._pins_news = False
        return self.pinned

    def take_warm(self) -> str | None:
        """The next module the broker asked to compile ahead of its calls (None: none left)."""
        return self.warm.popleft() if self.warm else None

    def _forgotten(self, message: p.Message) -> None:
        self.disconnected = True

    def has_news(self) -> bool:
        """A job waits, the worker must register again, the pinned set changed or a module is to warm."""
        return bool(self.jobs) or self.disconnected or self._pins_news or bool(self.warm)

    def has_work(self) -> bool:
        """A job waits or the worker must register again: what comes before loading pinned modules."""
        return bool(self.jobs) or self.disconnected

    def next_job(self) -> p.Message | None:
        """The next job to run (None: none waits)."""
        return self.jobs.popleft() if self.jobs else None

    def turn(self) -> tuple[Frames | None, p.Message | None]:
        """The main thread's next move: READY when the broker forgot this worker, else the next job."""
        if self.disconnected:
            return self.ready(), None
        return None, self.next_job()

    # --- liveness ----------------------------------------------------------------------------

    def due(self) -> Due:
        """While the main thread waits: a HEARTBEAT when one is due; a reconnect when the broker is gone."""
        now = self.clock()
        send = self._sent(HEARTBEAT) if now - self.last_sent >= self.liveness.interval else None
        if now - self.last_heard > self.liveness.window:
            self.reconnects += 1
            self.disconnected = True
            self.jobs.clear()
            return Due(send, self.backoff.next())
        return NOTHING_DUE if send is None else Due(send)

    def wait_time(self, deadline: float) -> float:
        """How long the line may wait for frames: until ``deadline``, or the next HEARTBEAT if sooner."""
        now = self.clock()
        return min(deadline - now, self.last_sent + self.liveness.interval - now)

    # --- CALLBACKs ---------------------------------------------------------------------------

    def ask(self, job_id: bytes, question: Question) -> Frames:
        """A CALLBACK about the running job; its reply is awaited (:meth:`answered`, :meth:`answer`)."""
        seq = next(self._seq)
        self._asked, self._answer = (job_id, seq), None
        return self._sent(p.encode(p.WORKER_TAG, Command.CALLBACK, job_id, question(seq).to_body()))

    def answered(self) -> bool:
        """The reply arrived, or waiting is pointless (the broker forgot this worker)."""
        return self._answer is not None or self.disconnected

    def answer(self) -> Reply:
        """The reply to the last CALLBACK; StateUnavailable when there is none or the broker refused."""
        answer, self._asked, self._answer = self._answer, None, None
        if answer is None:
            if self.disconnected:
                raise errors.StateUnavailable("the broker forgot this worker during the call")
            raise errors.StateUnavailable(f"no answer from the broker within {self.config.callback_timeout}s")
        if isinstance(answer, m.RefusedReply):
            raise errors.StateUnavailable(f"the broker refused: {answer.error}")
        return answer

    # --- results -----------------------------------------------------------------------------

    def make_room(self, result: Result) -> Frames | None:
        """The FINAL of the kept results, to send before ``result``'s when both would not fit in one.

        Results are grouped into one FINAL only while together they stay
        under the limits the broker reads a worker's message with (each
        result alone fits: :func:`~wasmpool.worker.execute.execute` and
        :func:`~wasmpool.worker.execute.execute_chunk` made sure of it).
        """
        if self.finals and not m.fits(self.kept.plus(_footprint(result)), self.room):
            return self._final(leaving=False)
        return None

    def finished(self, job_id: bytes, result: Result, *, leaving: bool) -> Frames | None:
        """A job's result: the FINAL to send now, or None to keep it for the next jobs' FINAL.

        A result is kept only while more jobs wait here, for at most half
        the credits; a job that wrote state (its own contract's or, through
        ``call_contract``, another's), a block chunk, or a worker
        ``leaving`` (SIGTERM, recycling: the broker sends it no new job)
        sends at once. Call :meth:`make_room` first: the kept results go
        alone when this one would not fit beside them.
        """
        self.finals.append((job_id, result))
        self.kept = self.kept.plus(_footprint(result))
        if (leaving or not self.jobs or len(self.finals) >= self.batch
                or not isinstance(result, m.CallResult) or result.writes or result.nested_writes):
            return self._final(leaving)
        return None

    def while_computing(self) -> list[Frames]:
        """The heartbeat thread's turn while a job computes: kept results go now, a HEARTBEAT if due."""
        out = [self._final(leaving=False)] if self.finals else []
        if self.clock() - self.last_sent >= self.liveness.interval:
            out.append(self._sent(HEARTBEAT))
        return out

    def _final(self, leaving: bool) -> Frames:
        """One FINAL for the kept results: a single job's body as it is, several as ``finals``."""
        finals, self.finals, self.kept = self.finals, [], m.Footprint()
        report = self._cache_report(full=False)
        if len(finals) == 1:
            job_id, result = finals[0]
            final = m.Final(result, report, leaving).to_body()
        else:
            job_id = finals[0][0]
            final = m.Finals([[done, result.to_body()] for done, result in finals], report, leaving).to_body()
        return self._sent(p.encode(p.WORKER_TAG, Command.FINAL, job_id, final))

    def report(self) -> Frames | None:
        """A HEARTBEAT with the cache report, when the cache changed since the last report (else None).

        Sent between jobs (a pinned module loaded or handed back to the
        LRU), so the broker's view of an idle worker's cache stays current.
        """
        if self.reported == self.cache.generation:
            return None
        body = self._cache_report(full=False).to_body()
        return self._sent(p.encode(p.WORKER_TAG, Command.HEARTBEAT, b"hb", body))

    def _cache_report(self, full: bool) -> m.CacheReport:
        """Cache counters, and the cached code ids if they changed since the last report (or ``full``)."""
        cache = self.cache
        tiers = self.tiers() if self.tiers is not None else None
        if full or self.reported != cache.generation:
            self.reported = cache.generation
            return m.CacheReport(cache.hits, cache.misses, cache.keys(), tiers)
        return m.CacheReport(cache.hits, cache.misses, tiers=tiers)

    # --- the watchdog ------------------------------------------------------------------------

    def computing(self, timeout: float) -> None:
        """A job starts computing: the heartbeat thread speaks for the worker, the watchdog is armed."""
        if self.config.watchdog > 0:
            self.job_deadline = self.clock() + timeout + self.config.watchdog
        self.busy = True

    def computed(self) -> None:
        """The job ended (however): the main thread speaks for the worker again, the watchdog disarmed."""
        self.busy = False
        self.job_deadline = None

    def wedged(self) -> bool:
        """The running job outlived its time limit by ``watchdog`` seconds: SIGALRM cannot reach it."""
        deadline = self.job_deadline
        return deadline is not None and self.clock() > deadline
