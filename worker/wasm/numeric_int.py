"""Integer instructions of WebAssembly 2.0 (spec 4.3.2) on the runtime representation.

An ``i32`` is a Python ``int`` in ``[0, 2**32)`` and an ``i64`` one in
``[0, 2**64)``: the unsigned bit pattern. Unsigned operations therefore map
onto Python's arbitrary-precision integers followed by a mask; signed ones
first reinterpret the pattern as two's complement (:func:`to_signed32`).

Division is the only integer operation that traps. Python's ``//`` and ``%``
floor towards minus infinity while WebAssembly truncates towards zero, so the
signed variants take magnitudes and put the sign back. Every helper starts
with the fast path (both operands non-negative as signed values, which is
what real contracts do most) and keeps the slow cases out of its way.

Comparison helpers return ``1``/``0`` ints (not ``bool``) so that their
results are valid ``i32`` values everywhere, including ``struct`` packing.
"""

from __future__ import annotations

from typing import Final

from .errors import Trap, TrapKind

__all__ = [
    "INT32_MAX", "INT64_MAX", "MASK32", "MASK64", "SIGN32", "SIGN64", "i32_add", "i32_and", "i32_clz",
    "i32_ctz", "i32_div_s", "i32_div_u", "i32_eq", "i32_eqz", "i32_extend8_s", "i32_extend16_s",
    "i32_ge_s", "i32_ge_u", "i32_gt_s", "i32_gt_u", "i32_le_s", "i32_le_u", "i32_lt_s", "i32_lt_u",
    "i32_mul", "i32_ne", "i32_or", "i32_popcnt", "i32_rem_s", "i32_rem_u", "i32_rotl", "i32_rotr",
    "i32_shl", "i32_shr_s", "i32_shr_u", "i32_sub", "i32_wrap_i64", "i32_xor", "i64_add", "i64_and",
    "i64_clz", "i64_ctz", "i64_div_s", "i64_div_u", "i64_eq", "i64_eqz", "i64_extend8_s",
    "i64_extend16_s", "i64_extend32_s", "i64_extend_i32_s", "i64_extend_i32_u", "i64_ge_s", "i64_ge_u",
    "i64_gt_s", "i64_gt_u", "i64_le_s", "i64_le_u", "i64_lt_s", "i64_lt_u", "i64_mul", "i64_ne",
    "i64_or", "i64_popcnt", "i64_rem_s", "i64_rem_u", "i64_rotl", "i64_rotr", "i64_shl", "i64_shr_s",
    "i64_shr_u", "i64_sub", "i64_xor", "i_and", "i_eq", "i_eqz", "i_ge_u", "i_gt_u", "i_le_u", "i_lt_u",
    "i_ne", "i_or", "i_popcnt", "i_xor", "to_signed32", "to_signed64",
]

MASK32: Final = 0xFFFF_FFFF
MASK64: Final = 0xFFFF_FFFF_FFFF_FFFF
SIGN32: Final = 0x8000_0000
SIGN64: Final = 0x8000_0000_0000_0000
INT32_MAX: Final = 0x7FFF_FFFF
INT64_MAX: Final = 0x7FFF_FFFF_FFFF_FFFF
TWO32: Final = 0x1_0000_0000
TWO64: Final = 0x1_0000_0000_0000_0000
SHIFT32: Final = 31  # shift counts are taken modulo the width (spec: k mod N)
SHIFT64: Final = 63
BITS32: Final = 32
BITS64: Final = 64

_EXT8_HIGH32: Final = 0xFFFF_FF00
_EXT16_HIGH32: Final = 0xFFFF_0000
_EXT8_HIGH64: Final = 0xFFFF_FFFF_FFFF_FF00
_EXT16_HIGH64: Final = 0xFFFF_FFFF_FFFF_0000
_EXT32_HIGH64: Final = 0xFFFF_FFFF_0000_0000
_BYTE: Final = 0xFF
_BYTE_SIGN: Final = 0x80
_HALF: Final = 0xFFFF
_HALF_SIGN: Final = 0x8000


