"""Typed wire messages: the exact bodies the pool sends, checked decoding, and the tie to the schemas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.liveness import Liveness
from wasmpool.wire.protocol import Command, ErrorCode, Op, Status

CODE_ID = "ab" * 32
CONTEXT = {"caller": b"alice", "height": 7, "time": 99}
SUCCESS = m.CallResult(Status.OK, ErrorCode.OK, [3], b"out", 12, [b"log"], {b"k": b"v", b"gone": None}, None)
SUCCESS_BODY = {"status": Status.OK, "code": ErrorCode.OK, "results": [3], "output": b"out", "gas_used": 12,
                "logs": [b"log"], "writes": {b"k": b"v", b"gone": None}, "error": None}


def job(**extra: Any) -> m.Job:
    return m.Job(code_id=CODE_ID, function="transfer", args=[1, 2.5], input=b"in", context=CONTEXT,
                 gas_limit=1000, timeout=2.0, readonly=False, **extra)


JOB_BODY = {"code_id": CODE_ID, "function": "transfer", "args": [1, 2.5], "input": b"in", "context": CONTEXT,
            "gas_limit": 1000, "timeout": 2.0, "readonly": False}

SENT_TODAY: dict[str, tuple[Any, dict[str, Any]]] = {
    "job": (job(), JOB_BODY),
    "chunk-entry": (job(prefetched=[[b"k", b"v"], [b"n", None]]),
                    {**JOB_BODY, "prefetched": [[b"k", b"v"], [b"n", None]]}),
    "chunk-after": (job(chunk=[JOB_BODY], after=b"j1"), {**JOB_BODY, "chunk": [JOB_BODY], "after": b"j1"}),
    "batch": (m.JobBatch([[b"j1", b"\x80"], [b"j2", b"\x80"]]),
              {"jobs": [[b"j1", b"\x80"], [b"j2", b"\x80"]]}),
    "read-reply": (m.ReadReply(4, b"v", 9), {"seq": 4, "value": b"v", "version": 9}),
    "read-reply-absent": (m.ReadReply(4, None, 0), {"seq": 4, "value": None, "version": 0}),
    "block-read-reply": (m.ReadReply(4, b"v"), {"seq": 4, "value": b"v"}),
    "code-reply": (m.CodeReply(5, b"\0asm"), {"seq": 5, "code": b"\0asm"}),
    "code-reply-none": (m.CodeReply(5, None), {"seq": 5, "code": None}),
    "refused-reply": (m.RefusedReply(6, "no such job on this broker"),
                      {"seq": 6, "error": "no such job on this broker"}),
    "heartbeat": (m.Heartbeat(), {}),
    "disconnect": (m.Disconnect(), {}),
    "heartbeat-announce": (m.Heartbeat(1.5, 4), {"interval": 1.5, "liveness": 4}),
    "ready": (m.Ready.of(m.CacheReport(3, 1, [CODE_ID]), pid=42, credits=2),
              {"hits": 3, "misses": 1, "cache": [CODE_ID], "pid": 42, "heartbeats": True, "credits": 2}),
    "ready-cache-unchanged": (m.Ready.of(m.CacheReport(3, 1), pid=42, credits=1),
                              {"hits": 3, "misses": 1, "pid": 42, "heartbeats": True, "credits": 1}),
    "get": (m.ReadCallback(b"k", 7), {"op": Op.GET, "key": b"k", "seq": 7}),
    "chunk-get": (m.ReadCallback(b"k", 7, index=2), {"op": Op.GET, "key": b"k", "index": 2, "seq": 7}),
    "code": (m.CodeCallback(8), {"op": Op.CODE, "seq": 8}),
    "chunk-code": (m.CodeCallback(8, index=0), {"op": Op.CODE, "index": 0, "seq": 8}),
    "result": (SUCCESS, SUCCESS_BODY),
    "failed": (m.CallResult.failed(ErrorCode.OUT_OF_GAS, "out of gas", gas_used=1000, logs=[b"l"]),
               {"status": Status.OUT_OF_GAS, "code": ErrorCode.OUT_OF_GAS, "results": [], "output": b"",
                "gas_used": 1000, "logs": [b"l"], "writes": {}, "error": "out of gas"}),
    "chunk-call-result": (m.ChunkCallResult.of(SUCCESS, [[b"k", -1], [b"j", 0]]),
                          {**SUCCESS_BODY, "reads": [[b"k", -1], [b"j", 0]]}),
    "final": (m.Final(SUCCESS, m.CacheReport(1, 0)), {**SUCCESS_BODY, "hits": 1, "misses": 0}),
    "final-leaving": (m.Final(SUCCESS, m.CacheReport(1, 0, [CODE_ID]), leaving=True),
                      {**SUCCESS_BODY, "hits": 1, "misses": 0, "cache": [CODE_ID], "leaving": True}),
    "chunk-final": (m.Final(m.ChunkFinal([{**SUCCESS_BODY, "reads": []}]), m.CacheReport(0, 1)),
                    {"status": Status.OK, "code": ErrorCode.OK, "chunk": [{**SUCCESS_BODY, "reads": []}],
                     "hits": 0, "misses": 1}),
    "finals": (m.Finals([[b"j1", SUCCESS_BODY], [b"j2", SUCCESS_BODY]], m.CacheReport(2, 0)),
               {"finals": [[b"j1", SUCCESS_BODY], [b"j2", SUCCESS_BODY]], "hits": 2, "misses": 0}),
    "deploy": (m.DeployRequest(b"\0asm"), {"op": Op.DEPLOY, "code": b"\0asm"}),
    "call": (m.CallRequest(Op.CALL, CODE_ID, "f", [1]), {"op": Op.CALL, "code_id": CODE_ID, "function": "f",
                                                         "args": [1]}),
    "query-with-options": (m.CallRequest(Op.QUERY, CODE_ID, "f", [], b"x", CONTEXT, 50, 1.5),
                           {"op": Op.QUERY, "code_id": CODE_ID, "function": "f", "args": [], "input": b"x",
                            "context": CONTEXT, "gas_limit": 50, "timeout": 1.5}),
    "stats": (m.StatsRequest(), {"op": Op.STATS}),
    "state-get": (m.StateGetRequest(CODE_ID, b"k"), {"op": Op.STATE_GET, "code_id": CODE_ID, "key": b"k"}),
    "block": (m.BlockRequest([{"code_id": CODE_ID, "function": "f"}]),
              {"op": Op.BLOCK, "calls": [{"code_id": CODE_ID, "function": "f"}], "dry_run": False}),
    "block-with-options": (m.BlockRequest([], True, b"r" * 32, 3.0),
                           {"op": Op.BLOCK, "calls": [], "dry_run": True, "state_root": b"r" * 32,
                            "timeout": 3.0}),
    "deploy-reply": (m.DeployReply(CODE_ID), {"code_id": CODE_ID}),
    "state-reply": (m.StateReply(b"v", 3), {"value": b"v", "version": 3}),
    "error": (m.ErrorReply(ErrorCode.BUSY, "full"), {"code": 8, "message": "full"}),
    "error-with-limit": (m.ErrorReply(ErrorCode.BAD_REQUEST, "too much gas", "max_gas"),
                         {"code": 5, "message": "too much gas", "limit": "max_gas"}),
}
"""Each message and the body the pool built by hand for it before (keys in the same order)."""


@pytest.mark.parametrize(("message", "body"), SENT_TODAY.values(), ids=SENT_TODAY.keys())
def test_to_body_is_the_body_sent_before(message: Any, body: dict[str, Any]) -> None:
    sent = message.to_body()
    assert sent == body
    assert list(sent) == list(body)  # same key order: the same msgpack bytes
    assert p.pack(sent) == p.pack(body)


@pytest.mark.parametrize(("message", "body"), SENT_TODAY.values(), ids=SENT_TODAY.keys())
def test_from_body_gives_the_message_back(message: Any, body: dict[str, Any]) -> None:
    kind = type(message)
    decoded = kind.from_body(p.unpack(p.pack(body)))
    assert decoded == message
    assert decoded.to_body() == body


def test_a_chunk_is_its_first_job_without_prefetched_then_chunk_and_after() -> None:
    first = job(prefetched=[[b"k", None]]).to_body()
    second = {**JOB_BODY, "function": "mint"}
    body = m.Job.chunk_of([first, second], after=b"j0")
    assert body == {**JOB_BODY, "chunk": [first, second], "after": b"j0"}
    assert list(body) == [*JOB_BODY, "chunk", "after"]
    assert m.Job.from_body(body) == job(chunk=[first, second], after=b"j0")
    assert "after" not in m.Job.chunk_of([second])


def test_the_per_call_builders_give_the_messages_bodies() -> None:
    assert m.CallRequest.body(Op.QUERY, CODE_ID, "f", [], b"x", CONTEXT, 50, 1.5) == \
        SENT_TODAY["query-with-options"][1]
    assert m.CallRequest.body(Op.CALL, CODE_ID, "f", [1]) == SENT_TODAY["call"][1]
    assert m.Job.body(CODE_ID, "transfer", [1, 2.5], b"in", CONTEXT, 1000, 2.0, False) == job().to_body()
    assert m.CallResult.body(Status.OK, ErrorCode.OK, [3], b"out", 12, [b"log"], {b"k": b"v", b"gone": None},
                             None) == SUCCESS.to_body()


def test_the_schema_decoders_pick_the_class() -> None:
    assert m.callback({"op": "get", "key": b"k", "seq": 1}) == m.ReadCallback(b"k", 1)
    assert m.callback({"op": "code", "seq": 2, "index": 1}) == m.CodeCallback(2, 1)
    assert m.callback_reply({"seq": 1, "error": "over"}) == m.RefusedReply(1, "over")
    assert m.callback_reply({"seq": 1, "code": None}) == m.CodeReply(1, None)
    assert m.callback_reply({"seq": 1, "value": b"v"}) == m.ReadReply(1, b"v")
    assert m.client_request({"op": "query", "code_id": CODE_ID, "function": "f"}) == \
        m.CallRequest(Op.QUERY, CODE_ID, "f")
    assert m.client_request({"op": "stats"}) == m.StatsRequest()


def test_from_body_gives_the_op_as_an_op() -> None:
    request = m.client_request({"op": "call", "code_id": CODE_ID, "function": "f"})
    assert request.op is Op.CALL


def test_from_body_ignores_unknown_fields() -> None:
    assert m.DeployReply.from_body({"code_id": CODE_ID, "later": 1}) == m.DeployReply(CODE_ID)


def test_absent_optional_fields_take_the_defaults_the_broker_assumes() -> None:
    assert m.Ready.from_body({}) == m.Ready(None, None, None, None, heartbeats=False, credits=1)
    assert m.Job.from_body({"code_id": CODE_ID, "function": "f", "gas_limit": 1, "timeout": 1.0,
                            "readonly": True}).to_body() == {
        "code_id": CODE_ID, "function": "f", "args": [], "input": b"", "context": {}, "gas_limit": 1,
        "timeout": 1.0, "readonly": True}


REFUSED: dict[str, tuple[Any, dict[str, Any], type[errors.PoolError], str]] = {
    "job-without-gas": (m.Job, {**JOB_BODY, "gas_limit": None}, errors.BadRequest, "gas_limit"),
    "job-missing-readonly": (m.Job, {k: v for k, v in JOB_BODY.items() if k != "readonly"},
                             errors.BadRequest, "missing field 'readonly'"),
    "result-bad-status": (m.CallResult, {**SUCCESS_BODY, "status": "fine"}, errors.BadRequest, "status"),
    "chunk-result-without-reads": (m.ChunkCallResult, SUCCESS_BODY, errors.BadRequest, "reads"),
    "reply-without-seq": (m.ReadReply, {"value": b"v"}, errors.BadRequest, "seq"),
    "ready-too-many-credits": (m.Ready, {"credits": p.MAX_CREDITS + 1}, errors.BadRequest, "credits"),
    "heartbeat-zero-interval": (m.Heartbeat, {"interval": 0}, errors.BadRequest, "interval"),
    "deploy-without-op": (m.DeployRequest, {"code": b""}, errors.BadRequest, "unknown op None"),
    "deploy-as-call": (m.DeployRequest, {"op": "call", "code": b""}, errors.BadRequest, "unknown op 'call'"),
    "call-bad-code-id": (m.CallRequest, {"op": "call", "code_id": "x", "function": "f"}, errors.BadRequest,
                         "code_id"),
    "final-bad-leaving": (m.Final, {**SUCCESS_BODY, "leaving": 1}, errors.BadRequest, "leaving"),
    "finals-without-finals": (m.Finals, {"hits": 1}, errors.BadRequest, "finals"),
    "deploy-reply-bad-id": (m.DeployReply, {"code_id": 7}, errors.BadRequest, "code_id"),
    "error-bad-limit": (m.ErrorReply, {"code": 5, "message": "x", "limit": 3}, errors.BadRequest, "limit"),
}


@pytest.mark.parametrize(("kind", "body", "error", "names"), REFUSED.values(), ids=REFUSED.keys())
def test_from_body_refuses_what_the_schema_refuses(kind: Any, body: dict[str, Any],
                                                   error: type[errors.PoolError], names: str) -> None:
    with pytest.raises(error, match=names) as caught:
        kind.from_body(p.unpack(p.pack(body)), b"rid")  # as decoded: enums arrive as plain values
    assert isinstance(caught.value, errors.ProtocolError)
    assert caught.value.request_id == b"rid"


def test_the_decoders_refuse_unknown_ops() -> None:
    with pytest.raises(errors.BadRequest, match="unknown op 'launch'"):
        m.client_request({"op": "launch"})
    with pytest.raises(errors.BadRequest, match="unknown op 'stats'"):
        m.callback({"op": "stats", "seq": 1})


def test_error_reply_raises_the_typed_error() -> None:
    assert isinstance(m.ErrorReply(ErrorCode.UNKNOWN_CODE, "?").error(), errors.UnknownCode)
    limited = m.ErrorReply.from_body({"code": 5, "message": "big", "limit": "max_gas"}).error()
    assert isinstance(limited, errors.LimitExceeded)
    assert limited.limit == "max_gas"


def test_error_frames_carry_the_error_reply_body() -> None:
    frames = p.error_frames(b"r", ErrorCode.BAD_REQUEST, "no", "max_input")
    assert p.unpack(frames[3]) == m.ErrorReply(ErrorCode.BAD_REQUEST, "no", "max_input").to_body()


def test_liveness_announces_a_heartbeat_message() -> None:
    body = Liveness(2.0, 5).announce()
    assert m.Heartbeat.from_body(body) == m.Heartbeat(2.0, 5)
    assert p.check_fields(body, p.BROKER_SCHEMAS[Command.HEARTBEAT]) is None


def test_decoded_worker_bodies_build_their_messages() -> None:
    """What ``decode_worker``/``decode_broker`` accept, the message classes read without a second check."""
    final = p.decode_worker(p.encode(p.WORKER_TAG, Command.FINAL, b"j", m.Final(SUCCESS, m.CacheReport(1, 0))
                                     .to_body()))
    assert m.Final.from_body(final.body) == m.Final(SUCCESS, m.CacheReport(1, 0))
    request = p.decode_broker(p.encode(p.WORKER_TAG, Command.REQUEST, b"j", job().to_body()))
    assert m.Job.from_checked(request.body) == job()


def test_a_class_must_match_its_schema() -> None:
    schema = {"a": p.Field(p.is_int, "an int", required=True), "b": p.Field(p.is_str, "a string")}

    with pytest.raises(TypeError, match=r"unknown fields \['c'\]"):
        @m.wire(schema)
        @dataclass(frozen=True, slots=True)
        class Extra(m.WireBody):
            a: int
            c: int = 0

    with pytest.raises(TypeError, match=r"missing required fields \['a'\]"):
        @m.wire(schema)
        @dataclass(frozen=True, slots=True)
        class Lacking(m.WireBody):
            b: str = ""

    with pytest.raises(TypeError, match=r"optional fields without a default \['b'\]"):
        @m.wire(schema)
        @dataclass(frozen=True, slots=True)
        class Bare(m.WireBody):
            a: int
            b: str

    @m.wire(schema, omit_none=("b",))
    @dataclass(frozen=True, slots=True)
    class Fits(m.WireBody):
        a: int
        b: str | None = None

    assert Fits(1).to_body() == {"a": 1}
    assert Fits.from_body({"a": 1, "b": "x"}) == Fits(1, "x")
