"""Floating-point instructions and float/int conversions of WebAssembly 2.0 (spec 4.3.3, 4.3.4).

Representation. An ``f64`` is a Python ``float`` moved bit-exactly through
``struct`` ``'<d'``/``'<Q'`` (a memcpy: every NaN payload survives). An ``f32``
is a ``float`` holding exactly the f32's value; a NaN f32 with bits
``s|0xFF|m`` is held as the double ``s|0x7FF|m<<29``. The quiet bit of the
f32 (fraction bit 22) then lands on the double's quiet bit (fraction bit 51),
so quietness, sign and payload all survive, and the f32 bits come back by
shifting. ``struct``'s ``'<f'`` cannot be used for NaNs because converting a
signalling NaN between float widths quiets it on x86.

Arithmetic. The hardware's IEEE double operations already give what the spec
asks of NaNs: a NaN operand comes out quieted with its payload, and an
invalid operation (``inf - inf``, ``0 * inf``) gives the default NaN, which
is canonical. f32 ``+ - * / sqrt`` are computed in double and rounded once to
f32 by :func:`f32_round`; double has more than ``2*24 + 2`` significand bits,
so this double rounding is provably equal to one correctly rounded f32
operation. Python adds two deviations that we undo: ``x / 0.0`` raises
``ZeroDivisionError`` and ``math.sqrt`` of a negative raises ``ValueError``;
both are caught off the fast path.

``f32_round`` is the hottest helper. Measured with ``timeit`` on CPython 3.11
(x86-64): a module-level ``array('f')`` store/load ~69 ns per call; native
``Struct('f')`` pack+unpack ~98 ns; standard ``Struct('<f')`` with an
``OverflowError`` handler ~102 ns; ``pack_into`` a preallocated buffer ~113
ns; ``ctypes.c_float`` ~140 ns. We use native ``Struct('f')``: its C cast
rounds to nearest-even and overflows to infinity without raising, and unlike
the faster shared ``array`` it keeps no state, so it is reentrant and safe
under threads (a thread switch between the array's store and load would hand
one caller another's value). A probe at import checks the native behaviour
and falls back to the standard format plus the handler if it differs.

Rounding to integers (``nearest``, ``ceil``, ``floor``, ``trunc``) uses the
classic ``2**52`` trick: adding and subtracting ``2**52`` rounds any
``|x| < 2**52`` to an integer, ties to even, in two float operations; values
at least that large are already integers. f32 values use the same functions
because every f32 is a double and the results are integers the f32 can hold.

Sign operations (``neg``, ``abs``, ``copysign``) must be pure bit operations.
CPython's ``-x``, ``abs()`` and ``math.copysign`` compile to sign-bit masks on
common hardware; a probe at import verifies that on signalling NaNs and
otherwise substitutes the explicit bit versions (:func:`bitwise_neg` etc.).

Canonical NaNs. Which NaN the hardware makes differs between CPUs (x86 gives
``0xFFF8000000000000`` for ``0 * inf``, ARM ``0x7FF8000000000000``; payload
propagation differs too), so the engine's ``canonical_nans`` option replaces
every NaN result of the instructions in :data:`CANONICALIZED` by the positive
canonical NaN; :data:`CANONICAL_HELPERS` are those helpers' twins for it
(constant folding, tests). The compiler does not call the twins: it checks
once where a value leaves a chain of these instructions (see
``compiler.exprs.canonical_rules``), which is valid because every one of them
propagates NaNs.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from struct import Struct
from typing import Any, Final

from .errors import Trap, TrapKind
from .numeric_int import INT32_MAX, INT64_MAX, MASK32, MASK64, SIGN32, SIGN64, TWO32, TWO64

__all__ = [
    "CANONICALIZED", "CANONICAL_HELPERS", "CANONICAL_NAN", "F32_CANONICAL_NAN_BITS", "F32_CELL_ROUNDS",
    "F32_EXP", "F32_FRAC", "F32_QUIET", "F32_SIGN", "F64_CANONICAL_NAN_BITS", "F64_EXP", "F64_FRAC",
    "F64_QUIET", "F64_SIGN", "NATIVE_F32_ROUND", "SIGN_OPS_ARE_BITWISE", "bitwise_abs", "bitwise_copysign",
    "bitwise_neg", "canonical", "f32_abs", "f32_add", "f32_ceil", "f32_cell", "f32_convert_i32_s",
    "f32_convert_i32_u", "f32_convert_i64_s", "f32_convert_i64_u", "f32_copysign", "f32_demote_f64",
    "f32_div", "f32_eq", "f32_floor", "f32_from_bits", "f32_ge", "f32_gt", "f32_le", "f32_lt", "f32_max",
    "f32_min", "f32_mul", "f32_ne", "f32_nearest", "f32_neg", "f32_pack", "f32_reinterpret_i32", "f32_round",
    "f32_sqrt", "f32_sub", "f32_to_bits", "f32_trunc", "f32_unpack", "f64_abs", "f64_add", "f64_ceil",
    "f64_convert_i32_s", "f64_convert_i32_u", "f64_convert_i64_s", "f64_convert_i64_u", "f64_copysign",
    "f64_div", "f64_eq", "f64_floor", "f64_from_bits", "f64_ge", "f64_gt", "f64_le", "f64_lt", "f64_max",
    "f64_min", "f64_mul", "f64_ne", "f64_nearest", "f64_neg", "f64_promote_f32", "f64_reinterpret_i64",
    "f64_sqrt", "f64_sub", "f64_to_bits", "f64_trunc", "f_ceil", "f_eq", "f_floor", "f_ge", "f_gt", "f_le",
    "f_lt", "f_max", "f_min", "f_ne", "f_nearest", "f_trunc", "i32_reinterpret_f32", "i32_trunc_f32_s",
    "i32_trunc_f32_u", "i32_trunc_f64_s", "i32_trunc_f64_u", "i32_trunc_sat_f32_s", "i32_trunc_sat_f32_u",
    "i32_trunc_sat_f64_s", "i32_trunc_sat_f64_u", "i64_reinterpret_f64", "i64_trunc_f32_s", "i64_trunc_f32_u",
    "i64_trunc_f64_s", "i64_trunc_f64_u", "i64_trunc_sat_f32_s", "i64_trunc_sat_f32_u", "i64_trunc_sat_f64_s",
    "i64_trunc_sat_f64_u",
]

# --- bit layout ---------------------------------------------------------------

F32_SIGN: Final = 0x8000_0000
F32_EXP: Final = 0x7F80_0000
F32_FRAC: Final = 0x007F_FFFF
F32_QUIET: Final = 0x0040_0000
F64_SIGN: Final = 0x8000_0000_0000_0000
F64_EXP: Final = 0x7FF0_0000_0000_0000
F64_FRAC: Final = 0x000F_FFFF_FFFF_FFFF
F64_QUIET: Final = 0x0008_0000_0000_0000
F64_CANONICAL_NAN_BITS: Final = 0x7FF8_0000_0000_0000
F32_CANONICAL_NAN_BITS: Final = 0x7FC0_0000
NAN_PAYLOAD_SHIFT: Final = 29  # 52 - 23: f32 fraction bits sit at the top of the double's
F32_IN_F64_MASK: Final = 0xFFFF_FFFF_E000_0000  # sign, exponent and the top 23 fraction bits
SIGN_SHIFT: Final = 32  # from the f64 sign bit down to the f32 one

F32_MANTISSA_BITS: Final = 24  # significand precision, hidden bit included
F64_EXACT_INT_LIMIT: Final = 1 << 53  # every integer below this is an exact double
_TWO52: Final = 4503599627370496.0  # 2**52: from here on every double is an integer

_INF: Final = math.inf

_S_F64 = Struct("<d")
_S_U64 = Struct("<Q")
_S_F32 = Struct("<f")
_S_U32 = Struct("<I")
_S_F32_NATIVE = Struct("f")
# Bound methods, typed with the one value each unpacks.
_pack_f64, _pack_u64 = _S_F64.pack, _S_U64.pack
_pack_f32, _pack_u32, _pack_f32_native = _S_F32.pack, _S_U32.pack, _S_F32_NATIVE.pack
_unpack_f64: Callable[[bytes], tuple[float]] = _S_F64.unpack
_unpack_u64: Callable[[bytes], tuple[int]] = _S_U64.unpack
_unpack_f32: Callable[[bytes], tuple[float]] = _S_F32.unpack
_unpack_u32: Callable[[bytes], tuple[int]] = _S_U32.unpack
_unpack_f32_native: Callable[[bytes], tuple[float]] = _S_F32_NATIVE.unpack
_sqrt = math.sqrt
_copysign = math.copysign


# --- bit patterns ---------------------------------------------------------------

def f64_from_bits(b: int) -> float:
    """The f64 with bit pattern ``b`` (u64); every NaN payload is kept."""
    return _unpack_f64(_pack_u64(b))[0]


def f64_to_bits(x: float) -> int:
    """The u64 bit pattern of an f64."""
    return _unpack_u64(_pack_f64(x))[0]


def f32_from_bits(b: int) -> float:
    """The f32 with bit pattern ``b`` (u32), NaNs in the widened representation."""
    x = _unpack_f32(_pack_u32(b))[0]
    if x != x:
        return _unpack_f64(_pack_u64(((b & F32_SIGN) << SIGN_SHIFT) | F64_EXP
                                     | ((b & F32_FRAC) << NAN_PAYLOAD_SHIFT)))[0]
    return x


def f32_to_bits(x: float) -> int:
    """The u32 bit pattern of an f32 (``x`` must hold an f32 value)."""
    if x == x:
        return _unpack_u32(_pack_f32(x))[0]
    b = f64_to_bits(x)
    frac = (b >> NAN_PAYLOAD_SHIFT) & F32_FRAC
    # A payload living only in the low bits is not an f32 NaN; keep it a NaN anyway.
    return ((b >> SIGN_SHIFT) & F32_SIGN) | F32_EXP | (frac or F32_QUIET)


CANONICAL_NAN: Final = f64_from_bits(F64_CANONICAL_NAN_BITS)
"""The positive canonical NaN; it also represents the f32 canonical NaN ``0x7FC00000``."""


# --- f32 rounding ---------------------------------------------------------------

_HUGE: Final = 1e300
_TIE_TO_EVEN: Final = (1.0 + 2.0**-24, 1.0)  # halfway between 1 and the next f32: rounds down
_TIE_TO_ODD_UP: Final = (1.0 + 3 * 2.0**-24, 1.0 + 2.0**-22)  # halfway with odd lower: rounds up


def _native_f32_is_exact() -> bool:
    """Whether native ``Struct('f')`` rounds to nearest-even and saturates to inf without raising."""
    def rounded(x: float) -> float:
        return _unpack_f32_native(_pack_f32_native(x))[0]

    try:
        return (rounded(_HUGE) == _INF and rounded(-_HUGE) == -_INF
                and rounded(_TIE_TO_EVEN[0]) == _TIE_TO_EVEN[1]
                and rounded(_TIE_TO_ODD_UP[0]) == _TIE_TO_ODD_UP[1])
    except ArithmeticError:
        return False


NATIVE_F32_ROUND: Final = _native_f32_is_exact()
"""True when :func:`f32_round` is the fast native-struct version (see module docstring)."""


def f32_cell() -> Any:
    """A one-float cell: storing a double rounds it to f32 and reading gives it back as a double.

    Its store and load are the C casts the native struct uses (``(float)d``,
    ``(double)f``), so ``c[0] = x; c[0]`` is ``f32_round(x)`` bit for bit
    where :data:`F32_CELL_ROUNDS` holds, without a call (``compiler.f32cell``). Typed Any: typeshed
    knows memoryviews of integers only.
    """
    return memoryview(bytearray(4)).cast("f")


def _cell_rounds_as_native() -> bool:
    """Whether a cell rounds as the native struct does, on the values :func:`_native_f32_is_exact` tests,
    a NaN with a payload and a subnormal."""
    cell = f32_cell()
    payload_nan = f64_from_bits(0x7FF4_0000_0000_0001)
    for x in (_HUGE, -_HUGE, *_TIE_TO_EVEN, *_TIE_TO_ODD_UP, payload_nan, 1e-45, -0.0):
        try:
            cell[0] = x
        except (ArithmeticError, ValueError):
            return False
        if f64_to_bits(cell[0]) != f64_to_bits(_unpack_f32_native(_pack_f32_native(x))[0]):
            return False
    return True


F32_CELL_ROUNDS: Final = NATIVE_F32_ROUND and _cell_rounds_as_native()
"""True when compiled code may round f32 results through a cell (:func:`f32_cell`)."""

if NATIVE_F32_ROUND:
    def f32_round(x: float) -> float:
        """Round a double to the nearest f32 (ties to even); overflow gives ±inf; never raises."""
        return _unpack_f32_native(_pack_f32_native(x))[0]
else:  # pragma: no cover - only on platforms whose C cast misbehaves
    def f32_round(x: float) -> float:
        """Round a double to the nearest f32 (ties to even); overflow gives ±inf; never raises."""
        try:
            return _unpack_f32(_pack_f32(x))[0]
        except OverflowError:
            return _copysign(_INF, x)

# ``f32_round(x)`` is ``f32_unpack(f32_pack(x))[0]``; compiled code writes it so, two C calls
# without the Python frame of ``f32_round`` (about 20 ns less of its ~110 ns on CPython 3.11).
if NATIVE_F32_ROUND:
    f32_pack: Callable[[float], Any] = _pack_f32_native
    f32_unpack: Callable[[Any], tuple[float]] = _unpack_f32_native
else:  # pragma: no cover - only on platforms whose C cast misbehaves
    def f32_pack(x: float) -> Any:
        """The value itself: :func:`f32_unpack` rounds it."""
        return x

    def f32_unpack(x: Any) -> tuple[float]:
        """``(f32_round(x),)``."""
        return (f32_round(x),)


# --- sign operations ------------------------------------------------------------

def bitwise_neg(x: float) -> float:
    """Flip the sign bit, touching nothing else (portable reference for ``neg``)."""
    return f64_from_bits(f64_to_bits(x) ^ F64_SIGN)


def bitwise_abs(x: float) -> float:
    """Clear the sign bit, touching nothing else (portable reference for ``abs``)."""
    return f64_from_bits(f64_to_bits(x) & ~F64_SIGN)


def bitwise_copysign(x: float, y: float) -> float:
    """``x`` with ``y``'s sign bit, touching nothing else (portable reference for ``copysign``)."""
    return f64_from_bits((f64_to_bits(x) & ~F64_SIGN) | (f64_to_bits(y) & F64_SIGN))