def _divide_by_zero() -> Trap:
    return Trap(TrapKind.INTEGER_DIVIDE_BY_ZERO)


def _overflow() -> Trap:
    return Trap(TrapKind.INTEGER_OVERFLOW)


# --- signedness -------------------------------------------------------------

def to_signed32(a: int) -> int:
    """The two's-complement value of an i32 bit pattern."""
    return a - TWO32 if a > INT32_MAX else a


def to_signed64(a: int) -> int:
    """The two's-complement value of an i64 bit pattern."""
    return a - TWO64 if a > INT64_MAX else a


# --- arithmetic that compilers usually inline (kept for completeness) -------

def i32_add(a: int, b: int) -> int:
    """``i32.add``: sum modulo 2**32."""
    return (a + b) & MASK32


def i32_sub(a: int, b: int) -> int:
    """``i32.sub``: difference modulo 2**32."""
    return (a - b) & MASK32


def i32_mul(a: int, b: int) -> int:
    """``i32.mul``: product modulo 2**32."""
    return (a * b) & MASK32


def i64_add(a: int, b: int) -> int:
    """``i64.add``: sum modulo 2**64."""
    return (a + b) & MASK64


def i64_sub(a: int, b: int) -> int:
    """``i64.sub``: difference modulo 2**64."""
    return (a - b) & MASK64


def i64_mul(a: int, b: int) -> int:
    """``i64.mul``: product modulo 2**64."""
    return (a * b) & MASK64


def i_and(a: int, b: int) -> int:
    """``iN.and`` (either width: the operands are already in range)."""
    return a & b


def i_or(a: int, b: int) -> int:
    """``iN.or``."""
    return a | b


def i_xor(a: int, b: int) -> int:
    """``iN.xor``."""
    return a ^ b


# --- division (the trapping integer operations) -----------------------------

def i32_div_u(a: int, b: int) -> int:
    """``i32.div_u``; traps on a zero divisor."""
    try:
        return a // b
    except ZeroDivisionError:
        raise _divide_by_zero() from None


def i64_div_u(a: int, b: int) -> int:
    """``i64.div_u``; traps on a zero divisor."""
    try:
        return a // b
    except ZeroDivisionError:
        raise _divide_by_zero() from None


def i32_rem_u(a: int, b: int) -> int:
    """``i32.rem_u``; traps on a zero divisor."""
    try:
        return a % b
    except ZeroDivisionError:
        raise _divide_by_zero() from None


def i64_rem_u(a: int, b: int) -> int:
    """``i64.rem_u``; traps on a zero divisor."""
    try:
        return a % b
    except ZeroDivisionError:
        raise _divide_by_zero() from None


def _div_s(a: int, b: int, mask: int) -> int:
    """Truncating signed division of two signed values, wrapped to ``mask``."""
    if b == 0:
        raise _divide_by_zero()
    q = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        q = -q
    if q > mask >> 1:  # only INT_MIN / -1 gets here
        raise _overflow()
    return q & mask


def _rem_s(a: int, b: int, mask: int) -> int:
    """Signed remainder with the dividend's sign (INT_MIN rem -1 is 0, not a trap)."""
    if b == 0:
        raise _divide_by_zero()
    r = abs(a) % abs(b)
    return (-r if a < 0 else r) & mask


def i32_div_s(a: int, b: int) -> int:
    """``i32.div_s``: truncates towards zero; traps on zero and on INT_MIN / -1."""
    if 0 < b <= INT32_MAX and a <= INT32_MAX:
        return a // b
    return _div_s(a - TWO32 if a > INT32_MAX else a, b - TWO32 if b > INT32_MAX else b, MASK32)


def i64_div_s(a: int, b: int) -> int:
    """``i64.div_s``: truncates towards zero; traps on zero and on INT_MIN / -1."""
    if 0 < b <= INT64_MAX and a <= INT64_MAX:
        return a // b
    return _div_s(a - TWO64 if a > INT64_MAX else a, b - TWO64 if b > INT64_MAX else b, MASK64)


