"""Float instructions of the reference interpreter, on bit patterns (spec 4.3.3, 4.3.4).

Every float value is its bit pattern: an f32 a ``u32``, an f64 a ``u64``.
What is plain bit work is written here from the spec: ``neg``/``abs``/
``copysign`` flip or copy the sign bit, ``reinterpret`` is the identity,
comparisons compare the exact values, and truncation to integers takes the
exact integer part of the value and checks its range. Arithmetic, rounding to
integral values, ``min``/``max`` (which NaN comes out), int-to-f32
conversions and the width changes use :mod:`wasmpool.wasm.numeric_float`, the
engine's semantic definitions that the spec suite pins; they are applied to
values decoded from bits and their results encoded back, so NaN payloads are
whatever those definitions give. Nothing comes from the compiler.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .. import numeric_float as nf
from ..errors import Trap, TrapKind

FloatFn = Callable[[float], float]
Float2Fn = Callable[[float, float], float]


def sign_bit(n: int) -> int:
    """The sign bit of an ``n``-bit float."""
    return 1 << (n - 1)


def decode(n: int, bits: int) -> float:
    """The value of an f32/f64 bit pattern (f32 NaNs in the engine's widened form)."""
    return nf.f32_from_bits(bits) if n == 32 else nf.f64_from_bits(bits)


def encode(n: int, value: float) -> int:
    """The bit pattern of an f32/f64 value."""
    return nf.f32_to_bits(value) if n == 32 else nf.f64_to_bits(value)


# --- sign operations: pure bit work ---------------------------------------------

def neg(n: int, a: int) -> int:
    return a ^ sign_bit(n)


def abs_(n: int, a: int) -> int:
    return a & ~sign_bit(n)


def copysign(n: int, a: int, b: int) -> int:
    return (a & ~sign_bit(n)) | (b & sign_bit(n))


# --- comparisons: exact values, NaN unordered ---------------------------------

def eq(n: int, a: int, b: int) -> int:
    return int(decode(n, a) == decode(n, b))


def ne(n: int, a: int, b: int) -> int:
    return int(decode(n, a) != decode(n, b))


def lt(n: int, a: int, b: int) -> int:
    return int(decode(n, a) < decode(n, b))


def gt(n: int, a: int, b: int) -> int:
    return int(decode(n, a) > decode(n, b))


def le(n: int, a: int, b: int) -> int:
    return int(decode(n, a) <= decode(n, b))


def ge(n: int, a: int, b: int) -> int:
    return int(decode(n, a) >= decode(n, b))


# --- arithmetic through the semantic definitions ------------------------------

def unary(f32: FloatFn, f64: FloatFn) -> Callable[[int, int], int]:
    """A unary float instruction on bits from its per-width value functions."""
    def run(n: int, a: int) -> int:
        return encode(n, (f32 if n == 32 else f64)(decode(n, a)))
    return run


def binary(f32: Float2Fn, f64: Float2Fn) -> Callable[[int, int, int], int]:
    """A binary float instruction on bits from its per-width value functions."""
    def run(n: int, a: int, b: int) -> int:
        return encode(n, (f32 if n == 32 else f64)(decode(n, a), decode(n, b)))
    return run


add = binary(nf.f32_add, nf.f64_add)
sub = binary(nf.f32_sub, nf.f64_sub)
mul = binary(nf.f32_mul, nf.f64_mul)
div = binary(nf.f32_div, nf.f64_div)
min_ = binary(nf.f32_min, nf.f64_min)
max_ = binary(nf.f32_max, nf.f64_max)
sqrt = unary(nf.f32_sqrt, nf.f64_sqrt)
ceil = unary(nf.f32_ceil, nf.f64_ceil)
floor = unary(nf.f32_floor, nf.f64_floor)
trunc = unary(nf.f32_trunc, nf.f64_trunc)
nearest = unary(nf.f32_nearest, nf.f64_nearest)


# --- float to integer --------------------------------------------------------------

def _int_range(bits: int, is_signed: bool) -> tuple[int, int]:
    """The inclusive range of an integer type."""
    if is_signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def trunc_to_int(n: int, bits: int, is_signed: bool, a: int) -> int:
    """``iB.trunc_fN_{s,u}``: the integer part, trapping on NaN and when it does not fit."""
    x = decode(n, a)
    if math.isnan(x):
        raise Trap(TrapKind.INVALID_CONVERSION)
    if math.isinf(x):
        raise Trap(TrapKind.INTEGER_OVERFLOW)
    low, high = _int_range(bits, is_signed)
    value = math.trunc(x)
    if not low <= value <= high:
        raise Trap(TrapKind.INTEGER_OVERFLOW)
    return value & ((1 << bits) - 1)


def trunc_sat_to_int(n: int, bits: int, is_signed: bool, a: int) -> int:
    """``iB.trunc_sat_fN_{s,u}``: the integer part clamped to the range; NaN gives 0."""
    x = decode(n, a)
    if math.isnan(x):
        return 0
    low, high = _int_range(bits, is_signed)
    if math.isinf(x):
        value = high if x > 0 else low
    else:
        value = min(max(math.trunc(x), low), high)
    return value & ((1 << bits) - 1)


# --- integer to float -------------------------------------------------------------

def convert_from_int(n: int, bits: int, is_signed: bool, a: int) -> int:
    """``fN.convert_iB_{s,u}``: the integer rounded to nearest, ties to even."""
    value = a - (1 << bits) if is_signed and a >> (bits - 1) else a
    if n == 64:
        return nf.f64_to_bits(float(value))  # int -> float is correctly rounded in Python
    if value < 0:
        return neg(32, nf.f32_to_bits(nf.f32_convert_i64_u(-value)))
    return nf.f32_to_bits(nf.f32_convert_i64_u(value))


def demote(a: int) -> int:
    """``f32.demote_f64``."""
    return nf.f32_to_bits(nf.f32_demote_f64(nf.f64_from_bits(a)))


def promote(a: int) -> int:
    """``f64.promote_f32``."""
    return nf.f64_to_bits(nf.f64_promote_f32(nf.f32_from_bits(a)))