_SIGN_PROBES: Final = (
    0x7FF4_0000_0000_0001,  # signalling NaN with a low payload
    0xFFF0_0000_0000_0001,  # negative signalling NaN, smallest payload
    0x7FA0_0000_2000_0000,  # ordinary number
    F64_CANONICAL_NAN_BITS,
    0xFFFF_FFFF_FFFF_FFFF,  # negative quiet NaN, all payload bits set
    0x7FF4_0000_0000_0000,  # the widened f32 signalling NaN 0x7FA00000
)


def _sign_ops_are_bitwise() -> bool:
    """Whether ``-x``, ``abs(x)`` and ``math.copysign`` act on the sign bit alone here."""
    positive, negative = 1.0, -1.0
    for bits in _SIGN_PROBES:
        x = f64_from_bits(bits)
        cleared, set_ = bits & ~F64_SIGN, bits | F64_SIGN
        if (f64_to_bits(-x) != bits ^ F64_SIGN or f64_to_bits(abs(x)) != cleared
                or f64_to_bits(_copysign(x, negative)) != set_
                or f64_to_bits(_copysign(x, positive)) != cleared
                or (_copysign(positive, x) < 0.0) != bool(bits & F64_SIGN)):
            return False
    return True


SIGN_OPS_ARE_BITWISE: Final = _sign_ops_are_bitwise()
"""True when the compiler may emit ``-x``, ``abs(x)`` and ``math.copysign(x, y)`` directly."""