def i32_rem_s(a: int, b: int) -> int:
    """``i32.rem_s``: the result takes the dividend's sign; traps on zero."""
    if 0 < b <= INT32_MAX and a <= INT32_MAX:
        return a % b
    return _rem_s(a - TWO32 if a > INT32_MAX else a, b - TWO32 if b > INT32_MAX else b, MASK32)


def i64_rem_s(a: int, b: int) -> int:
    """``i64.rem_s``: the result takes the dividend's sign; traps on zero."""
    if 0 < b <= INT64_MAX and a <= INT64_MAX:
        return a % b
    return _rem_s(a - TWO64 if a > INT64_MAX else a, b - TWO64 if b > INT64_MAX else b, MASK64)


# --- bit counting -----------------------------------------------------------

def i32_clz(a: int) -> int:
    """``i32.clz``: leading zero bits (32 for zero)."""
    return BITS32 - a.bit_length()


def i64_clz(a: int) -> int:
    """``i64.clz``: leading zero bits (64 for zero)."""
    return BITS64 - a.bit_length()


def i32_ctz(a: int) -> int:
    """``i32.ctz``: trailing zero bits (32 for zero)."""
    return (a & -a).bit_length() - 1 if a else BITS32


def i64_ctz(a: int) -> int:
    """``i64.ctz``: trailing zero bits (64 for zero)."""
    return (a & -a).bit_length() - 1 if a else BITS64


def i_popcnt(a: int) -> int:
    """``iN.popcnt``: number of one bits (either width)."""
    return a.bit_count()


# --- shifts and rotations (count modulo the width) --------------------------

def i32_shl(a: int, b: int) -> int:
    """``i32.shl``."""
    return (a << (b & SHIFT32)) & MASK32


def i64_shl(a: int, b: int) -> int:
    """``i64.shl``."""
    return (a << (b & SHIFT64)) & MASK64


def i32_shr_u(a: int, b: int) -> int:
    """``i32.shr_u``."""
    return a >> (b & SHIFT32)


def i64_shr_u(a: int, b: int) -> int:
    """``i64.shr_u``."""
    return a >> (b & SHIFT64)


def i32_shr_s(a: int, b: int) -> int:
    """``i32.shr_s``: arithmetic shift, replicating the sign bit."""
    if a <= INT32_MAX:
        return a >> (b & SHIFT32)
    return ((a - TWO32) >> (b & SHIFT32)) & MASK32


def i64_shr_s(a: int, b: int) -> int:
    """``i64.shr_s``: arithmetic shift, replicating the sign bit."""
    if a <= INT64_MAX:
        return a >> (b & SHIFT64)
    return ((a - TWO64) >> (b & SHIFT64)) & MASK64


def i32_rotl(a: int, b: int) -> int:
    """``i32.rotl``."""
    k = b & SHIFT32
    return ((a << k) | (a >> (BITS32 - k))) & MASK32


def i64_rotl(a: int, b: int) -> int:
    """``i64.rotl``."""
    k = b & SHIFT64
    return ((a << k) | (a >> (BITS64 - k))) & MASK64


def i32_rotr(a: int, b: int) -> int:
    """``i32.rotr``."""
    k = b & SHIFT32
    return ((a >> k) | (a << (BITS32 - k))) & MASK32


def i64_rotr(a: int, b: int) -> int:
    """``i64.rotr``."""
    k = b & SHIFT64
    return ((a >> k) | (a << (BITS64 - k))) & MASK64


# --- sign extension and wrapping --------------------------------------------

def i32_extend8_s(a: int) -> int:
    """``i32.extend8_s``: sign-extend the low byte."""
    a &= _BYTE
    return a | _EXT8_HIGH32 if a & _BYTE_SIGN else a


def i32_extend16_s(a: int) -> int:
    """``i32.extend16_s``: sign-extend the low 16 bits."""
    a &= _HALF
    return a | _EXT16_HIGH32 if a & _HALF_SIGN else a


