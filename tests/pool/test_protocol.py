"""The wire protocol: frames, msgpack limits, schemas and the error mapping of the pool's own errors."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasmpool.wire import errors
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode, Status

CODE_ID = "ab" * 32
RID = b"r1"


def client_frames(body: object, command: int = Command.REQUEST, tag: bytes = p.CLIENT_TAG,
                  rid: bytes = RID) -> list[bytes]:
    return [tag, bytes((command,)), rid, msgpack.packb(body)]


def test_round_trip_of_a_call() -> None:
    body = {"op": "call", "code_id": CODE_ID, "function": "f", "args": [1, -2, 3.5],
            "input": b"\x00\xff", "context": {"caller": b"alice", "height": 7, "time": 99}}
    op, message = p.decode_client(client_frames(body))
    assert op is p.Op.CALL
    assert message == p.Message(Command.REQUEST, RID, body)


def test_encode_gives_four_frames_with_one_byte_command() -> None:
    frames = p.encode(p.WORKER_TAG, Command.FINAL, b"id", {"status": "ok"})
    assert frames[:3] == [p.WORKER_TAG, b"\x05", b"id"]
    assert msgpack.unpackb(frames[3]) == {"status": "ok"}


def call_frames(**fields: object) -> list[bytes]:
    return client_frames({"op": "call", "code_id": CODE_ID, "function": "f", **fields})


BAD_FRAMES = {
    "too-few-frames": ([p.CLIENT_TAG, b"\x02", RID], errors.BadFrame),
    "too-many-frames": ([p.CLIENT_TAG, b"\x02", RID, b"\x80", b"extra"], errors.BadFrame),
    "wrong-tag": ([b"MDPC02", b"\x02", RID, b"\x80"], errors.BadFrame),
    "worker-tag-on-frontend": ([p.WORKER_TAG, b"\x02", RID, b"\x80"], errors.BadFrame),
    "empty-request-id": ([p.CLIENT_TAG, b"\x02", b"", b"\x80"], errors.BadFrame),
    "long-request-id": ([p.CLIENT_TAG, b"\x02", b"x" * 33, b"\x80"], errors.BadFrame),
    "unknown-command": ([p.CLIENT_TAG, b"\x63", RID, b"\x80"], errors.UnknownCommand),
    "two-byte-command": ([p.CLIENT_TAG, b"\x02\x02", RID, b"\x80"], errors.UnknownCommand),
    "worker-command-from-client": ([p.CLIENT_TAG, b"\x01", RID, b"\x80"], errors.UnknownCommand),
    "garbage-msgpack": ([p.CLIENT_TAG, b"\x02", RID, b"\xc1\xc1"], errors.BadBody),
    "truncated-msgpack": ([p.CLIENT_TAG, b"\x02", RID, b"\x82\xa2op"], errors.BadBody),
    "trailing-bytes": ([p.CLIENT_TAG, b"\x02", RID, b"\x80\x80"], errors.BadBody),
    "body-not-a-map": ([p.CLIENT_TAG, b"\x02", RID, msgpack.packb([1, 2])], errors.BadBody),
    "ext-type": ([p.CLIENT_TAG, b"\x02", RID, msgpack.packb(msgpack.ExtType(1, b"x"))], errors.BadBody),
    "non-string-map-key": ([p.CLIENT_TAG, b"\x02", RID, b"\x81\x01\x01"], errors.BadBody),
    "missing-op": (client_frames({"code": b""}), errors.BadRequest),
    "unknown-op": (client_frames({"op": "launch"}), errors.BadRequest),
    "deploy-without-code": (client_frames({"op": "deploy"}), errors.BadRequest),
    "deploy-code-as-str": (client_frames({"op": "deploy", "code": "text"}), errors.BadRequest),
    "call-bad-code-id": (client_frames({"op": "call", "code_id": "xyz", "function": "f"}), errors.BadRequest),
    "call-args-not-numbers": (call_frames(args=["1"]), errors.BadRequest),
    "call-bool-arg": (call_frames(args=[True]), errors.BadRequest),
    "call-negative-gas": (call_frames(gas_limit=-1), errors.BadRequest),
    "call-zero-timeout": (call_frames(timeout=0), errors.BadRequest),
    "call-unknown-context": (call_frames(context={"x": 1}), errors.BadRequest),
}


@pytest.mark.parametrize(("frames", "error"), BAD_FRAMES.values(), ids=BAD_FRAMES.keys())
def test_bad_frames_raise_typed_protocol_errors(frames: list[bytes], error: type[Exception]) -> None:
    with pytest.raises(error):
        p.decode_client(frames)


def test_protocol_errors_carry_the_request_id_when_readable() -> None:
    with pytest.raises(errors.BadBody) as caught:
        p.decode_client([p.CLIENT_TAG, b"\x02", b"my-id", b"\xc1"])
    assert caught.value.request_id == b"my-id"


LIMITS = p.ProtocolLimits(max_body=1000, max_bin_len=100, max_str_len=50, max_array_len=10,
                          max_map_len=10, max_depth=3)
OVER_LIMIT = {
    "body": (b"\x80" + b"\x00" * 1000, errors.MessageTooLarge),
    "bin": (msgpack.packb({"a": b"x" * 101}), errors.BadBody),
    "str": (msgpack.packb({"a": "x" * 51}), errors.BadBody),
    "array": (msgpack.packb({"a": list(range(11))}), errors.BadBody),
    "map": (msgpack.packb({str(i): i for i in range(11)}), errors.BadBody),
    "depth": (msgpack.packb({"a": [[[1]]]}), errors.BadBody),
    "deep-nesting-bomb": (b"\x91" * 900 + b"\x80", errors.BadBody),
}


@pytest.mark.parametrize(("data", "error"), OVER_LIMIT.values(), ids=OVER_LIMIT.keys())
def test_limits_are_enforced(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        p.unpack(data, LIMITS)


def test_a_body_at_the_limits_decodes() -> None:
    body = {"a": [[b"x" * 100]], "s": "y" * 50}
    assert p.unpack(msgpack.packb(body), LIMITS) == body


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_or_raise_a_protocol_error(data: bytes) -> None:
    try:
        p.decode_client([p.CLIENT_TAG, b"\x02", RID, data], LIMITS)
    except errors.ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=6))
def test_any_frames_decode_or_raise_a_protocol_error(frames: list[bytes]) -> None:
    for decode in (p.decode_client, p.decode_worker, p.decode_broker):
        try:
            decode(frames)
        except errors.ProtocolError:
            pass


def cause_of(cause: BaseException) -> Exception:
    """A foreign exception raised from ``cause`` (as a host call's error wrapped by the engine)."""
    try:
        raise RuntimeError("wrapped") from cause
    except RuntimeError as wrapper:
        return wrapper


ERROR_CASES = {
    "revert": (errors.Revert("no"), ErrorCode.REVERTED, Status.REVERTED),
    "read-only": (errors.ReadOnlyViolation("no"), ErrorCode.READ_ONLY, Status.ERROR),
    "call-timeout": (errors.CallTimeout("slow"), ErrorCode.TIMEOUT, Status.TIMEOUT),
    "bad-call": (errors.BadCall("which"), ErrorCode.BAD_CALL, Status.ERROR),
    "unknown-code": (errors.UnknownCode("?"), ErrorCode.UNKNOWN_CODE, Status.ERROR),
    "busy": (errors.Busy("full"), ErrorCode.BUSY, Status.ERROR),
    "bad-body": (errors.BadBody("x"), ErrorCode.BAD_BODY, Status.ERROR),
    "python-bug": (KeyError("x"), ErrorCode.INTERNAL, Status.ERROR),
    "revert-inside-error": (cause_of(errors.Revert("no")), ErrorCode.REVERTED, Status.REVERTED),
    "bug-inside-error": (cause_of(KeyError("x")), ErrorCode.INTERNAL, Status.ERROR),
}
"""The pool's own errors; the engine's are coded by the worker (tests/pool/test_codes.py)."""


@pytest.mark.parametrize(("exc", "code", "status"), ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_error_code_maps_every_exception(exc: BaseException, code: ErrorCode, status: Status) -> None:
    assert p.error_code(exc) is code
    assert p.status_for(code) is status


def test_error_message_names_the_decisive_exception() -> None:
    assert p.error_message(cause_of(errors.Revert("insufficient balance"))) == "insufficient balance"
    assert p.error_message(KeyError("k")) == "KeyError: 'k'"


@pytest.mark.parametrize("code", [c for c in ErrorCode if c in p.EXCEPTION_BY_CODE], ids=lambda c: c.name)
def test_error_for_inverts_error_code(code: ErrorCode) -> None:
    exc = p.error_for(code, "why")
    assert p.error_code(exc) is code
    assert exc.reason == "why"


def test_code_id_is_the_hex_sha256() -> None:
    assert p.code_id(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert p.is_code_id(p.code_id(b"x"))
