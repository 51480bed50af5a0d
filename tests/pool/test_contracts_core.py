"""The broker core's contract decisions, socket-free: what an instantiate or migrate job carries,
what commits when its call ends ok or not, reads served from the contract's namespace, the query gas cap."""

from __future__ import annotations

from typing import Any

import pytest

from tests.pool.test_core import OTHER, PROBE_ID, Harness, job_of, only_client_reply
from wasmpool.broker import contracts
from wasmpool.broker.outgoing import Side
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode

W = b"worker-1"
ALICE = b"alice"


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    harness.deploy()
    harness.ready(W, [PROBE_ID])
    return harness


def job_body(h: Harness, outs: Any) -> tuple[bytes, dict[str, Any]]:
    job_id = job_of(outs, W)
    (sent,) = [o for o in outs if o.identity == W]
    return job_id, p.unpack(sent.frames[3])


def instantiate(h: Harness, salt: bytes = b"s", **fields: Any) -> tuple[bytes, dict[str, Any]]:
    return job_body(h, h.client({"op": "instantiate", "code_id": PROBE_ID, "salt": salt, "caller": ALICE,
                                 "input": b"init", **fields}))


def test_an_instantiate_job_runs_the_optional_export_in_the_new_namespace(h: Harness) -> None:
    _, body = instantiate(h, admin=ALICE)
    address = p.contract_address(ALICE, PROBE_ID, b"s")
    assert body["function"] == "instantiate" and body["optional"] is True and body["address"] == address
    assert body["context"] == {"caller": ALICE} and body["input"] == b"init"


def test_an_ok_instantiate_commits_record_history_and_writes_in_one_commit(h: Harness) -> None:
    job_id, body = instantiate(h)
    address = body["address"]
    read = h.callback(W, job_id, 1, op="get", key=b"k")
    assert read["value"] is None
    sequence = h.store.sequence()
    _, reply = only_client_reply(h.final(W, job_id, writes={b"k": b"v"}))
    assert reply["status"] == "ok" and reply["address"] == address.hex()
    assert h.store.sequence() == sequence + 1  # one commit
    assert h.store.get(address.hex(), b"k").value == b"v" and h.store.get(PROBE_ID, b"k").value is None
    contract = contracts.lookup(h.store, address)
    assert contract is not None and contract.code_id == PROBE_ID and contract.admin is None


@pytest.mark.parametrize("status, code", [("reverted", ErrorCode.REVERTED), ("trap", ErrorCode.TRAP)])
def test_a_failed_instantiate_leaves_nothing(h: Harness, status: str, code: ErrorCode) -> None:
    job_id, body = instantiate(h)
    sequence = h.store.sequence()
    _, reply = only_client_reply(h.final(W, job_id, status=status, code=code, writes={b"k": b"v"}))
    assert reply["status"] == status and "address" not in reply
    assert h.store.sequence() == sequence and contracts.lookup(h.store, body["address"]) is None


def test_calls_by_address_read_the_contracts_namespace_and_queries_are_capped(h: Harness) -> None:
    job_id, body = instantiate(h)
    h.final(W, job_id, writes={b"k": b"mine"})
    address = body["address"].hex()
    job_id, call = job_body(h, h.client({"op": "query", "code_id": address, "function": "get",
                                         "gas_limit": 10**9}))
    assert call["code_id"] == PROBE_ID and call["address"] == body["address"] and "optional" not in call
    assert call["gas_limit"] == h.core.config.query_gas
    assert h.callback(W, job_id, 1, op="get", key=b"k")["value"] == b"mine"


def test_an_unknown_address_and_a_taken_one_are_refused(h: Harness) -> None:
    command, reply = only_client_reply(h.call("get", code_id="ab" * 20))
    assert command is Command.ERROR and reply["code"] == ErrorCode.UNKNOWN_CONTRACT
    job_id, _ = instantiate(h)
    h.final(W, job_id)
    command, reply = only_client_reply(h.client({"op": "instantiate", "code_id": PROBE_ID, "salt": b"s",
                                                 "caller": ALICE}))
    assert command is Command.ERROR and reply["code"] == ErrorCode.CONTRACT_EXISTS


def test_two_racing_instantiates_of_one_address_create_it_once(h: Harness) -> None:
    h.ready(b"worker-2", [PROBE_ID])
    first = h.client({"op": "instantiate", "code_id": PROBE_ID, "salt": b"r", "caller": ALICE})
    second = h.client({"op": "instantiate", "code_id": PROBE_ID, "salt": b"r", "caller": ALICE},
                      identity=b"client-2")  # another client: its own share of the workers
    (one,), (two,) = [[o for o in outs if o.side.name == "BACKEND"] for outs in (first, second)]
    _, reply = only_client_reply(h.final(one.identity, one.frames[2], writes={b"k": b"1"}))
    assert reply["status"] == "ok"
    _, reply = only_client_reply(h.final(two.identity, two.frames[2], writes={b"k": b"2"}))
    assert reply["status"] == "error" and reply["code"] == ErrorCode.CONTRACT_EXISTS
    address = p.contract_address(ALICE, PROBE_ID, b"r").hex()
    assert h.store.get(address, b"k").value == b"1"


def test_a_block_runs_the_code_a_contract_has_when_the_block_starts(h: Harness) -> None:
    other = h.deploy(OTHER)
    job_id, body = instantiate(h, admin=ALICE)
    h.final(W, job_id)
    address = body["address"].hex()
    job_id, moving = job_body(h, h.client({"op": "migrate", "address": address, "code_id": other,
                                           "caller": ALICE}))
    assert moving["function"] == "migrate" and moving["code_id"] == other
    accepted = h.client({"op": "block", "calls": [{"code_id": address, "function": "get"}]},
                        identity=b"client-2")
    assert not [o for o in accepted if o.side is Side.BACKEND]  # it waits for the migrate in flight
    outs = h.final(W, job_id)  # the migrate commits; the block starts on the freed worker
    _, chunk = job_body(h, outs)
    assert chunk["code_id"] == other and chunk["address"] == body["address"]
