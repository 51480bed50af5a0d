"""The worker's error codes: the engine's exceptions on top of the wire's table (wasmpool.worker.codes)."""

from __future__ import annotations

import pytest

from wasmpool import wasm
from wasmpool.wire import errors
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import ErrorCode, Status
from wasmpool.worker import codes


def trap_from(cause: BaseException) -> wasm.Trap:
    try:
        raise wasm.Trap(wasm.TrapKind.HOST) from cause
    except wasm.Trap as trap:
        return trap


ERROR_CASES = {
    "gas": (wasm.GasExhausted(), ErrorCode.OUT_OF_GAS, Status.OUT_OF_GAS),
    "stack": (wasm.StackExhausted(), ErrorCode.TRAP, Status.TRAP),
    "trap": (wasm.Trap(wasm.TrapKind.UNREACHABLE), ErrorCode.TRAP, Status.TRAP),
    "link": (wasm.LinkError("x"), ErrorCode.LINK_ERROR, Status.ERROR),
    "decode": (wasm.DecodeError("x"), ErrorCode.INVALID_MODULE, Status.ERROR),
    "validation": (wasm.ValidationError("x"), ErrorCode.INVALID_MODULE, Status.ERROR),
    "revert": (errors.Revert("no"), ErrorCode.REVERTED, Status.REVERTED),
    "read-only": (errors.ReadOnlyViolation("no"), ErrorCode.READ_ONLY, Status.ERROR),
    "call-timeout": (errors.CallTimeout("slow"), ErrorCode.TIMEOUT, Status.TIMEOUT),
    "bad-call": (errors.BadCall("which"), ErrorCode.BAD_CALL, Status.ERROR),
    "unknown-code": (errors.UnknownCode("?"), ErrorCode.UNKNOWN_CODE, Status.ERROR),
    "busy": (errors.Busy("full"), ErrorCode.BUSY, Status.ERROR),
    "bad-body": (errors.BadBody("x"), ErrorCode.BAD_BODY, Status.ERROR),
    "python-bug": (KeyError("x"), ErrorCode.INTERNAL, Status.ERROR),
    "recursion": (RecursionError(), ErrorCode.TRAP, Status.TRAP),
    "revert-inside-trap": (trap_from(errors.Revert("no")), ErrorCode.REVERTED, Status.REVERTED),
    "gas-inside-trap": (trap_from(wasm.GasExhausted()), ErrorCode.OUT_OF_GAS, Status.OUT_OF_GAS),
    "timeout-inside-trap": (trap_from(errors.CallTimeout("x")), ErrorCode.TIMEOUT, Status.TIMEOUT),
    "bug-inside-trap": (trap_from(KeyError("x")), ErrorCode.TRAP, Status.TRAP),
}


@pytest.mark.parametrize(("exc", "code", "status"), ERROR_CASES.values(), ids=ERROR_CASES.keys())
def test_error_code_maps_every_exception(exc: BaseException, code: ErrorCode, status: Status) -> None:
    assert codes.error_code(exc) is code
    assert p.status_for(code) is status


def test_error_message_names_the_decisive_exception() -> None:
    assert codes.error_message(trap_from(errors.Revert("insufficient balance"))) == "insufficient balance"
    assert codes.error_message(KeyError("k")) == "KeyError: 'k'"
    trap = wasm.Trap(wasm.TrapKind.UNREACHABLE)
    assert codes.error_message(trap) == str(trap)


def test_the_worker_table_extends_the_wire_table() -> None:
    assert all(codes.CODES[cls] is code for cls, code in p.ERROR_CODES.items())
    assert not any(cls.__module__.startswith("wasmpool.wasm") for cls in p.ERROR_CODES)


def test_the_wire_alone_does_not_know_engine_errors() -> None:
    """Without the worker's table an engine trap is no known error: the broker never sees one raised."""
    assert p.error_code(wasm.GasExhausted()) is ErrorCode.INTERNAL
    assert p.error_message(wasm.LinkError("missing import")) == "LinkError: missing import"