f64_neg: Callable[[float], float] = operator.neg if SIGN_OPS_ARE_BITWISE else bitwise_neg
f64_abs: Callable[[float], float] = abs if SIGN_OPS_ARE_BITWISE else bitwise_abs
f64_copysign: Callable[[float, float], float] = _copysign if SIGN_OPS_ARE_BITWISE else bitwise_copysign
# The f32 representation shares the double's sign bit, so the same functions serve.
f32_neg = f64_neg
f32_abs = f64_abs
f32_copysign = f64_copysign


# --- arithmetic -----------------------------------------------------------------

def f64_add(a: float, b: float) -> float:
    """``f64.add``."""
    return a + b


def f64_sub(a: float, b: float) -> float:
    """``f64.sub``."""
    return a - b


def f64_mul(a: float, b: float) -> float:
    """``f64.mul``."""
    return a * b


def f32_add(a: float, b: float) -> float:
    """``f32.add``: the double sum rounded once to f32."""
    return f32_round(a + b)


def f32_sub(a: float, b: float) -> float:
    """``f32.sub``."""
    return f32_round(a - b)


def f32_mul(a: float, b: float) -> float:
    """``f32.mul``."""
    return f32_round(a * b)


def _div_by_zero(a: float, b: float) -> float:
    """IEEE division by a signed zero ``b``: NaN stays NaN, 0/0 is NaN, else a signed infinity."""
    if a != a:
        return a + b  # quiets a signalling NaN dividend
    if a == 0.0:
        return CANONICAL_NAN
    return _INF if (_copysign(1.0, a) > 0.0) == (_copysign(1.0, b) > 0.0) else -_INF


