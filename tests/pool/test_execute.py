"""Job execution as a plain function: a real module, the real host ABI, a fake state; no socket.

``execute`` turns a job body into a FINAL result body; every way a call can
fail becomes a status and a code, never an exception.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from tests.pool.conftest import FIXTURES
from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import ErrorCode, Status
from wasmpool.worker.execute import Runtime, execute, execute_chunk
from wasmpool.worker.host import Host
from wasmpool.worker.modules import Loaded, load
from wasmpool.worker.readers import UNWRITTEN, ChunkState, Question, Reply

CODE_ID = "a" * 64


@cache
def fixture(name: str) -> Loaded:
    """A test module, decoded, checked and compiled as a worker's cache holds it (once per session)."""
    return load((FIXTURES / name).read_bytes())


def probe(code_id: str, index: int | None) -> Loaded:
    return fixture("probe.wasm")


class FakeState:
    """Committed state as a dict, remembering the keys read."""

    def __init__(self, values: dict[bytes, bytes] | None = None) -> None:
        self.values = values or {}
        self.read: list[bytes] = []

    def get(self, key: bytes) -> bytes | None:
        self.read.append(key)
        return self.values.get(key)


class Watch:
    """Records what execution tells it."""

    def __init__(self) -> None:
        self.events: list[tuple[str, float | None]] = []

    def computing(self, timeout: float) -> None:
        self.events.append(("computing", timeout))

    def computed(self) -> None:
        self.events.append(("computed", None))


def job(function: str, args: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {"code_id": CODE_ID, "function": function, "args": args or [], "input": b"", "context": {},
            "gas_limit": 1_000_000, "timeout": 5.0, "readonly": False, **fields}


def run(body: dict[str, Any], state: FakeState | None = None, module: str = "probe.wasm",
        watch: Watch | None = None) -> dict[str, Any]:
    """The job's result as the FINAL body it becomes."""
    runtime = Runtime.of(Host()) if watch is None else Runtime.of(Host(), watch)
    return execute(body, state or FakeState(), lambda code_id, index: fixture(module), runtime).to_body()


def test_a_call_returns_its_results_and_the_gas_it_used() -> None:
    watch = Watch()
    result = run(job("add", [40, 2], timeout=3.0), watch=watch)
    assert (result["status"], result["code"], result["results"], result["error"]) == ("ok", 0, [42], None)
    assert 0 < result["gas_used"] < 1_000_000
    assert watch.events == [("computing", 3.0), ("computed", None)]
    p.check_fields(p.unpack(p.pack(result)), p.RESULT_FIELDS)  # as the broker decodes it, a body it accepts


def test_reads_go_to_the_state_reader_and_writes_come_back_buffered() -> None:
    state = FakeState({b"k": b"hello"})
    got = run(job("get"), state)
    assert (got["results"], got["output"], state.read) == ([5], b"hello", [b"k"])
    put = run(job("put", input=b"new"), state)
    assert put["status"] == Status.OK and put["writes"] == {b"k": b"new"}
    assert state.values[b"k"] == b"hello"  # nothing is written through: the broker commits


def test_a_read_only_query_that_writes_fails_without_writes() -> None:
    result = run(job("put", input=b"x", readonly=True))
    assert result["code"] == ErrorCode.READ_ONLY and result["writes"] == {}


@pytest.mark.parametrize(("function", "args", "code", "status"), [
    ("divide", [1, 0], ErrorCode.TRAP, Status.TRAP),
    ("write_then_revert", [], ErrorCode.REVERTED, Status.REVERTED),
    ("write_then_trap", [], ErrorCode.TRAP, Status.TRAP),
    ("no_such_export", [], ErrorCode.BAD_CALL, Status.ERROR),
    ("add", [1], ErrorCode.BAD_CALL, Status.ERROR),
    ("add", [1, 2**40], ErrorCode.BAD_CALL, Status.ERROR),
])
def test_a_failing_call_is_a_result_with_its_code_and_no_writes(function: str, args: list[Any],
                                                                 code: ErrorCode, status: Status) -> None:
    result = run(job(function, args))
    assert (result["code"], result["status"], result["writes"], result["results"]) == (code, status, {}, [])
    assert result["error"]


def test_running_out_of_gas_reports_the_whole_limit() -> None:
    result = run(job("spin", gas_limit=5_000))
    assert (result["code"], result["gas_used"]) == (ErrorCode.OUT_OF_GAS, 5_000)


def test_a_module_that_cannot_run_and_a_module_that_cannot_be_fetched_are_results() -> None:
    assert run(job("run"), module="bad_import.wasm")["code"] == ErrorCode.LINK_ERROR

    def unavailable(code_id: str, index: int | None) -> Loaded:
        raise errors.StateUnavailable("no module")

    result = execute(job("add", [1, 2]), FakeState(), unavailable, Runtime.of(Host()))
    assert result.code == ErrorCode.STATE_UNAVAILABLE and result.code in p.NONDETERMINISTIC


def chunk_entry(function: str, **fields: Any) -> dict[str, Any]:
    return job(function, **fields)


def test_a_chunks_calls_read_earlier_writes_and_report_where_each_read_came_from() -> None:
    state = FakeState({b"k": b"old"})
    asked: list[dict[str, Any]] = []

    def ask(question: Question) -> Reply:
        callback = question(7)
        assert isinstance(callback, m.ReadCallback)
        asked.append(callback.to_body())
        return m.ReadReply(7, state.get(callback.key))

    jobs = [chunk_entry("get"), chunk_entry("put", input=b"new"), chunk_entry("get"), {"function": 1}]
    chunk = ChunkState(ask, b"chunk")
    well_formed, problem = chunk.prefill(jobs)
    assert well_formed == 3 and problem
    runtime = Runtime.of(Host())
    body = execute_chunk(chunk, jobs, well_formed, problem,
                         lambda entry, reader, at: execute(entry, reader, probe, runtime, at))
    first, second, third, malformed = body.chunk
    assert (first["output"], first["reads"]) == (b"old", [[b"k", UNWRITTEN]])
    assert second["writes"] == {b"k": b"new"}
    assert (third["output"], third["reads"]) == (b"new", [[b"k", 1]])  # call 1's write, not the broker's
    assert malformed["code"] == ErrorCode.INTERNAL and malformed["reads"] == []
    assert asked == [{"op": "get", "key": b"k", "index": 0, "seq": 7}]
    assert (body.status, body.code) == (Status.OK, ErrorCode.OK)


def test_a_chunk_stops_at_a_result_that_says_nothing_about_the_call() -> None:
    def ask(question: Question) -> Reply:
        raise errors.StateUnavailable("the broker is away")

    jobs = [chunk_entry("get"), chunk_entry("add", args=[1, 2])]
    chunk = ChunkState(ask, b"chunk")
    runtime = Runtime.of(Host())
    body = execute_chunk(chunk, jobs, 2, "",
                         lambda entry, reader, at: execute(entry, reader, probe, runtime, at))
    [only] = body.chunk
    assert only["code"] == ErrorCode.STATE_UNAVAILABLE