def i64_extend8_s(a: int) -> int:
    """``i64.extend8_s``: sign-extend the low byte."""
    a &= _BYTE
    return a | _EXT8_HIGH64 if a & _BYTE_SIGN else a


def i64_extend16_s(a: int) -> int:
    """``i64.extend16_s``: sign-extend the low 16 bits."""
    a &= _HALF
    return a | _EXT16_HIGH64 if a & _HALF_SIGN else a


def i64_extend32_s(a: int) -> int:
    """``i64.extend32_s``: sign-extend the low 32 bits."""
    a &= MASK32
    return a | _EXT32_HIGH64 if a & SIGN32 else a


def i64_extend_i32_s(a: int) -> int:
    """``i64.extend_i32_s``: an i32 pattern widened with its sign."""
    return a | _EXT32_HIGH64 if a & SIGN32 else a


def i64_extend_i32_u(a: int) -> int:
    """``i64.extend_i32_u``: the pattern is already the value."""
    return a


def i32_wrap_i64(a: int) -> int:
    """``i32.wrap_i64``: the low 32 bits."""
    return a & MASK32


# --- tests and comparisons (results are i32 1/0) ----------------------------

def i_eqz(a: int) -> int:
    """``iN.eqz``."""
    return 0 if a else 1


def i_eq(a: int, b: int) -> int:
    """``iN.eq``."""
    return 1 if a == b else 0


def i_ne(a: int, b: int) -> int:
    """``iN.ne``."""
    return 1 if a != b else 0


def i_lt_u(a: int, b: int) -> int:
    """``iN.lt_u``."""
    return 1 if a < b else 0


def i_gt_u(a: int, b: int) -> int:
    """``iN.gt_u``."""
    return 1 if a > b else 0


def i_le_u(a: int, b: int) -> int:
    """``iN.le_u``."""
    return 1 if a <= b else 0


def i_ge_u(a: int, b: int) -> int:
    """``iN.ge_u``."""
    return 1 if a >= b else 0


# Flipping the sign bit maps two's-complement order onto unsigned order.

def i32_lt_s(a: int, b: int) -> int:
    """``i32.lt_s``."""
    return 1 if a ^ SIGN32 < b ^ SIGN32 else 0


def i32_gt_s(a: int, b: int) -> int:
    """``i32.gt_s``."""
    return 1 if a ^ SIGN32 > b ^ SIGN32 else 0


def i32_le_s(a: int, b: int) -> int:
    """``i32.le_s``."""
    return 1 if a ^ SIGN32 <= b ^ SIGN32 else 0


def i32_ge_s(a: int, b: int) -> int:
    """``i32.ge_s``."""
    return 1 if a ^ SIGN32 >= b ^ SIGN32 else 0


def i64_lt_s(a: int, b: int) -> int:
    """``i64.lt_s``."""
    return 1 if a ^ SIGN64 < b ^ SIGN64 else 0


def i64_gt_s(a: int, b: int) -> int:
    """``i64.gt_s``."""
    return 1 if a ^ SIGN64 > b ^ SIGN64 else 0


def i64_le_s(a: int, b: int) -> int:
    """``i64.le_s``."""
    return 1 if a ^ SIGN64 <= b ^ SIGN64 else 0


def i64_ge_s(a: int, b: int) -> int:
    """``i64.ge_s``."""
    return 1 if a ^ SIGN64 >= b ^ SIGN64 else 0


# --- per-width names for the width-generic helpers --------------------------
# Every ``iNN.op`` instruction has a helper named ``iNN_op``.

i32_and = i64_and = i_and
i32_or = i64_or = i_or
i32_xor = i64_xor = i_xor
i32_popcnt = i64_popcnt = i_popcnt
i32_eqz = i64_eqz = i_eqz
i32_eq = i64_eq = i_eq
i32_ne = i64_ne = i_ne
i32_lt_u = i64_lt_u = i_lt_u
i32_gt_u = i64_gt_u = i_gt_u
i32_le_u = i64_le_u = i_le_u
i32_ge_u = i64_ge_u = i_ge_u