def f64_div(a: float, b: float) -> float:
    """``f64.div``: IEEE division; never raises."""
    try:
        return a / b
    except ZeroDivisionError:
        return _div_by_zero(a, b)


def f32_div(a: float, b: float) -> float:
    """``f32.div``: IEEE division rounded to f32; never raises."""
    try:
        return f32_round(a / b)
    except ZeroDivisionError:
        return _div_by_zero(a, b)


def f64_sqrt(x: float) -> float:
    """``f64.sqrt``: negative operands give the canonical NaN."""
    try:
        return _sqrt(x)
    except ValueError:
        return CANONICAL_NAN


def f32_sqrt(x: float) -> float:
    """``f32.sqrt``: negative operands give the canonical NaN."""
    try:
        return f32_round(_sqrt(x))
    except ValueError:
        return CANONICAL_NAN


def f_min(a: float, b: float) -> float:
    """``f32.min``/``f64.min``: NaN if either is NaN; -0 is below +0."""
    if a < b:
        return a
    if b < a:
        return b
    if a == b:
        return a if a else -(-a - b)  # two zeros: +0 only when both are +0
    return a + b  # some operand is NaN: a quiet NaN, canonical if every NaN operand was


def f_max(a: float, b: float) -> float:
    """``f32.max``/``f64.max``: NaN if either is NaN; +0 is above -0."""
    if a > b:
        return a
    if b > a:
        return b
    if a == b:
        return a if a else a + b  # two zeros: -0 only when both are -0
    return a + b


