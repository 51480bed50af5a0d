"""Wire codes for what running a contract raises: the engine's exceptions, on top of the pool's own.

The wire protocol maps the pool's errors to codes (:data:`wasmpool.wire.protocol.ERROR_CODES`)
without knowing the engine; the worker, which runs the engine, extends that
one table with the engine's exceptions here. A call's result is coded by
:func:`error_code` and described by :func:`error_message`.
"""

from __future__ import annotations

from wasmpool import wasm
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import ErrorCode

CODES: dict[type[BaseException], ErrorCode] = {
    **p.ERROR_CODES,
    wasm.GasExhausted: ErrorCode.OUT_OF_GAS,
    wasm.Trap: ErrorCode.TRAP,  # StackExhausted and every trap kind too
    wasm.LinkError: ErrorCode.LINK_ERROR,
    wasm.DecodeError: ErrorCode.INVALID_MODULE,
    wasm.ValidationError: ErrorCode.INVALID_MODULE,
    wasm.WasmError: ErrorCode.INTERNAL,
    RecursionError: ErrorCode.TRAP,  # Python's stack ran out inside a call: the contract recursed too deep
}
"""Exception class -> wire code, looked up along the exception's MRO: the wire's table and the engine's."""

KNOWN: tuple[type[BaseException], ...] = (*p.KNOWN, wasm.WasmError)
"""Exceptions that decide a call's code when found along a ``__cause__`` chain (see ``protocol.decisive``)."""


def error_code(exc: BaseException) -> ErrorCode:
    """The wire code of whatever a call raised (an engine trap, a contract's revert, a bug: INTERNAL)."""
    return p.error_code(exc, CODES, KNOWN)


def error_message(exc: BaseException) -> str:
    """A message for people about whatever a call raised: its decisive exception's text."""
    return p.error_message(exc, KNOWN)
