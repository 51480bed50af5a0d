"""Conversions between public values, raw bit patterns and the runtime representation.

Three views of a value meet at the engine's boundary:

* *public*: what ``Function.__call__`` takes and returns: i32/i64 as signed
  Python ints (unsigned accepted on input), f32/f64 as floats, references as
  None or objects;
* *bits*: what ``call_raw`` and ``Global.raw`` use: i32/f32 as unsigned
  32-bit ints, i64/f64 as unsigned 64-bit ints, references as they are;
* *runtime*: what compiled code holds (see ``numeric``): unsigned ints for
  integers, floats for floats (f32 NaNs widened so that signalling NaNs
  survive).

Each direction is a table keyed by :class:`ValType`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import Trap, TrapKind
from ..numeric_float import f32_from_bits, f32_round, f32_to_bits, f64_from_bits, f64_to_bits
from ..numeric_int import MASK32, MASK64, SIGN32, SIGN64
from ..types import ValType

Converter = Callable[[Any], Any]


def _int_in(width: int) -> Converter:
    low, high, mask = -(1 << (width - 1)), 1 << width, (1 << width) - 1

    def convert(value: Any) -> int:
        if not isinstance(value, int):
            raise TypeError(f"expected an i{width} integer, got {type(value).__name__}")
        if not low <= value < high:
            raise TypeError(f"{value} does not fit in i{width}")
        return value & mask
    return convert


def _float_in(width: int) -> Converter:
    """Numbers in (f32 rounds as ``f32.demote_f64`` does); an int too large for a float is a TypeError."""
    def convert(value: Any) -> float:
        if not isinstance(value, int | float):
            raise TypeError(f"expected an f{width} number, got {type(value).__name__}")
        try:
            number = float(value)
        except OverflowError:  # only an int can be too large for a float
            bits = int(value).bit_length()
            raise TypeError(f"an integer of {bits} bits does not fit in f{width}") from None
        return f32_round(number) if width == 32 else number
    return convert


class FuncRef:
    """What a non-null ``funcref`` value is at run time: the base of ``functions.Function``.

    The conversions below only need to recognise a function reference, not
    to call one, so the type they check lives here and the callable
    ``Function`` (which converts its arguments with these tables) derives
    from it.
    """

    __slots__ = ()


def _funcref_in(value: Any) -> Any:
    if value is not None and not isinstance(value, FuncRef):
        raise TypeError(f"expected a function reference or None, got {type(value).__name__}")
    return value


def _externref_in(value: Any) -> Any:
    return value


def _identity(value: Any) -> Any:
    return value


TO_RUNTIME: dict[ValType, Converter] = {
    ValType.I32: _int_in(32),
    ValType.I64: _int_in(64),
    ValType.F32: _float_in(32),
    ValType.F64: _float_in(64),
    ValType.FUNCREF: _funcref_in,
    ValType.EXTERNREF: _externref_in,
}
"""Public value -> runtime representation (TypeError when it does not fit)."""

TO_PUBLIC: dict[ValType, Converter] = {
    ValType.I32: lambda v: v - (1 << 32) if v & SIGN32 else v,
    ValType.I64: lambda v: v - (1 << 64) if v & SIGN64 else v,
    ValType.F32: _identity,
    ValType.F64: _identity,
    ValType.FUNCREF: _identity,
    ValType.EXTERNREF: _identity,
}
"""Runtime representation -> public value."""


def _bits_in(width: int) -> Converter:
    mask = (1 << width) - 1

    def convert(value: Any) -> int:
        if not isinstance(value, int):
            raise TypeError(f"expected a {width}-bit pattern, got {type(value).__name__}")
        return value & mask
    return convert


FROM_BITS: dict[ValType, Converter] = {
    ValType.I32: _bits_in(32),
    ValType.I64: _bits_in(64),
    ValType.F32: lambda b: f32_from_bits(_bits_in(32)(b)),
    ValType.F64: lambda b: f64_from_bits(_bits_in(64)(b)),
    ValType.FUNCREF: _funcref_in,
    ValType.EXTERNREF: _externref_in,
}
"""Bit pattern (``call_raw``) -> runtime representation."""

TO_BITS: dict[ValType, Converter] = {
    ValType.I32: _identity,
    ValType.I64: _identity,
    ValType.F32: f32_to_bits,
    ValType.F64: f64_to_bits,
    ValType.FUNCREF: _identity,
    ValType.EXTERNREF: _identity,
}
"""Runtime representation -> bit pattern."""

ZERO: dict[ValType, Any] = {
    ValType.I32: 0, ValType.I64: 0, ValType.F32: 0.0, ValType.F64: 0.0,
    ValType.FUNCREF: None, ValType.EXTERNREF: None,
}
"""Each type's default value in the runtime representation."""


def host_result(vtype: ValType, value: Any) -> Any:
    """A host function's result as a runtime value; a wrong type or a value out of range is a trap.

    Stricter than arguments: a finite f32 result beyond the f32 range (which
    would round to infinity) is a host bug, not a value to pass on.
    """
    try:
        converted = TO_RUNTIME[vtype](value)
    except TypeError as exc:
        raise Trap(TrapKind.HOST, f"host function returned a bad {vtype} result: {exc}") from None
    if vtype is ValType.F32 and math.isinf(converted) and not math.isinf(value):
        raise Trap(TrapKind.HOST, f"host function returned a bad f32 result: {value:.6g} is out of range")
    return converted


__all__ = [
    "FROM_BITS", "MASK32", "MASK64", "TO_BITS", "TO_PUBLIC", "TO_RUNTIME", "ZERO", "FuncRef", "host_result",
]