# --- rounding to integral values --------------------------------------------

def f_nearest(x: float) -> float:
    """``fN.nearest``: round half to even, keeping the sign of zero; inf passes, NaN is quieted."""
    if x > 0.0:
        if x < _TWO52:
            return (x + _TWO52) - _TWO52
        return x
    if x < 0.0:
        if x > -_TWO52:
            r = (x - _TWO52) + _TWO52
            return r if r else -0.0
        return x
    return x + x  # ±0 unchanged, NaN quieted


def f_floor(x: float) -> float:
    """``fN.floor``: towards minus infinity, keeping -0.0, inf and (quieted) NaN."""
    if x > 0.0:
        if x < _TWO52:
            r = (x + _TWO52) - _TWO52
            return r - 1.0 if r > x else r
        return x
    if x < 0.0:
        if x > -_TWO52:
            r = (x - _TWO52) + _TWO52
            return r - 1.0 if r > x else r
        return x
    return x + x


def f_ceil(x: float) -> float:
    """``fN.ceil``: towards plus infinity; results in (-1, 0) are -0.0."""
    if x > 0.0:
        if x < _TWO52:
            r = (x + _TWO52) - _TWO52
            return r + 1.0 if r < x else r
        return x
    if x < 0.0:
        if x > -_TWO52:
            r = (x - _TWO52) + _TWO52
            if r < x:
                r += 1.0
            return r if r else -0.0
        return x
    return x + x


