"""Exact WebAssembly 2.0 numerics (spec 4.3) as fast Python functions for compiled code.

The register compiler inlines the trivial integer operations and calls these
helpers for everything with subtle semantics. All of them work on the
runtime value representation:

* ``i32``/``i64``: ``int`` holding the unsigned bit pattern, ``[0, 2**N)``;
* ``f64``: ``float``, bit-exact through ``struct`` ``'<d'``/``'<Q'``;
* ``f32``: ``float`` holding exactly the f32 value; a NaN f32 ``s|0xFF|m`` is
  the double ``s|0x7FF|m<<29`` (so signalling NaNs survive; see
  :mod:`.numeric_float`).

Naming: the helper for instruction ``tNN.op`` is ``tNN_op`` (``i32_div_s``,
``f32_nearest``, ``i64_trunc_sat_f32_u``, ``f64_store``...); width-generic
ones also exist as ``i_op``/``f_op``. :data:`OPCODE_HELPERS` maps every
numeric, load and store :class:`~.opcodes.Opcode` to its helper. Numeric
helpers take their operands in stack order; loads take ``(mem, ea)`` and stores
``(mem, ea, value)`` where ``ea`` is the effective address (operand plus the
memarg offset, never negative) and ``mem`` the memory's ``bytearray``.

Traps are raised as :class:`~.errors.Trap` with the spec's kind: integer
division by zero, ``INT_MIN / -1`` and out-of-range truncation
(``INTEGER_OVERFLOW``), truncation of NaN (``INVALID_CONVERSION``), and
memory accesses past the end (``OUT_OF_BOUNDS_MEMORY``). Memory helpers detect
the latter by converting ``struct.error``/``IndexError`` rather than checking
bounds first: ``unpack_from``/``pack_into`` verify the whole access before
touching the buffer, so a failed store writes nothing, and the in-bounds path
pays nothing (exception handling is free when nothing is raised).

f32 loads build the value through :func:`f32_from_bits` and f32 stores go
through :func:`f32_to_bits`, never ``'<f'`` alone, which would quiet
signalling NaNs. The ``LE_*`` structs are exported for compilers that inline
accesses; they must apply the same rules.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct
from struct import error as StructError
from typing import Any, Final

from . import numeric_float, numeric_int
from .errors import Trap, TrapKind
from .numeric_float import *  # noqa: F403
from .numeric_float import f32_from_bits, f32_to_bits
from .numeric_int import *  # noqa: F403
from .numeric_int import MASK32, MASK64
from .opcodes import OPS, Family, Imm, Opcode

__all__ = [
    "CANONICALIZED_OPS", "CANONICAL_OPCODE_HELPERS", "LE_F32", "LE_F64", "LE_I8", "LE_I16", "LE_I32",
    "LE_I64", "LE_U8", "LE_U16", "LE_U32", "LE_U64", "OPCODE_HELPERS", "f32_load", "f32_store", "f64_load",
    "f64_store", "i32_load", "i32_load8_s", "i32_load8_u", "i32_load16_s", "i32_load16_u", "i32_store",
    "i32_store8", "i32_store16", "i64_load", "i64_load8_s", "i64_load8_u", "i64_load16_s", "i64_load16_u",
    "i64_load32_s", "i64_load32_u", "i64_store", "i64_store8", "i64_store16", "i64_store32", "load_f32",
    "load_f64", "opcode_helpers", "store_f32", "store_f64",
]
__all__ += numeric_int.__all__
__all__ += numeric_float.__all__

# Little-endian layouts of every access width. '<f' must not carry NaN f32
# values (see the module docstring); it is exact for every other f32.
LE_U8: Final = Struct("<B")
LE_I8: Final = Struct("<b")
LE_U16: Final = Struct("<H")
LE_I16: Final = Struct("<h")
LE_U32: Final = Struct("<I")
LE_I32: Final = Struct("<i")
LE_U64: Final = Struct("<Q")
LE_I64: Final = Struct("<q")
LE_F32: Final = Struct("<f")
LE_F64: Final = Struct("<d")

_u16_from, _i16_from = LE_U16.unpack_from, LE_I16.unpack_from
_u32_from, _i32_from = LE_U32.unpack_from, LE_I32.unpack_from
_u64_from, _f64_from = LE_U64.unpack_from, LE_F64.unpack_from
_f32_from, _f32_into = LE_F32.unpack_from, LE_F32.pack_into
_u16_into, _u32_into = LE_U16.pack_into, LE_U32.pack_into
_u64_into, _f64_into = LE_U64.pack_into, LE_F64.pack_into

_BYTE: Final = 0xFF
_HALF: Final = 0xFFFF
_BYTE_SIGN: Final = 0x80
_HIGH24_OF_32: Final = 0xFFFF_FF00
_HIGH56_OF_64: Final = 0xFFFF_FFFF_FFFF_FF00


def _out_of_bounds() -> Trap:
    return Trap(TrapKind.OUT_OF_BOUNDS_MEMORY)


# --- loads ----------------------------------------------------------------------

def i32_load(mem: bytearray, ea: int) -> int:
    """``i32.load`` (and ``i64.load32_u``): four bytes, unsigned."""
    try:
        value: int = _u32_from(mem, ea)[0]
    except StructError:
        raise _out_of_bounds() from None
    return value


def i64_load(mem: bytearray, ea: int) -> int:
    """``i64.load``: eight bytes, unsigned."""
    try:
        value: int = _u64_from(mem, ea)[0]
    except StructError:
        raise _out_of_bounds() from None
    return value


def f32_load(mem: bytearray, ea: int) -> float:
    """``f32.load``: four bytes as an f32, signalling NaNs kept ('<f' is exact for the others)."""
    try:
        value: float = _f32_from(mem, ea)[0]
    except StructError:
        raise _out_of_bounds() from None
    if value == value:
        return value
    bits: int = _u32_from(mem, ea)[0]
    return f32_from_bits(bits)


def f64_load(mem: bytearray, ea: int) -> float:
    """``f64.load``: eight bytes as an f64 (a memcpy: every NaN kept)."""
    try:
        value: float = _f64_from(mem, ea)[0]
    except StructError:
        raise _out_of_bounds() from None
    return value


def i32_load8_u(mem: bytearray, ea: int) -> int:
    """``i32.load8_u`` (and ``i64.load8_u``)."""
    try:
        return mem[ea]
    except IndexError:
        raise _out_of_bounds() from None


def i32_load8_s(mem: bytearray, ea: int) -> int:
    """``i32.load8_s``: one byte, sign-extended to 32 bits."""
    try:
        value = mem[ea]
    except IndexError:
        raise _out_of_bounds() from None
    return value | _HIGH24_OF_32 if value & _BYTE_SIGN else value


def i64_load8_s(mem: bytearray, ea: int) -> int:
    """``i64.load8_s``: one byte, sign-extended to 64 bits."""
    try:
        value = mem[ea]
    except IndexError:
        raise _out_of_bounds() from None
    return value | _HIGH56_OF_64 if value & _BYTE_SIGN else value


def i32_load16_u(mem: bytearray, ea: int) -> int:
    """``i32.load16_u`` (and ``i64.load16_u``)."""
    try:
        value: int = _u16_from(mem, ea)[0]
    except StructError:
        raise _out_of_bounds() from None
    return value


def i32_load16_s(mem: bytearray, ea: int) -> int:
    """``i32.load16_s``: two bytes, sign-extended to 32 bits."""
    try:
        value: int = _i16_from(mem, ea)[0]
    except StructError:
        raise _out_of_bounds() from None
    return value & MASK32


def i64_load16_s(mem: bytearray, ea: int) -> int:
    """``i64.load16_s``: two bytes, sign-extended to 64 bits."""
    try:
        value: int = _i16_from(mem, ea)[0]
    except StructError:
        raise _out_of_bounds() from None
    return value & MASK64


def i64_load32_s(mem: bytearray, ea: int) -> int:
    """``i64.load32_s``: four bytes, sign-extended to 64 bits."""
    try:
        value: int = _i32_from(mem, ea)[0]
    except StructError:
        raise _out_of_bounds() from None
    return value & MASK64


i64_load8_u = i32_load8_u
i64_load16_u = i32_load16_u
i64_load32_u = i32_load


# --- stores (values in the runtime representation; narrow stores wrap) -----------

def i32_store(mem: bytearray, ea: int, value: int) -> None:
    """``i32.store``."""
    try:
        _u32_into(mem, ea, value)
    except StructError:
        raise _out_of_bounds() from None


def i64_store(mem: bytearray, ea: int, value: int) -> None:
    """``i64.store``."""
    try:
        _u64_into(mem, ea, value)
    except StructError:
        raise _out_of_bounds() from None


def f32_store(mem: bytearray, ea: int, value: float) -> None:
    """``f32.store``: the f32's exact bit pattern, signalling NaNs included."""
    try:
        if value == value:
            _f32_into(mem, ea, value)  # exact: value holds an f32
        else:
            _u32_into(mem, ea, f32_to_bits(value))
    except StructError:
        raise _out_of_bounds() from None


