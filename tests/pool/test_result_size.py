"""Results too large for a FINAL: the call gets RESULT_TOO_LARGE, the calls behind it are not held up.

The broker reads a worker's messages under its protocol limits
(``max_body``); a FINAL over them is refused, so a call whose output, logs
or writes outgrow the limit would never be answered, nor would the calls
prefetched behind it on the same worker. The worker measures each result
before sending it (:func:`wasmpool.wire.messages.fitting`), groups results
into one FINAL only while they fit together
(:meth:`~wasmpool.worker.session.WorkerSession.make_room`), and a block
chunk's FINAL stays under the limit too. Checked here without sockets, and
with a real broker and worker process.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.pool.conftest import TEST_CONFIG, TEST_LIMITS, Pool, dealer, unique
from tests.pool.test_core import Clock
from tests.pool.test_execute import FakeState, chunk_entry, job, probe
from tests.pool.test_session import FakeCache, sent
from wasmpool.client import Client
from wasmpool.embed import Broker, BrokerThread
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.liveness import Liveness
from wasmpool.wire.protocol import Command, ErrorCode, ProtocolLimits, Status
from wasmpool.wire.receipts import BlockCall
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.execute import Runtime, execute, execute_chunk
from wasmpool.worker.host import Host
from wasmpool.worker.modules import load
from wasmpool.worker.readers import ChunkState, Question, Reply
from wasmpool.worker.session import WorkerSession
from wasmpool.worker.supervisor import start_workers

SMALL = ProtocolLimits(max_body=16 * 1024, max_bin_len=16 * 1024)
"""Limits under which the probe's echo of 20000 bytes is too large to return."""

ROOM = m.result_room(SMALL)
BIG_INPUT = bytes(20_000)


def spray() -> bytes:
    """A contract whose ``spray(n, size)`` writes ``n`` keys of 4 bytes, each with a value of ``size`` bytes.

    Its writes grow far past its input: the way a result outgrows a
    message limit that its request is well within.
    """
    builder = ModuleBuilder()
    put_state = builder.import_func("env", "put_state", ["i32"] * 4)
    builder.memory(4, export="memory")
    builder.data([(O.I32_CONST, 0)], bytes(range(256)))  # key i: the 4 bytes at address i
    builder.func(["i32", "i32"], [], [
        (O.LOOP, None),
        (O.LOCAL_GET, 2), (O.I32_CONST, 4), (O.I32_CONST, 1024), (O.LOCAL_GET, 1), (O.CALL, put_state),
        (O.LOCAL_GET, 2), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_TEE, 2),
        (O.LOCAL_GET, 0), O.I32_LT_U, (O.BR_IF, 0),
        O.END,
    ], locals=["i32"], export="spray")
    return builder.build()


def run_small(body: dict[str, Any], limits: ProtocolLimits = SMALL) -> m.CallResult:
    return execute(body, FakeState(), probe, Runtime.of(Host(), limits=limits))


# --- measuring a result ------------------------------------------------------------------------


@pytest.mark.parametrize("result", [
    m.CallResult(Status.OK, ErrorCode.OK, [1, 2.5, -(2**63)], output=bytes(70_000), gas_used=2**64 - 1,
                 logs=[b"x" * n for n in (0, 1, 255, 256, 65_535, 65_536)],
                 writes={b"k" * n: (None if n % 2 else bytes(n * 3)) for n in (1, 300, 70_000)},
                 error="é" * 300),
    m.CallResult(Status.OK, ErrorCode.OK),
])
def test_the_bound_on_a_results_size_is_never_below_its_encoded_size(result: m.CallResult) -> None:
    reads = [[b"r" * 40, -1], [b"s", 2**40]]
    assert m.footprint(result).size >= len(p.pack(result.to_body()))
    chunk_body = m.ChunkCallResult.of(result, reads).to_body()
    assert m.footprint(result, reads).size >= len(p.pack(chunk_body))