def f_trunc(x: float) -> float:
    """``fN.trunc``: towards zero, keeping the sign of zero."""
    if x > 0.0:
        if x < _TWO52:
            r = (x + _TWO52) - _TWO52
            return r - 1.0 if r > x else r
        return x
    if x < 0.0:
        if x > -_TWO52:
            r = (x - _TWO52) + _TWO52
            if r < x:
                r += 1.0
            return r if r else -0.0
        return x
    return x + x


# --- comparisons (i32 results 1/0; NaN compares unequal to everything) ------

def f_eq(a: float, b: float) -> int:
    """``fN.eq``."""
    return 1 if a == b else 0


def f_ne(a: float, b: float) -> int:
    """``fN.ne`` (true when either is NaN)."""
    return 1 if a != b else 0


def f_lt(a: float, b: float) -> int:
    """``fN.lt``."""
    return 1 if a < b else 0


def f_gt(a: float, b: float) -> int:
    """``fN.gt``."""
    return 1 if a > b else 0


def f_le(a: float, b: float) -> int:
    """``fN.le``."""
    return 1 if a <= b else 0


def f_ge(a: float, b: float) -> int:
    """``fN.ge``."""
    return 1 if a >= b else 0


# --- float to integer: trapping truncation ----------------------------------
# Bounds are exclusive and exact in the reals, so they hold for f32 operands too
# (an f32 is a double): trunc(x) fits iff low < x < high.

_I32_S_LOW: Final = -2147483649.0  # -2**31 - 1
_I32_S_HIGH: Final = 2147483648.0  # 2**31
_U_LOW: Final = -1.0
_I32_U_HIGH: Final = 4294967296.0  # 2**32
_I64_S_LOW: Final = -9223372036854777856.0  # the double just below -2**63
_I64_S_HIGH: Final = 9223372036854775808.0  # 2**63
_I64_U_HIGH: Final = 18446744073709551616.0  # 2**64


def _bad_conversion(x: float) -> Trap:
    """The trap for a truncation whose operand has no in-range integer part."""
    return Trap(TrapKind.INVALID_CONVERSION if x != x else TrapKind.INTEGER_OVERFLOW)


def i32_trunc_f64_s(x: float) -> int:
    """``i32.trunc_f64_s`` (also ``_f32_s``): traps on NaN and out-of-range."""
    if _I32_S_LOW < x < _I32_S_HIGH:
        return int(x) & MASK32
    raise _bad_conversion(x)


def i32_trunc_f64_u(x: float) -> int:
    """``i32.trunc_f64_u`` (also ``_f32_u``): traps on NaN and out-of-range."""
    if _U_LOW < x < _I32_U_HIGH:
        return int(x)
    raise _bad_conversion(x)


def i64_trunc_f64_s(x: float) -> int:
    """``i64.trunc_f64_s`` (also ``_f32_s``): traps on NaN and out-of-range."""
    if _I64_S_LOW < x < _I64_S_HIGH:
        return int(x) & MASK64
    raise _bad_conversion(x)


def i64_trunc_f64_u(x: float) -> int:
    """``i64.trunc_f64_u`` (also ``_f32_u``): traps on NaN and out-of-range."""
    if _U_LOW < x < _I64_U_HIGH:
        return int(x)
    raise _bad_conversion(x)