def f64_store(mem: bytearray, ea: int, value: float) -> None:
    """``f64.store`` (a memcpy: every NaN kept)."""
    try:
        _f64_into(mem, ea, value)
    except StructError:
        raise _out_of_bounds() from None


def i32_store8(mem: bytearray, ea: int, value: int) -> None:
    """``i32.store8`` (and ``i64.store8``): the low byte."""
    try:
        mem[ea] = value & _BYTE
    except IndexError:
        raise _out_of_bounds() from None


def i32_store16(mem: bytearray, ea: int, value: int) -> None:
    """``i32.store16`` (and ``i64.store16``): the low two bytes."""
    try:
        _u16_into(mem, ea, value & _HALF)
    except StructError:
        raise _out_of_bounds() from None


def i64_store32(mem: bytearray, ea: int, value: int) -> None:
    """``i64.store32``: the low four bytes."""
    try:
        _u32_into(mem, ea, value & MASK32)
    except StructError:
        raise _out_of_bounds() from None


i64_store8 = i32_store8
i64_store16 = i32_store16

# The names the engine issue used for the float accessors.
load_f32 = f32_load
store_f32 = f32_store
load_f64 = f64_load
store_f64 = f64_store


# --- opcode table -----------------------------------------------------------------

def _helper_name(name: str) -> str:
    """``'i32.trunc_sat_f32_s'`` -> ``'i32_trunc_sat_f32_s'``."""
    return name.replace(".", "_")


