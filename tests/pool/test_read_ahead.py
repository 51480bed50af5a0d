"""Reads answered ahead (``broker.ahead``): likely reads sent with a call, the outcome as with asked ones.

The core is driven with frames and a fake clock (as in ``test_core``); the
worker's reader on its own; then a real pool, where the same calls give
the same results, gas and writes with and without reads ahead, and fewer
round trips with them.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgpack
import pytest

from tests.pool.conftest import Pool
from tests.pool.test_commands import wasmpool
from tests.pool.test_core import PROBE_ID, Harness, only_client_reply
from wasmpool.broker import ahead
from wasmpool.broker.ahead import ReadHints
from wasmpool.broker.outgoing import Outgoing, Side
from wasmpool.broker.state import MemoryStore, Versioned
from wasmpool.cli import broker as broker_command
from wasmpool.client import Client
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command
from wasmpool.worker.readers import BrokerState


def sent_job(outs: list[Outgoing], identity: bytes) -> tuple[bytes, dict[str, Any]]:
    """The job id and body of the REQUEST sent to ``identity`` among ``outs``."""
    (out,) = [o for o in outs if o.side is Side.BACKEND and o.identity == identity
              and o.frames[1] == bytes((Command.REQUEST,))]
    return out.frames[2], msgpack.unpackb(out.frames[3])


def run_reading(h: Harness, worker: bytes, keys: list[bytes], function: str = "f") -> None:
    """One ok call of ``function`` on idle ``worker`` that reads ``keys`` by CALLBACK."""
    job, _ = sent_job(h.call(function), worker)
    for seq, key in enumerate(keys, 1):
        h.callback(worker, job, seq, op="get", key=key)
    assert only_client_reply(h.final(worker, job))[1]["status"] == "ok"


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.deploy()
    harness.ready(b"w")
    return harness


# --- learning ------------------------------------------------------------------------------------


def test_keys_two_ok_calls_of_an_export_both_read_go_with_the_next_call(h: Harness) -> None:
    h.store.commit(PROBE_ID, {}, {b"supply": b"100"})
    run_reading(h, b"w", [b"supply", b"alice"])
    job, body = sent_job(h.call("f"), b"w")
    assert "prefetched" not in body  # one call is not a pattern yet
    h.callback(b"w", job, 1, op="get", key=b"supply")
    h.callback(b"w", job, 2, op="get", key=b"bob")
    h.final(b"w", job)
    _, body = sent_job(h.call("f"), b"w")
    assert body["prefetched"] == [[b"supply", b"100"]]  # read by both; the accounts differ
    assert h.core.counters["read_ahead"] == 1


def test_another_export_learns_apart(h: Harness) -> None:
    run_reading(h, b"w", [b"k"], "f")
    run_reading(h, b"w", [b"k"], "f")
    _, body = sent_job(h.call("g"), b"w")
    assert "prefetched" not in body


def test_a_key_the_latest_call_did_not_read_is_no_longer_sent(h: Harness) -> None:
    run_reading(h, b"w", [b"a", b"b"])
    run_reading(h, b"w", [b"a", b"b"])
    job, body = sent_job(h.call("f"), b"w")
    assert [key for key, _ in body["prefetched"]] == [b"a", b"b"]
    h.final(b"w", job, ahead=[0])  # this call read only a (answered ahead)
    _, body = sent_job(h.call("f"), b"w")
    assert [key for key, _ in body["prefetched"]] == [b"a"]


def test_a_failed_call_teaches_nothing(h: Harness) -> None:
    for _ in range(2):
        job, _ = sent_job(h.call("f"), b"w")
        h.callback(b"w", job, 1, op="get", key=b"k")
        h.final(b"w", job, status="trap", code=20)
    _, body = sent_job(h.call("f"), b"w")
    assert "prefetched" not in body


def test_hints_are_bounded_by_functions_keys_and_key_length() -> None:
    hints = ReadHints(max_functions=2)
    for name in ("a", "b", "c"):
        hints.learn("space", name, [b"k"])
        hints.learn("space", name, [b"k"])
    assert len(hints) == 2 and hints.keys("space", "a") == ()  # the least recently used went first
    assert hints.keys("space", "c") == (b"k",)
    many = [b"%d" % i for i in range(ahead.MAX_LEARNED_KEYS + 10)]
    long_key = bytes(ahead.MAX_LEARNED_KEY + 1)
    hints.learn("space", "c", [long_key, *many])
    hints.learn("space", "c", [long_key, *many])
    assert hints.keys("space", "c") == tuple(many[:ahead.MAX_LEARNED_KEYS])


# --- declared keys ---------------------------------------------------------------------------------


def test_declared_keys_go_with_the_first_call_and_absent_ones_as_nil(h: Harness) -> None:
    h.store.commit(PROBE_ID, {}, {b"x": b"1"})
    _, body = sent_job(h.call("f", access=[b"x", b"nothing", b"x"]), b"w")
    assert body["prefetched"] == [[b"x", b"1"], [b"nothing", None]]


def test_reads_ahead_stop_at_the_bytes_the_request_has_room_for() -> None:
    h = Harness(limits=p.ProtocolLimits(max_body=64 * 1024))
    h.deploy()
    h.ready(b"w")
    h.store.commit(PROBE_ID, {}, {b"a": bytes(5000), b"b": bytes(20_000), b"c": b"small"})
    _, body = sent_job(h.call("f", access=[b"a", b"b", b"c"]), b"w")
    assert [key for key, _ in body["prefetched"]] == [b"a"]  # b would pass a quarter of the body limit


def test_a_job_waiting_behind_another_at_its_worker_gets_no_reads_ahead() -> None:
    h = Harness()
    h.deploy()
    h.worker(b"w", Command.READY, body={"credits": 2})
    h.store.commit(PROBE_ID, {}, {b"x": b"1"})
    first = h.call("f", access=[b"x"])
    second = h.call("f", access=[b"x"])
    assert "prefetched" in sent_job(first, b"w")[1]
    assert "prefetched" not in sent_job(second, b"w")[1]  # the first may commit x before it runs


def test_a_store_that_cannot_read_sends_the_job_without_reads_ahead() -> None:
    class Failing(MemoryStore):
        def get(self, code_id: str, key: bytes) -> Versioned:
            raise sqlite3.OperationalError("disk I/O error")

    h = Harness()
    h.store = Failing()
    h.core.store = h.store
    h.deploy()
    h.ready(b"w")
    _, body = sent_job(h.call("f", access=[b"x"]), b"w")
    assert "prefetched" not in body and body["function"] == "f"
    assert h.core.counters["storage_errors"] == 1


# --- validation ------------------------------------------------------------------------------------


def test_a_read_ahead_the_call_read_is_validated_at_commit(h: Harness) -> None:
    h.store.commit(PROBE_ID, {}, {b"x": b"1"})
    job, _ = sent_job(h.call("f", access=[b"x"]), b"w")
    h.store.commit(PROBE_ID, {}, {b"x": b"2"})  # another call committed meanwhile
    outs = h.final(b"w", job, writes={b"y": b"from 1"}, ahead=[0])
    assert [o for o in outs if o.side is Side.FRONTEND] == []  # stale: executed again
    assert h.core.counters["reexecutions"] == 1
    retry, body = sent_job(outs, b"w")
    assert body["prefetched"] == [[b"x", b"2"]]  # the new attempt reads the fresh value ahead
    _, reply = only_client_reply(h.final(b"w", retry, writes={b"y": b"from 2"}, ahead=[0]))
    assert reply["status"] == "ok" and reply["attempts"] == 2 and "ahead" not in reply
    assert h.store.get(PROBE_ID, b"y").value == b"from 2"


def test_a_read_ahead_the_call_did_not_read_makes_no_conflict(h: Harness) -> None:
    job, _ = sent_job(h.call("f", access=[b"x"]), b"w")
    h.store.commit(PROBE_ID, {}, {b"x": b"2"})
    _, reply = only_client_reply(h.final(b"w", job, writes={b"y": b"v"}))
    assert reply["status"] == "ok" and h.core.counters["reexecutions"] == 0


def test_a_query_checks_its_reads_ahead_before_it_is_answered(h: Harness) -> None:
    query = {"op": "query", "code_id": PROBE_ID, "function": "f", "access": [b"x"]}
    job, _ = sent_job(h.client(query), b"w")
    h.store.commit(PROBE_ID, {}, {b"x": b"2"})
    outs = h.final(b"w", job, ahead=[0])
    assert [o for o in outs if o.side is Side.FRONTEND] == [] and h.core.counters["reexecutions"] == 1


def test_an_index_past_the_reads_sent_is_ignored(h: Harness) -> None:
    job, _ = sent_job(h.call("f", access=[b"x"]), b"w")
    _, reply = only_client_reply(h.final(b"w", job, ahead=[0, 7]))
    assert reply["status"] == "ok" and h.core.counters["read_ahead_used"] == 1


def test_a_result_with_a_malformed_ahead_is_dropped_and_commits_nothing(h: Harness) -> None:
    job, _ = sent_job(h.call("f", access=[b"x"]), b"w")
    assert h.final(b"w", job, writes={b"y": b"v"}, ahead=["zero"]) == []
    assert h.core.counters["dropped"] == 1 and h.store.sequence() == 0


# --- the worker's reader ---------------------------------------------------------------------------


def test_the_reader_answers_reads_ahead_without_asking_and_lists_them_in_read_order() -> None:
    asked: list[bytes] = []

    def ask(question: Any) -> m.ReadReply:
        callback = question(1)
        asked.append(callback.key)
        return m.ReadReply(1, b"asked", 3)

    reader = BrokerState(ask, [[b"a", b"1"], [b"b", None], [b"a", b"shadowed"]])
    assert reader.get(b"b") is None and reader.get(b"a") == b"1"
    assert reader.get(b"c") == b"asked" and asked == [b"c"]
    assert reader.ahead == [1, 0]
    assert reader.get(b"a") == b"asked" and reader.ahead == [1, 0]  # a second read is a new question


def test_with_entry_appends_to_every_map_header_size() -> None:
    for size in (0, 1, 14, 15, 16, 65_534, 65_535):
        body = {f"k{i}": i for i in range(size)}
        grown = p.with_entry(p.pack(body), "prefetched", [[b"k", None]])
        assert msgpack.unpackb(grown) == {**body, "prefetched": [[b"k", None]]}
    with pytest.raises(ValueError, match="not a packed msgpack map"):
        p.with_entry(p.pack({"a": 1})[1:], "x", 1)


# --- a real pool -----------------------------------------------------------------------------------


def _outcome(result: Any) -> tuple[Any, ...]:
    return result.status, result.results, result.output, result.gas_used, result.writes


def _transfers(client: Client, token: str, salt: bytes, access: list[bytes] | None) -> list[tuple[Any, ...]]:
    """A new token contract of ``token``'s code: a mint, then three transfers (each declaring ``access``)."""
    address = client.instantiate(token, salt=salt, caller=b"alice").address
    alice = {"caller": b"alice"}
    outcomes = [_outcome(client.call(address, "mint", input=b"alice 1000", context=alice, access=access))]
    for _ in range(3):
        transfer = client.call(address, "transfer", input=b"bob 5", context=alice, access=access)
        outcomes.append(_outcome(transfer))
    return outcomes