def test_a_result_that_fits_is_kept_and_one_that_does_not_becomes_result_too_large() -> None:
    small = m.CallResult(Status.OK, ErrorCode.OK, [1], output=b"x" * 100, gas_used=7)
    assert m.fitting(small, ROOM) is small
    big = m.CallResult(Status.OK, ErrorCode.OK, output=bytes(20_000), gas_used=7, logs=[b"log"],
                       writes={b"k": b"v"})
    replaced = m.fitting(big, ROOM)
    assert (replaced.status, replaced.code) == (Status.ERROR, ErrorCode.RESULT_TOO_LARGE)
    assert (replaced.writes, replaced.output, replaced.logs, replaced.gas_used) == ({}, b"", [], 7)
    assert replaced.error is not None and "20000" in replaced.error
    assert str(m.result_room(SMALL).size) in replaced.error
    assert p.status_for(ErrorCode.RESULT_TOO_LARGE) is Status.ERROR
    assert p.error_code(errors.ResultTooLarge("too large")) is ErrorCode.RESULT_TOO_LARGE  # the one table


def test_too_many_writes_for_the_brokers_decoder_is_too_large_even_in_few_bytes() -> None:
    limits = ProtocolLimits(max_map_len=100)
    many = m.CallResult(Status.OK, ErrorCode.OK, writes={bytes([n]): b"" for n in range(200)})
    assert m.fitting(many, m.result_room(limits)).code == ErrorCode.RESULT_TOO_LARGE


def test_a_failed_call_with_too_many_logs_keeps_its_code_and_loses_its_logs() -> None:
    failed = m.CallResult.failed(ErrorCode.TRAP, "unreachable", 9, [bytes(10_000), bytes(10_000)])
    kept = m.fitting(failed, ROOM)
    assert (kept.code, kept.logs, kept.gas_used) == (ErrorCode.TRAP, [], 9)
    assert kept.error is not None and kept.error.startswith("unreachable")


# --- execute ------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", ["echo", "put"])
def test_a_call_whose_output_or_writes_outgrow_the_limit_is_result_too_large(function: str) -> None:
    result = run_small(job(function, input=BIG_INPUT))
    assert (result.status, result.code) == (Status.ERROR, ErrorCode.RESULT_TOO_LARGE)
    assert result.writes == {} and result.output == b""
    assert result.gas_used > 0  # the gas the call used is charged
    fine = run_small(job(function, input=bytes(1000)))
    assert fine.status == Status.OK  # well under the limit: unchanged


def test_under_the_default_limits_the_same_call_is_returned() -> None:
    result = execute(job("echo", input=BIG_INPUT), FakeState(), probe, Runtime.of(Host()))
    assert result.status == Status.OK and result.output == BIG_INPUT


def test_writes_far_larger_than_the_default_limit_are_result_too_large() -> None:
    module = load(spray())
    body = job("spray", [200, 100_000], gas_limit=10**9)
    result = execute(body, FakeState(), lambda code_id, index: module, Runtime.of(Host()))
    assert result.code == ErrorCode.RESULT_TOO_LARGE and result.writes == {}
    assert result.error is not None and str(p.DEFAULT_LIMITS.max_body - m.RESULT_ROOM) in result.error


# --- a block chunk -------------------------------------------------------------------------------


def _chunk(jobs: list[dict[str, Any]], limits: ProtocolLimits) -> m.ChunkFinal:
    def ask(question: Question) -> Reply:
        return m.ReadReply(1, None)

    chunk = ChunkState(ask, b"chunk")
    well_formed, problem = chunk.prefill(jobs)
    runtime = Runtime.of(Host(), limits=limits)
    return execute_chunk(chunk, jobs, well_formed, problem,
                         lambda entry, reader, at: execute(entry, reader, probe, runtime, at), limits)


def test_an_oversized_call_result_in_a_chunk_is_result_too_large_for_that_call_only() -> None:
    jobs = [chunk_entry("put", input=BIG_INPUT), chunk_entry("get"), chunk_entry("add", args=[1, 2])]
    body = _chunk(jobs, SMALL)
    first, second, third = body.chunk
    assert first["code"] == ErrorCode.RESULT_TOO_LARGE and first["writes"] == {}
    assert second["status"] == Status.OK and second["output"] == b""  # the big write was not seen
    assert third["results"] == [3]
    assert len(p.pack(m.Final(body, m.CacheReport(0, 0)).to_body())) <= SMALL.max_body