i32_trunc_f32_s = i32_trunc_f64_s
i32_trunc_f32_u = i32_trunc_f64_u
i64_trunc_f32_s = i64_trunc_f64_s
i64_trunc_f32_u = i64_trunc_f64_u


# --- float to integer: saturating truncation --------------------------------

def i32_trunc_sat_f64_s(x: float) -> int:
    """``i32.trunc_sat_f64_s`` (also ``_f32_s``): clamps; NaN gives 0."""
    if _I32_S_LOW < x < _I32_S_HIGH:
        return int(x) & MASK32
    if x > 0.0:
        return INT32_MAX
    return SIGN32 if x < 0.0 else 0


def i32_trunc_sat_f64_u(x: float) -> int:
    """``i32.trunc_sat_f64_u`` (also ``_f32_u``): clamps; NaN gives 0."""
    if _U_LOW < x < _I32_U_HIGH:
        return int(x)
    return MASK32 if x > 0.0 else 0


def i64_trunc_sat_f64_s(x: float) -> int:
    """``i64.trunc_sat_f64_s`` (also ``_f32_s``): clamps; NaN gives 0."""
    if _I64_S_LOW < x < _I64_S_HIGH:
        return int(x) & MASK64
    if x > 0.0:
        return INT64_MAX
    return SIGN64 if x < 0.0 else 0


def i64_trunc_sat_f64_u(x: float) -> int:
    """``i64.trunc_sat_f64_u`` (also ``_f32_u``): clamps; NaN gives 0."""
    if _U_LOW < x < _I64_U_HIGH:
        return int(x)
    return MASK64 if x > 0.0 else 0


i32_trunc_sat_f32_s = i32_trunc_sat_f64_s
i32_trunc_sat_f32_u = i32_trunc_sat_f64_u
i64_trunc_sat_f32_s = i64_trunc_sat_f64_s
i64_trunc_sat_f32_u = i64_trunc_sat_f64_u


# --- integer to float -----------------------------------------------------------
# Python's float(int) rounds correctly to nearest-even, so f64 conversions are
# one call. For f32, float(int) is exact below 2**53 and f32_round then rounds
# once; above, float(int) would round a first time, so we round the integer
# ourselves to 24 significant bits.

def f64_convert_i32_s(a: int) -> float:
    """``f64.convert_i32_s`` (exact)."""
    return float(a - TWO32 if a > INT32_MAX else a)


def f64_convert_i32_u(a: int) -> float:
    """``f64.convert_i32_u`` (exact)."""
    return float(a)


def f64_convert_i64_s(a: int) -> float:
    """``f64.convert_i64_s``: rounded to nearest-even."""
    return float(a - TWO64 if a > INT64_MAX else a)


def f64_convert_i64_u(a: int) -> float:
    """``f64.convert_i64_u``: rounded to nearest-even."""
    return float(a)


def f32_convert_i32_s(a: int) -> float:
    """``f32.convert_i32_s``: rounded once to nearest-even."""
    return f32_round(float(a - TWO32 if a > INT32_MAX else a))


def f32_convert_i32_u(a: int) -> float:
    """``f32.convert_i32_u``: rounded once to nearest-even."""
    return f32_round(float(a))


def _f32_from_large_int(v: int) -> float:
    """Round a non-negative integer of at least 53 bits to f32 in one step (ties to even)."""
    shift = v.bit_length() - F32_MANTISSA_BITS
    kept = v >> shift
    dropped = v - (kept << shift)
    half = 1 << (shift - 1)
    if dropped > half or (dropped == half and kept & 1):
        kept += 1
    return float(kept << shift)  # 25 significant bits at most: exact


def f32_convert_i64_u(a: int) -> float:
    """``f32.convert_i64_u``: rounded once to nearest-even (no double rounding)."""
    if a < F64_EXACT_INT_LIMIT:
        return f32_round(float(a))
    return _f32_from_large_int(a)