def test_in_a_pool_reads_ahead_change_round_trips_not_outcomes(client: Client, token: str) -> None:
    before = client.stats()["counters"]
    asked = _transfers(client, token, b"asked", None)
    after_asked = client.stats()["counters"]
    declared = _transfers(client, token, b"declared", [b"bal:alice", b"bal:bob", b"supply", b"owner"])
    after = client.stats()["counters"]
    assert asked == declared  # status, results, output, gas and writes, call by call
    balances = {b"bal:alice": (985).to_bytes(8, "little"), b"bal:bob": (15).to_bytes(8, "little")}
    assert declared[-1][4] == balances
    used_asked = after_asked.get("read_ahead_used", 0) - before.get("read_ahead_used", 0)
    used = after.get("read_ahead_used", 0) - after_asked.get("read_ahead_used", 0)
    assert used >= 8 > used_asked  # each transfer read both balances ahead; without access, learned only
    callbacks_asked = after_asked.get("callbacks", 0) - before.get("callbacks", 0)
    assert after["callbacks"] - after_asked["callbacks"] <= callbacks_asked - 8


def test_the_cli_sends_declared_keys(pool: Pool, client: Client, token: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert client.call(token, "mint", input=b"alice 77", context={"caller": b"alice"}).ok
    before = client.stats()["counters"].get("read_ahead_used", 0)
    status, out, _ = wasmpool(pool, capsys, "query", token, "total_supply", "--access", "supply",
                              "--access", "0x6f776e6572")
    assert status == 0 and "results:  77" in out
    assert client.stats()["counters"]["read_ahead_used"] == before + 1  # supply read; owner sent, not read


def test_a_broker_without_read_ahead_sends_none() -> None:
    h = Harness(read_ahead=False)
    h.deploy()
    h.ready(b"w")
    _, body = sent_job(h.call("f", access=[b"x"]), b"w")
    assert "prefetched" not in body


def test_the_broker_command_turns_read_ahead_off() -> None:
    parser = broker_command.argparse.ArgumentParser()
    broker_command.configure(parser)
    assert broker_command.broker_config(parser.parse_args([])).read_ahead
    assert not broker_command.broker_config(parser.parse_args(["--no-read-ahead"])).read_ahead