def test_a_chunk_ends_before_a_call_whose_result_fits_alone_but_not_beside_the_earlier_ones() -> None:
    half = bytes(7_000)  # two of these fit in no FINAL under SMALL, one does
    jobs = [chunk_entry("echo", input=half), chunk_entry("echo", input=half), chunk_entry("add", args=[1, 2])]
    body = _chunk(jobs, SMALL)
    [first] = body.chunk  # the broker re-issues the rest (a chunk ended early: not a loss)
    assert first["status"] == Status.OK and first["output"] == half
    assert len(p.pack(m.Final(body, m.CacheReport(0, 0)).to_body())) <= SMALL.max_body


# --- grouping results into one FINAL ------------------------------------------------------------


def test_kept_results_go_alone_before_a_result_that_would_not_fit_beside_them() -> None:
    session = WorkerSession(WorkerConfig(limits=SMALL), FakeCache(), Clock(), pid=1)
    for n in range(6):
        session.heard(p.encode(p.WORKER_TAG, Command.REQUEST, b"j%d" % n, {**job("add"), "args": [n, 1]}))
    sized = m.CallResult(Status.OK, ErrorCode.OK, output=bytes(5_000))
    assert session.make_room(sized) is None  # nothing kept yet
    assert session.finished(b"a", sized, leaving=False) is None
    assert session.make_room(sized) is None  # two fit together
    assert session.finished(b"b", sized, leaving=False) is None
    flushed = sent(session.make_room(sized))  # a third would not: the two go first
    assert [job_id for job_id, _ in flushed.body["finals"]] == [b"a", b"b"]
    assert session.finished(b"c", sized, leaving=False) is None  # kept, alone now
    chunk = m.ChunkFinal([m.ChunkCallResult.of(sized, [[b"k", -1]]).to_body()] * 2)
    alone = sent(session.make_room(chunk))  # a block chunk's results count too
    assert alone.request_id == b"c" and "finals" not in alone.body
    final = sent(session.finished(b"d", chunk, leaving=False))
    assert final.request_id == b"d" and len(final.body["chunk"]) == 2
    small_chunk = m.ChunkFinal([m.ChunkCallResult.of(m.CallResult(Status.OK, ErrorCode.OK), []).to_body()])
    assert session.finished(b"e", sized, leaving=False) is None
    assert session.make_room(small_chunk) is None  # room for both: they go together
    together = sent(session.finished(b"f", small_chunk, leaving=False))
    assert [job_id for job_id, _ in together.body["finals"]] == [b"e", b"f"]
    for frames in (flushed, alone, final, together):
        assert frames.command is Command.FINAL
        assert len(p.pack(frames.body)) <= SMALL.max_body


# --- with a real broker and worker ----------------------------------------------------------------