def _has_helper(op: Opcode) -> bool:
    info = OPS[op]
    return info.family is Family.NUMERIC or info.imm is Imm.MEMARG


OPCODE_HELPERS: Final[dict[Opcode, Callable[..., Any]]] = {
    info.op: globals()[_helper_name(info.name)] for info in OPS.values() if _has_helper(info.op)
}
"""Every numeric instruction, load and store -> the helper implementing it."""

CANONICALIZED_OPS: Final[frozenset[Opcode]] = frozenset(
    info.op for info in OPS.values() if _helper_name(info.name) in numeric_float.CANONICAL_HELPERS
)
"""The instructions that can produce a NaN from arithmetic (what ``canonical_nans`` canonicalizes)."""

CANONICAL_OPCODE_HELPERS: Final[dict[Opcode, Callable[..., Any]]] = {
    **OPCODE_HELPERS,
    **{op: numeric_float.CANONICAL_HELPERS[_helper_name(OPS[op].name)] for op in CANONICALIZED_OPS},
}
""":data:`OPCODE_HELPERS` with canonical NaN results (the engine's ``canonical_nans`` option)."""


def opcode_helpers(canonical_nans: bool) -> dict[Opcode, Callable[..., Any]]:
    """The helper table of the engine's float semantics: the spec's, or with canonical NaNs."""
    return CANONICAL_OPCODE_HELPERS if canonical_nans else OPCODE_HELPERS
