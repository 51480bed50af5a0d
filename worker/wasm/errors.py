"""The engine's error hierarchy, mirroring the spec's outcomes.

``DecodeError`` is the spec's *malformed*, ``ValidationError`` its *invalid*,
``LinkError`` its *unlinkable*, and ``Trap`` a runtime trap, whose ``kind``
says which. Messages say where: section, function index, byte offset.
"""

from __future__ import annotations

from enum import IntEnum


class WasmError(Exception):
    """Base of every error the engine raises on purpose."""


class DecodeError(WasmError):
    """The bytes are not a well-formed module (spec: malformed)."""

    def __init__(self, message: str, offset: int | None = None, section: str | None = None,
                 func: int | None = None) -> None:
        self.offset = offset
        self.section = section
        self.func = func
        self.reason = message
        super().__init__(_where(section, func, offset) + message)


class LimitError(DecodeError):
    """A configured limit for untrusted input was exceeded; ``limit`` names it."""

    def __init__(self, limit: str, value: int, maximum: int, offset: int | None = None,
                 section: str | None = None) -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        super().__init__(f"limit exceeded: {limit} ({value} > {maximum})", offset, section)


class UnsupportedFeature(DecodeError):
    """Well-formed in a later proposal (SIMD) but not supported here."""


class ValidationError(WasmError):
    """The module is well-formed but ill-typed (spec: invalid)."""

    def __init__(self, message: str, offset: int | None = None, section: str | None = None,
                 func: int | None = None) -> None:
        self.offset = offset
        self.section = section
        self.func = func
        self.reason = message
        super().__init__(_where(section, func, offset) + message)


class LinkError(WasmError):
    """Imports do not match the module's declarations (spec: unlinkable)."""


class TrapKind(IntEnum):
    """Why execution trapped."""

    UNREACHABLE = 1
    INTEGER_DIVIDE_BY_ZERO = 2
    INTEGER_OVERFLOW = 3
    INVALID_CONVERSION = 4
    OUT_OF_BOUNDS_MEMORY = 5
    OUT_OF_BOUNDS_TABLE = 6
    UNDEFINED_ELEMENT = 7
    UNINITIALIZED_ELEMENT = 8
    INDIRECT_CALL_TYPE_MISMATCH = 9
    STACK_EXHAUSTED = 10
    GAS_EXHAUSTED = 11
    HOST = 12


TRAP_MESSAGES: dict[TrapKind, str] = {
    TrapKind.UNREACHABLE: "unreachable",
    TrapKind.INTEGER_DIVIDE_BY_ZERO: "integer divide by zero",
    TrapKind.INTEGER_OVERFLOW: "integer overflow",
    TrapKind.INVALID_CONVERSION: "invalid conversion to integer",
    TrapKind.OUT_OF_BOUNDS_MEMORY: "out of bounds memory access",
    TrapKind.OUT_OF_BOUNDS_TABLE: "out of bounds table access",
    TrapKind.UNDEFINED_ELEMENT: "undefined element",
    TrapKind.UNINITIALIZED_ELEMENT: "uninitialized element",
    TrapKind.INDIRECT_CALL_TYPE_MISMATCH: "indirect call type mismatch",
    TrapKind.STACK_EXHAUSTED: "call stack exhausted",
    TrapKind.GAS_EXHAUSTED: "out of gas",
    TrapKind.HOST: "host function failed",
}


class Trap(WasmError):
    """Execution trapped; ``kind`` is a :class:`TrapKind`."""

    def __init__(self, kind: TrapKind, message: str | None = None) -> None:
        self.kind = kind
        super().__init__(message or TRAP_MESSAGES[kind])


class GasExhausted(Trap):
    """The call ran out of gas."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(TrapKind.GAS_EXHAUSTED, message)


class StackExhausted(Trap):
    """The call depth limit was reached."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(TrapKind.STACK_EXHAUSTED, message)


class RecursionLimitTooLow(RuntimeError):
    """The process's Python recursion limit is below what the engine needs; the process must raise it.

    Not a :class:`WasmError`: no module is at fault. The engine never
    changes the process-wide limit itself; the process that runs it calls
    ``wasm.prepare_process(limits)`` once at start (the worker, the CLI
    commands that run code and the test suite do).
    """

    def __init__(self, needed: int, current: int, what: str) -> None:
        self.needed = needed
        self.current = current
        super().__init__(f"{what} needs a Python recursion limit of at least {needed}, the process has "
                         f"{current}: call wasmpool.wasm.prepare_process(limits) once at process start")


def _where(section: str | None, func: int | None, offset: int | None) -> str:
    parts = []
    if section is not None:
        parts.append(f"{section} section")
    if func is not None:
        parts.append(f"func {func}")
    if offset is not None:
        parts.append(f"offset {offset:#x}")
    return ", ".join(parts) + ": " if parts else ""