BIG_SPRAY = [20, 100_000]  # 2 MB of writes, twice the pool's limit
POOL_CONFIG = dataclasses.replace(TEST_CONFIG, default_timeout=15.0)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    """A broker with the tests' 1 MiB message limit and one worker process configured with the same limits."""
    db = tmp_path_factory.mktemp("result_size") / "state.db"
    broker = Broker(f"sqlite:{db}", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", config=POOL_CONFIG)
    try:
        pool = Pool(BrokerThread(broker).start())
    except BaseException:
        broker.close()
        raise
    try:
        config = WorkerConfig(endpoint=pool.backend, heartbeat=0.2, limits=TEST_LIMITS)
        pool.workers = start_workers(config, 1)
        pool.wait_for_workers(1)
        yield pool
    finally:
        pool.stop()


def _call(code_id: str, function: str, args: list[int]) -> dict[str, Any]:
    return {"op": "call", "code_id": code_id, "function": function, "args": args, "gas_limit": 10**9}


def test_an_oversized_result_is_answered_promptly_and_the_call_behind_it_succeeds(limited: Pool) -> None:
    with limited.client() as client:
        code_id = client.deploy(unique(spray()))
    sock = dealer(limited.frontend)
    big, small = os.urandom(8), os.urandom(8)
    try:  # one worker with credits to spare: the second call waits on it behind the first
        sock.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, big, _call(code_id, "spray", BIG_SPRAY)))
        sock.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, small, _call(code_id, "spray", [2, 10])))
        answers: dict[bytes, dict[str, Any]] = {}
        while len(answers) < 2:
            # well before the calls' 15 s time limit: an unanswered call would end in TIMEOUT only then
            assert sock.poll(12_000), f"answered: {sorted(answers)}"
            message = p.decode_reply(sock.recv_multipart(), TEST_LIMITS)
            answers[message.request_id] = message.body
        assert answers[big]["code"] == ErrorCode.RESULT_TOO_LARGE and answers[big]["status"] == "error"
        assert str(TEST_LIMITS.max_body - m.RESULT_ROOM) in answers[big]["error"]
        assert answers[small]["code"] == ErrorCode.OK and answers[small]["status"] == "ok"
        sock.send_multipart(p.encode(p.CLIENT_TAG, Command.REQUEST, big, _call(code_id, "spray", BIG_SPRAY)))
        assert sock.poll(12_000)
        again = p.decode_reply(sock.recv_multipart(), TEST_LIMITS)
        assert again.request_id == big
        assert {k: again.body[k] for k in ("status", "code", "error")} == {
            k: answers[big][k] for k in ("status", "code", "error")}
    finally:
        sock.close(linger=0)
    with Client(limited.frontend, timeout=10.0) as client:
        assert client.state_get(code_id, bytes(range(4)))[0] == bytes(10)  # the small call's write
        assert client.state_get(code_id, bytes(range(5, 9)))[0] is None  # nothing of the big one
        result = client.call(code_id, "spray", BIG_SPRAY, gas_limit=10**9)
    assert (result.status, result.code, result.writes) == (Status.ERROR, ErrorCode.RESULT_TOO_LARGE, {})
    assert result.gas_used > 0


def test_in_a_block_an_oversized_call_fails_alone_and_big_results_need_several_chunks(limited: Pool) -> None:
    with limited.client() as client:
        code_id = client.deploy(unique(spray()))
        # chunks of three calls or so: three results of 400 kB do not fit in one FINAL, two do
        calls = [BlockCall(code_id, "spray", (20, 100_000), gas_limit=10**9),  # 2 MB: over the limit
                 *[BlockCall(code_id, "spray", (4, 100_000), gas_limit=10**9)] * 10,
                 BlockCall(code_id, "spray", (2, 10), gas_limit=10**9)]
        before = client.stats()["counters"].get("block_tasks", 0)
        result = client.execute_block(calls, timeout=12.0)  # answered, not failed at its time limit
        chunks = client.stats()["counters"]["block_tasks"] - before
    big, *large, small = result.receipts
    assert big.status == Status.ERROR and big.error is not None and "too large" in big.error
    assert big.writes == ()
    assert [r.status for r in (*large, small)] == [Status.OK] * 11
    assert all(len(r.writes) == 4 for r in large) and len(small.writes) == 2
    assert chunks > 1


def test_a_worker_sizes_results_by_the_limit_the_broker_announces(pool: Pool) -> None:
    """Workers started with the default limits (as ``wasmpool worker`` is) adopt the broker's smaller one."""
    with pool.client() as client:
        code_id = client.deploy(unique(spray()))
        started = time.monotonic()
        result = client.call(code_id, "spray", BIG_SPRAY, gas_limit=10**9)
        assert result.code == ErrorCode.RESULT_TOO_LARGE and result.status == "error"
        assert str(TEST_LIMITS.max_body - m.RESULT_ROOM) in (result.error or "")
        assert time.monotonic() - started < TEST_CONFIG.default_timeout  # answered, not timed out
        assert client.call(code_id, "spray", [2, 10], gas_limit=10**9).status == "ok"


def test_the_session_adopts_the_announced_limit() -> None:
    session = WorkerSession(WorkerConfig(endpoint="tcp://127.0.0.1:1"), FakeCache(), Clock())
    assert session.room == m.result_room(p.DEFAULT_LIMITS)
    frames = p.encode(p.WORKER_TAG, Command.HEARTBEAT, b"hb", Liveness().announce(TEST_LIMITS.max_body))
    session.heard(frames)
    assert session.room == m.result_room(dataclasses.replace(p.DEFAULT_LIMITS, max_body=TEST_LIMITS.max_body))
    assert session.result_limits.max_body == TEST_LIMITS.max_body