def f32_convert_i64_s(a: int) -> float:
    """``f32.convert_i64_s``: rounded once to nearest-even (no double rounding)."""
    if a <= INT64_MAX:
        return f32_convert_i64_u(a)
    return -f32_convert_i64_u(TWO64 - a)  # rounding to nearest is symmetric in the sign


# --- between float widths -----------------------------------------------------

def f32_demote_f64(x: float) -> float:
    """``f32.demote_f64``: rounded to f32; a NaN keeps sign and top payload bits, quieted."""
    if x == x:
        return f32_round(x)
    return f64_from_bits((f64_to_bits(x) | F64_QUIET) & F32_IN_F64_MASK)


def f64_promote_f32(x: float) -> float:
    """``f64.promote_f32``: exact; a NaN is quieted (so canonical stays canonical)."""
    if x == x:
        return x
    return f64_from_bits(f64_to_bits(x) | F64_QUIET)


# --- reinterpretations ------------------------------------------------------------

i32_reinterpret_f32 = f32_to_bits
i64_reinterpret_f64 = f64_to_bits
f32_reinterpret_i32 = f32_from_bits
f64_reinterpret_i64 = f64_from_bits


# --- per-width names for the width-generic helpers --------------------------
# Every ``fNN.op`` instruction has a helper named ``fNN_op``.

f32_min = f64_min = f_min
f32_max = f64_max = f_max
f32_nearest = f64_nearest = f_nearest
f32_floor = f64_floor = f_floor
f32_ceil = f64_ceil = f_ceil
f32_trunc = f64_trunc = f_trunc
f32_eq = f64_eq = f_eq
f32_ne = f64_ne = f_ne
f32_lt = f64_lt = f_lt
f32_gt = f64_gt = f_gt
f32_le = f64_le = f_le
f32_ge = f64_ge = f_ge


# --- canonical NaNs ---------------------------------------------------------------
# An engine option (``canonical_nans``) for results that must not depend on the CPU:
# every instruction that can make a NaN from arithmetic returns the positive canonical
# NaN instead of whichever NaN the hardware picked (its sign and payload differ between
# x86 and ARM). Bit operations (neg, abs, copysign, reinterpret, loads, stores) keep
# their bits. The f32 canonical NaN 0x7FC00000 is held as the same double as the f64
# one (see the representation above), so one constant serves both widths.

CANONICALIZED: Final = (
    "f32_add", "f32_sub", "f32_mul", "f32_div", "f32_sqrt", "f32_min", "f32_max",
    "f32_ceil", "f32_floor", "f32_trunc", "f32_nearest",
    "f64_add", "f64_sub", "f64_mul", "f64_div", "f64_sqrt", "f64_min", "f64_max",
    "f64_ceil", "f64_floor", "f64_trunc", "f64_nearest",
    "f32_demote_f64", "f64_promote_f32",
)
"""The helpers of every instruction that can produce a NaN from arithmetic (by helper name).

Each of them also propagates NaNs: a NaN operand gives a NaN result. So a
chain of them needs canonicalizing only where its value leaves the chain:
``canon(op(canon(x), y)) == canon(op(x, y))`` for any NaN or non-NaN ``x``.
"""


def canonical(x: float) -> float:
    """``x``, or the positive canonical NaN if ``x`` is any NaN."""
    return x if x == x else CANONICAL_NAN


def _canonical_twin(helper: Callable[..., float]) -> Callable[..., float]:
    """``helper`` with every NaN result replaced by the positive canonical NaN."""
    def twin(*args: float) -> float:
        r = helper(*args)
        return r if r == r else CANONICAL_NAN
    twin.__name__ = f"{helper.__name__}_canonical"
    twin.__doc__ = f"{helper.__doc__} NaN results are the positive canonical NaN."
    return twin


CANONICAL_HELPERS: Final[dict[str, Callable[..., float]]] = {
    name: _canonical_twin(globals()[name]) for name in CANONICALIZED
}
"""Helper name (see :data:`CANONICALIZED`) -> its canonical-NaN twin."""
