"""Tests of ``wasmpool.wasm.numeric``: the exact numerics of WebAssembly 2.0.

Expected values come from three independent places: hand-checked tables of
the boundaries the spec is picky about, exact rational arithmetic
(``fractions.Fraction``) as an oracle for every rounding operation, and the
spec suite's own assertions for the numeric scripts, replayed directly
against the helpers (no engine involved).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import SPEC_SKIP_MESSAGE, spec_dir
from tests.wasm.spec_cases import load_script
from wasmpool.wasm import numeric as n
from wasmpool.wasm.errors import TRAP_MESSAGES, Trap, TrapKind
from wasmpool.wasm.opcodes import OPS, Family, Imm

M32 = 0xFFFF_FFFF
M64 = 0xFFFF_FFFF_FFFF_FFFF
INF = math.inf


def u32(v: int) -> int:
    return v & M32


def u64(v: int) -> int:
    return v & M64


def f32_bits(x: float) -> int:
    return n.f32_to_bits(x)


def f64_bits(x: float) -> int:
    return n.f64_to_bits(x)


def is_canonical32(bits: int) -> bool:
    return bits & 0x7FFF_FFFF == 0x7FC0_0000


def is_arithmetic32(bits: int) -> bool:
    return bits & 0x7FC0_0000 == 0x7FC0_0000


def is_canonical64(bits: int) -> bool:
    return bits & 0x7FFF_FFFF_FFFF_FFFF == 0x7FF8_0000_0000_0000


def is_arithmetic64(bits: int) -> bool:
    return bits & 0x7FF8_0000_0000_0000 == 0x7FF8_0000_0000_0000


# --- exact rounding oracle ------------------------------------------------------

F32_PRECISION, F32_EMIN, F32_EMAX = 24, -126, 127
F64_PRECISION, F64_EMIN, F64_EMAX = 53, -1022, 1023


def _floor_log2(q: Fraction) -> int:
    """floor(log2(q)) for q > 0."""
    e = q.numerator.bit_length() - q.denominator.bit_length()
    return e if Fraction(2) ** e <= q else e - 1


def round_binary(q: Fraction, precision: int = F32_PRECISION, emin: int = F32_EMIN,
                 emax: int = F32_EMAX) -> float:
    """The IEEE binary float nearest to q (ties to even), overflowing to inf. q == 0 gives +0."""
    if q == 0:
        return 0.0
    sign = -1.0 if q < 0 else 1.0
    q = abs(q)
    quantum = max(_floor_log2(q), emin) - (precision - 1)
    m = round(q / Fraction(2) ** quantum)  # Fraction rounds half to even
    value = m * Fraction(2) ** quantum
    if value >= Fraction(2) ** (emax + 1):
        return sign * INF
    return sign * float(value)


def round_sqrt_f32(q: Fraction) -> float:
    """The f32 nearest to sqrt(q) for q > 0, by integer square roots."""
    quantum = _floor_log2(q) // 2 - (F32_PRECISION - 1)  # results of f32 sqrt are never subnormal
    scaled = q / Fraction(4) ** quantum
    m = math.isqrt(math.floor(scaled))
    midpoint = Fraction(2 * m + 1, 2) ** 2
    if scaled > midpoint or (scaled == midpoint and m & 1):
        m += 1
    return float(m * Fraction(2) ** quantum)


finite_f32 = st.integers(0, M32).map(n.f32_from_bits).filter(math.isfinite)


def same_float(a: float, b: float) -> bool:
    """Equal including the sign of zero."""
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


# --- bit patterns -----------------------------------------------------------------

F32_PATTERNS = [
    pytest.param(0x7FA0_0000, id="f32-snan"),
    pytest.param(0xFFA0_0001, id="f32-neg-snan-payload"),
    pytest.param(0x7F80_0001, id="f32-smallest-snan"),
    pytest.param(0x7FC0_0000, id="f32-canonical-nan"),
    pytest.param(0xFFFF_FFFF, id="f32-all-ones-nan"),
    pytest.param(0x7F80_0000, id="f32-inf"),
    pytest.param(0x8000_0000, id="f32-neg-zero"),
    pytest.param(0x0000_0001, id="f32-min-subnormal"),
    pytest.param(0x3F80_0000, id="f32-one"),
]
F64_PATTERNS = [
    pytest.param(0x7FF4_0000_0000_0000, id="f64-snan"),
    pytest.param(0xFFF0_0000_0000_0001, id="f64-neg-smallest-snan"),
    pytest.param(0x7FF8_0000_0000_0000, id="f64-canonical-nan"),
    pytest.param(0xFFFF_FFFF_FFFF_FFFF, id="f64-all-ones-nan"),
    pytest.param(0x7FF0_0000_0000_0000, id="f64-inf"),
    pytest.param(0x8000_0000_0000_0000, id="f64-neg-zero"),
    pytest.param(0x0000_0000_0000_0001, id="f64-min-subnormal"),
]


@pytest.mark.parametrize("bits", F32_PATTERNS)
def test_f32_bits_round_trip(bits: int) -> None:
    assert f32_bits(n.f32_from_bits(bits)) == bits


def test_f32_nan_representation_is_widened_payload() -> None:
    # s|0xFF|m is held as the double s|0x7FF|m<<29: quiet bit on quiet bit.
    assert f64_bits(n.f32_from_bits(0xFFA0_0001)) == 0xFFF4_0000_2000_0000


@pytest.mark.parametrize("bits", F64_PATTERNS)
def test_f64_bits_round_trip(bits: int) -> None:
    assert f64_bits(n.f64_from_bits(bits)) == bits


SIGN_IMPLEMENTATIONS = [
    pytest.param(n.f64_neg, n.f64_abs, n.f64_copysign, id="chosen"),
    pytest.param(n.bitwise_neg, n.bitwise_abs, n.bitwise_copysign, id="bitwise"),
]


@pytest.mark.parametrize(("neg", "fabs", "copysign"), SIGN_IMPLEMENTATIONS)
@pytest.mark.parametrize("bits", F32_PATTERNS)
def test_f32_sign_ops_touch_only_the_sign_bit(neg: Callable[[float], float],
                                                fabs: Callable[[float], float],
                                                copysign: Callable[[float, float], float],
                                                bits: int) -> None:
    x = n.f32_from_bits(bits)
    assert f32_bits(neg(x)) == bits ^ 0x8000_0000
    assert f32_bits(fabs(x)) == bits & 0x7FFF_FFFF
    assert f32_bits(copysign(x, -1.0)) == bits | 0x8000_0000
    assert f32_bits(copysign(x, n.f32_from_bits(0x7FA0_0000))) == bits & 0x7FFF_FFFF
    assert f32_bits(copysign(1.0, x)) == 0x3F80_0000 | (bits & 0x8000_0000)


@pytest.mark.parametrize(("neg", "fabs", "copysign"), SIGN_IMPLEMENTATIONS)
@pytest.mark.parametrize("bits", F64_PATTERNS)
def test_f64_sign_ops_touch_only_the_sign_bit(neg: Callable[[float], float],
                                                fabs: Callable[[float], float],
                                                copysign: Callable[[float, float], float],
                                                bits: int) -> None:
    sign = 0x8000_0000_0000_0000
    x = n.f64_from_bits(bits)
    assert f64_bits(neg(x)) == bits ^ sign
    assert f64_bits(fabs(x)) == bits & ~sign
    assert f64_bits(copysign(x, n.f64_from_bits(0xFFF4_0000_0000_0000))) == bits | sign
    assert f64_bits(copysign(x, 0.0)) == bits & ~sign


# --- f32 rounding ---------------------------------------------------------------------

F32_MAX = n.f32_from_bits(0x7F7F_FFFF)
ROUNDING_CASES = [
    pytest.param(1.0 + 2.0**-24, 1.0, id="tie-to-even-down"),
    pytest.param(1.0 + 3 * 2.0**-24, 1.0 + 2.0**-22, id="tie-to-even-up"),
    pytest.param(1.0 + 2.0**-24 + 2.0**-50, 1.0 + 2.0**-23, id="just-above-tie"),
    pytest.param(-(1.0 + 2.0**-24), -1.0, id="negative-tie"),
    pytest.param(2.0**128 - 2.0**103, INF, id="tie-above-max-overflows"),
    pytest.param(2.0**128 - 2.0**103 - 2.0**75, F32_MAX, id="just-below-overflow-tie"),
    pytest.param(1e300, INF, id="huge"),
    pytest.param(-1e300, -INF, id="huge-negative"),
    pytest.param(2.0**-150, 0.0, id="half-min-subnormal-to-zero"),
    pytest.param(-(2.0**-150), -0.0, id="negative-underflow-keeps-sign"),
    pytest.param(3 * 2.0**-150, 2.0**-148, id="subnormal-tie-to-even"),
    pytest.param(2.0**-150 + 2.0**-200, 2.0**-149, id="above-half-min-subnormal"),
    pytest.param(0.1, 0.100000001490116119384765625, id="decimal-0.1"),
    pytest.param(-0.0, -0.0, id="negative-zero"),
    pytest.param(INF, INF, id="inf"),
]


@pytest.mark.parametrize(("x", "expected"), ROUNDING_CASES)
def test_f32_round(x: float, expected: float) -> None:
    assert same_float(n.f32_round(x), expected)
    if math.isfinite(x) and x:
        assert same_float(n.f32_round(x), round_binary(Fraction(x)) or math.copysign(0.0, x))


def test_f32_round_keeps_nan() -> None:
    x = n.f32_from_bits(0x7FE0_0001)
    assert f32_bits(n.f32_round(x)) == 0x7FE0_0001


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_f32_round_matches_exact_oracle(x: float) -> None:
    expected = round_binary(Fraction(x))
    assert n.f32_round(x) == expected
    if expected:
        assert same_float(n.f32_round(x), expected)


# --- integer division ---------------------------------------------------------------

DIVISION_CASES = [
    pytest.param(n.i32_div_s, u32(-7), 2, u32(-3), id="i32_div_s:-7/2=-3"),
    pytest.param(n.i32_div_s, 7, u32(-2), u32(-3), id="i32_div_s:7/-2=-3"),
    pytest.param(n.i32_div_s, u32(-7), u32(-2), 3, id="i32_div_s:-7/-2=3"),
    pytest.param(n.i32_div_s, 7, 2, 3, id="i32_div_s:7/2=3"),
    pytest.param(n.i32_div_s, 0x8000_0000, 2, 0xC000_0000, id="i32_div_s:min/2"),
    pytest.param(n.i32_div_s, 0x8000_0000, 1, 0x8000_0000, id="i32_div_s:min/1"),
    pytest.param(n.i32_div_u, u32(-7), 2, 0x7FFF_FFFC, id="i32_div_u:unsigned"),
    pytest.param(n.i32_rem_s, u32(-7), 2, u32(-1), id="i32_rem_s:-7%2=-1"),
    pytest.param(n.i32_rem_s, 7, u32(-2), 1, id="i32_rem_s:7%-2=1"),
    pytest.param(n.i32_rem_s, u32(-7), u32(-2), u32(-1), id="i32_rem_s:-7%-2=-1"),
    pytest.param(n.i32_rem_s, 0x8000_0000, u32(-1), 0, id="i32_rem_s:min%-1=0"),
    pytest.param(n.i32_rem_u, u32(-7), 2, 1, id="i32_rem_u:unsigned"),
    pytest.param(n.i64_div_s, u64(-7), 2, u64(-3), id="i64_div_s:-7/2=-3"),
    pytest.param(n.i64_div_s, 7, u64(-2), u64(-3), id="i64_div_s:7/-2=-3"),
    pytest.param(n.i64_div_s, u64(-7), u64(-2), 3, id="i64_div_s:-7/-2=3"),
    pytest.param(n.i64_div_s, 1 << 63, 2, 0xC000_0000_0000_0000, id="i64_div_s:min/2"),
    pytest.param(n.i64_div_u, u64(-7), 2, 0x7FFF_FFFF_FFFF_FFFC, id="i64_div_u:unsigned"),
    pytest.param(n.i64_rem_s, u64(-7), 2, u64(-1), id="i64_rem_s:-7%2=-1"),
    pytest.param(n.i64_rem_s, 7, u64(-2), 1, id="i64_rem_s:7%-2=1"),
    pytest.param(n.i64_rem_s, 1 << 63, u64(-1), 0, id="i64_rem_s:min%-1=0"),
    pytest.param(n.i64_rem_u, u64(-7), 2, 1, id="i64_rem_u:unsigned"),
]


@pytest.mark.parametrize(("fn", "a", "b", "expected"), DIVISION_CASES)
def test_division_truncates_towards_zero(fn: Callable[[int, int], int], a: int, b: int,
                                         expected: int) -> None:
    assert fn(a, b) == expected


DIVISION_TRAPS = [
    *(pytest.param(fn, 5, 0, TrapKind.INTEGER_DIVIDE_BY_ZERO, id=f"{fn.__name__}:by-zero")
      for fn in (n.i32_div_s, n.i32_div_u, n.i32_rem_s, n.i32_rem_u,
                 n.i64_div_s, n.i64_div_u, n.i64_rem_s, n.i64_rem_u)),
    pytest.param(n.i32_div_s, 0x8000_0000, 0, TrapKind.INTEGER_DIVIDE_BY_ZERO, id="i32_div_s:min/0"),
    pytest.param(n.i32_div_s, 0x8000_0000, M32, TrapKind.INTEGER_OVERFLOW, id="i32_div_s:min/-1"),
    pytest.param(n.i64_div_s, 1 << 63, M64, TrapKind.INTEGER_OVERFLOW, id="i64_div_s:min/-1"),
]


@pytest.mark.parametrize(("fn", "a", "b", "kind"), DIVISION_TRAPS)
def test_division_traps(fn: Callable[[int, int], int], a: int, b: int, kind: TrapKind) -> None:
    with pytest.raises(Trap) as info:
        fn(a, b)
    assert info.value.kind is kind


# --- bits, shifts, rotations, extensions -----------------------------------------

BIT_COUNT_CASES = [
    pytest.param(n.i32_clz, 0, 32, id="i32_clz:0"),
    pytest.param(n.i32_clz, M32, 0, id="i32_clz:ones"),
    pytest.param(n.i32_clz, 1, 31, id="i32_clz:1"),
    pytest.param(n.i32_ctz, 0, 32, id="i32_ctz:0"),
    pytest.param(n.i32_ctz, M32, 0, id="i32_ctz:ones"),
    pytest.param(n.i32_ctz, 0x8000_0000, 31, id="i32_ctz:sign"),
    pytest.param(n.i32_popcnt, 0, 0, id="i32_popcnt:0"),
    pytest.param(n.i32_popcnt, M32, 32, id="i32_popcnt:ones"),
    pytest.param(n.i64_clz, 0, 64, id="i64_clz:0"),
    pytest.param(n.i64_clz, M64, 0, id="i64_clz:ones"),
    pytest.param(n.i64_ctz, 0, 64, id="i64_ctz:0"),
    pytest.param(n.i64_ctz, M64, 0, id="i64_ctz:ones"),
    pytest.param(n.i64_ctz, 1 << 63, 63, id="i64_ctz:sign"),
    pytest.param(n.i64_popcnt, 0, 0, id="i64_popcnt:0"),
    pytest.param(n.i64_popcnt, M64, 64, id="i64_popcnt:ones"),
]


@pytest.mark.parametrize(("fn", "a", "expected"), BIT_COUNT_CASES)
def test_bit_counts(fn: Callable[[int], int], a: int, expected: int) -> None:
    assert fn(a) == expected


SHIFT_CASES = [
    pytest.param(n.i32_shl, 1, 32, 1, id="i32_shl:by-32-is-by-0"),
    pytest.param(n.i32_shl, 1, 33, 2, id="i32_shl:by-33"),
    pytest.param(n.i32_shl, 3, 31, 0x8000_0000, id="i32_shl:drops-high"),
    pytest.param(n.i32_shr_u, 0x8000_0000, 63, 1, id="i32_shr_u:by-63"),
    pytest.param(n.i32_shr_s, 0x8000_0000, 31, M32, id="i32_shr_s:sign-fill"),
    pytest.param(n.i32_shr_s, 0x8000_0000, 32, 0x8000_0000, id="i32_shr_s:by-32"),
    pytest.param(n.i32_shr_s, 0x4000_0000, 30, 1, id="i32_shr_s:positive"),
    pytest.param(n.i32_rotl, 0x8000_0001, 1, 3, id="i32_rotl:wraps"),
    pytest.param(n.i32_rotl, 0x8000_0001, 33, 3, id="i32_rotl:by-33"),
    pytest.param(n.i32_rotl, 0x1234_5678, 32, 0x1234_5678, id="i32_rotl:by-32"),
    pytest.param(n.i32_rotr, 3, 1, 0x8000_0001, id="i32_rotr:wraps"),
    pytest.param(n.i32_rotr, 3, 0xFFFF_FFE1, 0x8000_0001, id="i32_rotr:by-huge"),
    pytest.param(n.i64_shl, 1, 64, 1, id="i64_shl:by-64-is-by-0"),
    pytest.param(n.i64_shl, 1, 65, 2, id="i64_shl:by-65"),
    pytest.param(n.i64_shr_u, 1 << 63, 127, 1, id="i64_shr_u:by-127"),
    pytest.param(n.i64_shr_s, 1 << 63, 63, M64, id="i64_shr_s:sign-fill"),
    pytest.param(n.i64_shr_s, 1 << 63, 64, 1 << 63, id="i64_shr_s:by-64"),
    pytest.param(n.i64_rotl, (1 << 63) | 1, 1, 3, id="i64_rotl:wraps"),
    pytest.param(n.i64_rotl, (1 << 63) | 1, 65, 3, id="i64_rotl:by-65"),
    pytest.param(n.i64_rotr, 3, 1, (1 << 63) | 1, id="i64_rotr:wraps"),
    pytest.param(n.i64_rotr, 3, 64, 3, id="i64_rotr:by-64"),
]


@pytest.mark.parametrize(("fn", "a", "b", "expected"), SHIFT_CASES)
def test_shifts_take_count_modulo_width(fn: Callable[[int, int], int], a: int, b: int,
                                        expected: int) -> None:
    assert fn(a, b) == expected


EXTEND_CASES = [
    pytest.param(n.i32_extend8_s, 0x7F, 0x7F, id="i32_extend8_s:positive"),
    pytest.param(n.i32_extend8_s, 0x1234_5680, 0xFFFF_FF80, id="i32_extend8_s:negative"),
    pytest.param(n.i32_extend16_s, 0x8000, 0xFFFF_8000, id="i32_extend16_s:negative"),
    pytest.param(n.i32_extend16_s, 0xFFFF_7FFF, 0x7FFF, id="i32_extend16_s:positive"),
    pytest.param(n.i64_extend8_s, 0x80, u64(-128), id="i64_extend8_s:negative"),
    pytest.param(n.i64_extend16_s, 0xFFFF, M64, id="i64_extend16_s:minus-one"),
    pytest.param(n.i64_extend32_s, 0x1_8000_0000, u64(-(1 << 31)), id="i64_extend32_s:negative"),
    pytest.param(n.i64_extend32_s, 0xFFFF_FFFF_7FFF_FFFF, 0x7FFF_FFFF, id="i64_extend32_s:positive"),
    pytest.param(n.i64_extend_i32_s, 0x8000_0000, u64(-(1 << 31)), id="i64_extend_i32_s:negative"),
    pytest.param(n.i64_extend_i32_s, 0x7FFF_FFFF, 0x7FFF_FFFF, id="i64_extend_i32_s:positive"),
    pytest.param(n.i64_extend_i32_u, 0x8000_0000, 0x8000_0000, id="i64_extend_i32_u"),
    pytest.param(n.i32_wrap_i64, 0x1_2345_6789, 0x2345_6789, id="i32_wrap_i64"),
]


@pytest.mark.parametrize(("fn", "a", "expected"), EXTEND_CASES)
def test_extensions(fn: Callable[[int], int], a: int, expected: int) -> None:
    assert fn(a) == expected


SIGNED_COMPARE_CASES = [
    pytest.param(n.i32_lt_s, M32, 0, 1, id="i32_lt_s:-1<0"),
    pytest.param(n.i32_gt_s, 0x8000_0000, 0x7FFF_FFFF, 0, id="i32_gt_s:min>max"),
    pytest.param(n.i32_le_s, 5, 5, 1, id="i32_le_s:equal"),
    pytest.param(n.i32_ge_s, 0, M32, 1, id="i32_ge_s:0>=-1"),
    pytest.param(n.i64_lt_s, M64, 0, 1, id="i64_lt_s:-1<0"),
    pytest.param(n.i64_gt_s, 1 << 63, (1 << 63) - 1, 0, id="i64_gt_s:min>max"),
    pytest.param(n.i32_lt_u, M32, 0, 0, id="i32_lt_u:max<0"),
]


@pytest.mark.parametrize(("fn", "a", "b", "expected"), SIGNED_COMPARE_CASES)
def test_comparisons_return_i32(fn: Callable[[int, int], int], a: int, b: int, expected: int) -> None:
    result = fn(a, b)
    assert result == expected
    assert type(result) is int


# --- rounding to integral values ----------------------------------------------------

INTEGRAL_CASES = [
    pytest.param(n.f64_nearest, 0.5, 0.0, id="nearest:0.5"),
    pytest.param(n.f64_nearest, 1.5, 2.0, id="nearest:1.5"),
    pytest.param(n.f64_nearest, 2.5, 2.0, id="nearest:2.5"),
    pytest.param(n.f64_nearest, -0.5, -0.0, id="nearest:-0.5"),
    pytest.param(n.f64_nearest, -1.5, -2.0, id="nearest:-1.5"),
    pytest.param(n.f64_nearest, -0.4, -0.0, id="nearest:-0.4"),
    pytest.param(n.f64_nearest, 4503599627370495.5, 4503599627370496.0, id="nearest:2**52-0.5"),
    pytest.param(n.f64_nearest, -4503599627370495.5, -4503599627370496.0, id="nearest:-(2**52-0.5)"),
    pytest.param(n.f64_nearest, 4503599627370497.0, 4503599627370497.0, id="nearest:2**52+1"),
    pytest.param(n.f32_nearest, 8388609.0, 8388609.0, id="nearest-f32:2**23+1"),
    pytest.param(n.f32_nearest, 8388607.5, 8388608.0, id="nearest-f32:2**23-0.5"),
    pytest.param(n.f32_nearest, -8388607.5, -8388608.0, id="nearest-f32:-(2**23-0.5)"),
    pytest.param(n.f32_nearest, 4194304.5, 4194304.0, id="nearest-f32:2**22+0.5"),
    pytest.param(n.f64_nearest, -0.0, -0.0, id="nearest:-0"),
    pytest.param(n.f64_nearest, -INF, -INF, id="nearest:-inf"),
    pytest.param(n.f64_ceil, -0.5, -0.0, id="ceil:-0.5"),
    pytest.param(n.f64_ceil, -1.5, -1.0, id="ceil:-1.5"),
    pytest.param(n.f64_ceil, 0.25, 1.0, id="ceil:0.25"),
    pytest.param(n.f64_ceil, 1.0, 1.0, id="ceil:1"),
    pytest.param(n.f64_ceil, -0.0, -0.0, id="ceil:-0"),
    pytest.param(n.f64_ceil, 4503599627370495.5, 4503599627370496.0, id="ceil:2**52-0.5"),
    pytest.param(n.f64_ceil, -4503599627370495.5, -4503599627370495.0, id="ceil:-(2**52-0.5)"),
    pytest.param(n.f64_floor, 0.5, 0.0, id="floor:0.5"),
    pytest.param(n.f64_floor, -0.5, -1.0, id="floor:-0.5"),
    pytest.param(n.f64_floor, -1.0, -1.0, id="floor:-1"),
    pytest.param(n.f64_floor, -0.0, -0.0, id="floor:-0"),
    pytest.param(n.f64_floor, 4503599627370495.5, 4503599627370495.0, id="floor:2**52-0.5"),
    pytest.param(n.f64_floor, -4503599627370495.5, -4503599627370496.0, id="floor:-(2**52-0.5)"),
    pytest.param(n.f64_floor, INF, INF, id="floor:inf"),
    pytest.param(n.f64_trunc, -0.7, -0.0, id="trunc:-0.7"),
    pytest.param(n.f64_trunc, -1.7, -1.0, id="trunc:-1.7"),
    pytest.param(n.f64_trunc, 1.7, 1.0, id="trunc:1.7"),
    pytest.param(n.f64_trunc, 0.7, 0.0, id="trunc:0.7"),
    pytest.param(n.f64_trunc, -INF, -INF, id="trunc:-inf"),
    pytest.param(n.f64_trunc, 1e300, 1e300, id="trunc:1e300"),
]


@pytest.mark.parametrize(("fn", "x", "expected"), INTEGRAL_CASES)
def test_rounding_to_integral(fn: Callable[[float], float], x: float, expected: float) -> None:
    assert same_float(fn(x), expected)


INTEGRAL_ORACLES: list[tuple[str, Callable[[float], float], Callable[[float], int]]] = [
    ("ceil", n.f64_ceil, math.ceil),
    ("floor", n.f64_floor, math.floor),
    ("trunc", n.f64_trunc, math.trunc),
    ("nearest", n.f64_nearest, round),
]


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1e17, max_value=1e17), st.sampled_from(INTEGRAL_ORACLES))
def test_rounding_to_integral_matches_math(x: float, case: tuple[str, Callable[[float], float],
                                                                 Callable[[float], int]]) -> None:
    _, fn, oracle = case
    result = fn(x)
    assert result == oracle(x)  # Python's round() is half-to-even too
    if result == 0.0:
        assert math.copysign(1.0, result) == math.copysign(1.0, x)


# --- min and max ----------------------------------------------------------------------

CANONICAL = n.f64_from_bits(0x7FF8_0000_0000_0000)
MINMAX_CASES = [
    pytest.param(n.f64_min, 0.0, -0.0, -0.0, id="min:+0,-0"),
    pytest.param(n.f64_min, -0.0, 0.0, -0.0, id="min:-0,+0"),
    pytest.param(n.f64_min, 0.0, 0.0, 0.0, id="min:+0,+0"),
    pytest.param(n.f64_min, -0.0, -0.0, -0.0, id="min:-0,-0"),
    pytest.param(n.f64_max, 0.0, -0.0, 0.0, id="max:+0,-0"),
    pytest.param(n.f64_max, -0.0, 0.0, 0.0, id="max:-0,+0"),
    pytest.param(n.f64_max, -0.0, -0.0, -0.0, id="max:-0,-0"),
    pytest.param(n.f64_max, 0.0, 0.0, 0.0, id="max:+0,+0"),
    pytest.param(n.f64_min, -INF, 1.0, -INF, id="min:-inf,1"),
    pytest.param(n.f64_max, 2.0, 2.0, 2.0, id="max:2,2"),
    pytest.param(n.f32_min, 1.5, -2.5, -2.5, id="min-f32:1.5,-2.5"),
]


@pytest.mark.parametrize(("fn", "a", "b", "expected"), MINMAX_CASES)
def test_min_max_order_zeros(fn: Callable[[float, float], float], a: float, b: float,
                             expected: float) -> None:
    assert same_float(fn(a, b), expected)


@pytest.mark.parametrize("fn", [n.f64_min, n.f64_max], ids=["min", "max"])
@pytest.mark.parametrize("other", [1.0, -0.0, INF], ids=["1", "-0", "inf"])
def test_min_max_with_canonical_nan_give_canonical_nan(fn: Callable[[float, float], float],
                                                       other: float) -> None:
    assert is_canonical64(f64_bits(fn(CANONICAL, other)))
    assert is_canonical64(f64_bits(fn(other, CANONICAL)))


# --- NaN results of arithmetic ------------------------------------------------------

F32_SNAN = n.f32_from_bits(0x7FA0_0000)
F64_SNAN = n.f64_from_bits(0x7FF4_0000_0000_0001)

CANONICAL_RESULTS: list[Any] = [
    pytest.param(lambda: n.f64_sub(INF, INF), id="f64:inf-inf"),
    pytest.param(lambda: n.f64_add(-INF, INF), id="f64:-inf+inf"),
    pytest.param(lambda: n.f64_mul(0.0, INF), id="f64:0*inf"),
    pytest.param(lambda: n.f64_div(0.0, 0.0), id="f64:0/0"),
    pytest.param(lambda: n.f64_div(-0.0, 0.0), id="f64:-0/0"),
    pytest.param(lambda: n.f64_div(INF, -INF), id="f64:inf/-inf"),
    pytest.param(lambda: n.f64_sqrt(-1.0), id="f64:sqrt(-1)"),
    pytest.param(lambda: n.f64_sqrt(-INF), id="f64:sqrt(-inf)"),
    pytest.param(lambda: n.f64_add(CANONICAL, 1.0), id="f64:nan+1"),
    pytest.param(lambda: n.f64_nearest(CANONICAL), id="f64:nearest(nan)"),
    pytest.param(lambda: n.f64_promote_f32(CANONICAL), id="promote(nan)"),
]
CANONICAL32_RESULTS: list[Any] = [
    pytest.param(lambda: n.f32_sub(INF, INF), id="f32:inf-inf"),
    pytest.param(lambda: n.f32_mul(-0.0, INF), id="f32:-0*inf"),
    pytest.param(lambda: n.f32_div(0.0, -0.0), id="f32:0/-0"),
    pytest.param(lambda: n.f32_sqrt(-2.0), id="f32:sqrt(-2)"),
    pytest.param(lambda: n.f32_div(CANONICAL, 3.0), id="f32:nan/3"),
    pytest.param(lambda: n.f32_floor(CANONICAL), id="f32:floor(nan)"),
    pytest.param(lambda: n.f32_demote_f64(CANONICAL), id="demote(nan)"),
]


@pytest.mark.parametrize("compute", CANONICAL_RESULTS)
def test_f64_canonical_nan_results(compute: Callable[[], float]) -> None:
    assert is_canonical64(f64_bits(compute()))


@pytest.mark.parametrize("compute", CANONICAL32_RESULTS)
def test_f32_canonical_nan_results(compute: Callable[[], float]) -> None:
    assert is_canonical32(f32_bits(compute()))


SNAN_OPERATIONS: list[Any] = [
    pytest.param(n.f32_add, n.f64_add, id="add"),
    pytest.param(n.f32_sub, n.f64_sub, id="sub"),
    pytest.param(n.f32_mul, n.f64_mul, id="mul"),
    pytest.param(n.f32_div, n.f64_div, id="div"),
    pytest.param(n.f32_min, n.f64_min, id="min"),
    pytest.param(n.f32_max, n.f64_max, id="max"),
]


@pytest.mark.parametrize(("op32", "op64"), SNAN_OPERATIONS)
@pytest.mark.parametrize("other", [1.0, 0.0, -0.0], ids=["1", "0", "-0"])
def test_signalling_nan_operands_give_quiet_nans(op32: Callable[[float, float], float],
                                                 op64: Callable[[float, float], float],
                                                 other: float) -> None:
    for result in (op32(F32_SNAN, other), op32(other, F32_SNAN)):
        assert is_arithmetic32(f32_bits(result))
    for result in (op64(F64_SNAN, other), op64(other, F64_SNAN)):
        assert is_arithmetic64(f64_bits(result))


UNARY_SNAN: list[Any] = [
    pytest.param(n.f32_sqrt, n.f64_sqrt, id="sqrt"),
    pytest.param(n.f32_nearest, n.f64_nearest, id="nearest"),
    pytest.param(n.f32_ceil, n.f64_ceil, id="ceil"),
    pytest.param(n.f32_floor, n.f64_floor, id="floor"),
    pytest.param(n.f32_trunc, n.f64_trunc, id="trunc"),
]


@pytest.mark.parametrize(("op32", "op64"), UNARY_SNAN)
def test_unary_signalling_nan_gives_quiet_nan(op32: Callable[[float], float],
                                              op64: Callable[[float], float]) -> None:
    assert is_arithmetic32(f32_bits(op32(F32_SNAN)))
    assert is_arithmetic64(f64_bits(op64(F64_SNAN)))


def test_demote_promote_nans() -> None:
    # Payload bits only below the f32's reach still give a NaN, quieted.
    assert f32_bits(n.f32_demote_f64(n.f64_from_bits(0xFFF0_0000_0000_0001))) == 0xFFC0_0000
    assert f32_bits(n.f32_demote_f64(n.f64_from_bits(0x7FF4_0000_2000_0000))) == 0x7FE0_0001
    assert f64_bits(n.f64_promote_f32(F32_SNAN)) == 0x7FFC_0000_0000_0000
    assert f64_bits(n.f64_promote_f32(n.f32_from_bits(0xFFC0_0000))) == 0xFFF8_0000_0000_0000


DIVIDE_BY_ZERO: list[Any] = [
    pytest.param(1.0, 0.0, INF, id="1/0"),
    pytest.param(-1.0, 0.0, -INF, id="-1/0"),
    pytest.param(1.0, -0.0, -INF, id="1/-0"),
    pytest.param(-INF, -0.0, INF, id="-inf/-0"),
]


@pytest.mark.parametrize(("a", "b", "expected"), DIVIDE_BY_ZERO)
@pytest.mark.parametrize("div", [n.f32_div, n.f64_div], ids=["f32", "f64"])
def test_division_by_zero_is_infinite(div: Callable[[float, float], float], a: float, b: float,
                                      expected: float) -> None:
    assert div(a, b) == expected


def test_division_of_nan_by_zero_is_quiet_nan() -> None:
    assert is_arithmetic64(f64_bits(n.f64_div(F64_SNAN, 0.0)))
    assert is_arithmetic32(f32_bits(n.f32_div(F32_SNAN, -0.0)))


SIGNED_ZERO_SUMS: list[Any] = [
    pytest.param(n.f32_add, 1.0, -1.0, 0.0, id="f32:1+-1"),
    pytest.param(n.f32_add, -0.0, -0.0, -0.0, id="f32:-0+-0"),
    pytest.param(n.f32_sub, -0.0, 0.0, -0.0, id="f32:-0-0"),
    pytest.param(n.f32_mul, -1.0, 0.0, -0.0, id="f32:-1*0"),
    pytest.param(n.f32_mul, 2.0**-100, -(2.0**-100), -0.0, id="f32:underflow-keeps-sign"),
    pytest.param(n.f32_sqrt, -0.0, -0.0, -0.0, id="f32:sqrt(-0)"),
]


@pytest.mark.parametrize(("fn", "a", "b", "expected"), SIGNED_ZERO_SUMS)
def test_signed_zero_results(fn: Callable[..., float], a: float, b: float, expected: float) -> None:
    result = fn(a) if fn is n.f32_sqrt else fn(a, b)
    assert same_float(result, expected)


# --- f32 arithmetic against the exact oracle ---------------------------------------

F32_BINARY: list[tuple[str, Callable[[float, float], float], Callable[[Fraction, Fraction], Fraction]]] = [
    ("add", n.f32_add, lambda a, b: a + b),
    ("sub", n.f32_sub, lambda a, b: a - b),
    ("mul", n.f32_mul, lambda a, b: a * b),
    ("div", n.f32_div, lambda a, b: a / b),
]


@settings(max_examples=300, deadline=None)
@given(finite_f32, finite_f32, st.sampled_from(F32_BINARY))
def test_f32_arithmetic_matches_exact_oracle(
        a: float, b: float,
        case: tuple[str, Callable[[float, float], float], Callable[[Fraction, Fraction], Fraction]]) -> None:
    name, fn, exact = case
    if name == "div" and b == 0.0:
        return
    q = exact(Fraction(a), Fraction(b))
    result = fn(a, b)
    expected = round_binary(q)
    assert result == expected, (name, a, b)
    if q != 0 and expected == 0.0:
        assert same_float(result, math.copysign(0.0, q))  # underflow keeps the exact sign
    elif expected != 0.0:
        assert same_float(result, expected)


@settings(max_examples=300, deadline=None)
@given(finite_f32.filter(lambda x: x > 0.0))
def test_f32_sqrt_matches_exact_oracle(x: float) -> None:
    assert n.f32_sqrt(x) == round_sqrt_f32(Fraction(x))


# --- float to integer -------------------------------------------------------------

F32 = n.f32_from_bits
TRUNC_OK: list[Any] = [
    pytest.param(n.i32_trunc_f32_s, -2147483648.0, 0x8000_0000, id="i32_s_f32:-2**31"),
    pytest.param(n.i32_trunc_f32_s, 2147483520.0, 2147483520, id="i32_s_f32:max-f32-below-2**31"),
    pytest.param(n.i32_trunc_f32_s, F32(0xBF7F_FFFF), 0, id="i32_s_f32:-0.99999994"),
    pytest.param(n.i32_trunc_f32_s, -1.5, M32, id="i32_s_f32:-1.5"),
    pytest.param(n.i32_trunc_f64_s, -2147483648.9, 0x8000_0000, id="i32_s_f64:-2**31-0.9"),
    pytest.param(n.i32_trunc_f64_s, 2147483647.9, 0x7FFF_FFFF, id="i32_s_f64:2**31-0.1"),
    pytest.param(n.i32_trunc_f32_u, F32(0xBF7F_FFFF), 0, id="i32_u_f32:-0.99999994"),
    pytest.param(n.i32_trunc_f32_u, 4294967040.0, 4294967040, id="i32_u_f32:max-f32-below-2**32"),
    pytest.param(n.i32_trunc_f64_u, -0.9999999999999999, 0, id="i32_u_f64:-0.999"),
    pytest.param(n.i32_trunc_f64_u, 4294967295.9, M32, id="i32_u_f64:2**32-0.1"),
    pytest.param(n.i64_trunc_f32_s, -9223372036854775808.0, 1 << 63, id="i64_s_f32:-2**63"),
    pytest.param(n.i64_trunc_f32_s, 9223371487098961920.0, 9223371487098961920,
                 id="i64_s_f32:max-f32-below-2**63"),
    pytest.param(n.i64_trunc_f64_s, -9223372036854775808.0, 1 << 63, id="i64_s_f64:-2**63"),
    pytest.param(n.i64_trunc_f64_s, 9223372036854774784.0, 9223372036854774784,
                 id="i64_s_f64:max-f64-below-2**63"),
    pytest.param(n.i64_trunc_f64_s, -1.9, M64, id="i64_s_f64:-1.9"),
    pytest.param(n.i64_trunc_f32_u, 18446742974197923840.0, 18446742974197923840,
                 id="i64_u_f32:max-f32-below-2**64"),
    pytest.param(n.i64_trunc_f32_u, F32(0xBF7F_FFFF), 0, id="i64_u_f32:-0.99999994"),
    pytest.param(n.i64_trunc_f64_u, 18446744073709549568.0, 18446744073709549568,
                 id="i64_u_f64:max-f64-below-2**64"),
    pytest.param(n.i64_trunc_f64_u, -0.9999999999999999, 0, id="i64_u_f64:-0.999"),
    pytest.param(n.i64_trunc_f64_u, -0.0, 0, id="i64_u_f64:-0"),
]
TRUNC_TRAPS: list[Any] = [
    pytest.param(n.i32_trunc_f32_s, -2147483904.0, id="i32_s_f32:next-f32-below-2**31"),
    pytest.param(n.i32_trunc_f32_s, 2147483648.0, id="i32_s_f32:2**31"),
    pytest.param(n.i32_trunc_f64_s, -2147483649.0, id="i32_s_f64:-2**31-1"),
    pytest.param(n.i32_trunc_f64_s, 2147483648.0, id="i32_s_f64:2**31"),
    pytest.param(n.i32_trunc_f32_u, -1.0, id="i32_u_f32:-1"),
    pytest.param(n.i32_trunc_f32_u, 4294967296.0, id="i32_u_f32:2**32"),
    pytest.param(n.i32_trunc_f64_u, -1.0, id="i32_u_f64:-1"),
    pytest.param(n.i32_trunc_f64_u, 4294967296.0, id="i32_u_f64:2**32"),
    pytest.param(n.i64_trunc_f32_s, -9223373136366403584.0, id="i64_s_f32:next-f32-below-2**63"),
    pytest.param(n.i64_trunc_f32_s, 9223372036854775808.0, id="i64_s_f32:2**63"),
    pytest.param(n.i64_trunc_f64_s, -9223372036854777856.0, id="i64_s_f64:next-f64-below-2**63"),
    pytest.param(n.i64_trunc_f64_s, 9223372036854775808.0, id="i64_s_f64:2**63"),
    pytest.param(n.i64_trunc_f32_u, -1.0, id="i64_u_f32:-1"),
    pytest.param(n.i64_trunc_f32_u, 18446744073709551616.0, id="i64_u_f32:2**64"),
    pytest.param(n.i64_trunc_f64_u, -1.0, id="i64_u_f64:-1"),
    pytest.param(n.i64_trunc_f64_u, 18446744073709551616.0, id="i64_u_f64:2**64"),
    pytest.param(n.i64_trunc_f64_u, INF, id="i64_u_f64:inf"),
    pytest.param(n.i32_trunc_f64_s, -INF, id="i32_s_f64:-inf"),
]
SATURATING: dict[Callable[[float], int], Callable[[float], int]] = {
    n.i32_trunc_f32_s: n.i32_trunc_sat_f32_s, n.i32_trunc_f32_u: n.i32_trunc_sat_f32_u,
    n.i32_trunc_f64_s: n.i32_trunc_sat_f64_s, n.i32_trunc_f64_u: n.i32_trunc_sat_f64_u,
    n.i64_trunc_f32_s: n.i64_trunc_sat_f32_s, n.i64_trunc_f32_u: n.i64_trunc_sat_f32_u,
    n.i64_trunc_f64_s: n.i64_trunc_sat_f64_s, n.i64_trunc_f64_u: n.i64_trunc_sat_f64_u,
}
SATURATED_VALUE = {  # (name suffix, sign of the operand) -> clamp
    ("i32_s", False): 0x7FFF_FFFF, ("i32_s", True): 0x8000_0000,
    ("i32_u", False): M32, ("i32_u", True): 0,
    ("i64_s", False): (1 << 63) - 1, ("i64_s", True): 1 << 63,
    ("i64_u", False): M64, ("i64_u", True): 0,
}


@pytest.mark.parametrize(("fn", "x", "expected"), TRUNC_OK)
def test_trunc_in_range(fn: Callable[[float], int], x: float, expected: int) -> None:
    assert fn(x) == expected
    assert SATURATING[fn](x) == expected


@pytest.mark.parametrize(("fn", "x"), TRUNC_TRAPS)
def test_trunc_out_of_range_traps_and_saturates(request: pytest.FixtureRequest,
                                               fn: Callable[[float], int], x: float) -> None:
    with pytest.raises(Trap) as info:
        fn(x)
    assert info.value.kind is TrapKind.INTEGER_OVERFLOW
    kind = request.node.callspec.id.split(":")[0][:5]
    assert SATURATING[fn](x) == SATURATED_VALUE[(kind, x < 0)]


@pytest.mark.parametrize("fn", list(SATURATING), ids=lambda fn: fn.__name__)
@pytest.mark.parametrize("nan_bits", [0x7FC0_0000, 0xFFA0_0001], ids=["qnan", "neg-snan"])
def test_trunc_nan(fn: Callable[[float], int], nan_bits: int) -> None:
    with pytest.raises(Trap) as info:
        fn(n.f32_from_bits(nan_bits))
    assert info.value.kind is TrapKind.INVALID_CONVERSION
    assert SATURATING[fn](n.f32_from_bits(nan_bits)) == 0


# --- integer to float -------------------------------------------------------------

DOUBLE_ROUNDING: list[Any] = [
    pytest.param(n.f32_convert_i64_u, 9007199791611905, 9007200328482816.0, id="u:2**53+2**29+1"),
    pytest.param(n.f32_convert_i64_s, 9007199791611905, 9007200328482816.0, id="s:2**53+2**29+1"),
    pytest.param(n.f32_convert_i64_s, u64(-9007199791611905), -9007200328482816.0,
                 id="s:-(2**53+2**29+1)"),
    pytest.param(n.f32_convert_i64_u, 0x8000_0080_0000_0001, 9223373136366403584.0,
                 id="u:2**63+2**39+1"),
    pytest.param(n.f32_convert_i64_u, 0x8000_0080_0000_0000, 9223372036854775808.0,
                 id="u:2**63+2**39-tie-to-even"),
    pytest.param(n.f32_convert_i64_u, M64, 18446744073709551616.0, id="u:2**64-1"),
    pytest.param(n.f32_convert_i64_s, 1 << 63, -9223372036854775808.0, id="s:min"),
    pytest.param(n.f32_convert_i32_u, 0xFFFF_FF7F, 4294967040.0, id="u32:just-below-tie"),
    pytest.param(n.f32_convert_i32_s, 0x8000_0000, -2147483648.0, id="s32:min"),
    pytest.param(n.f32_convert_i32_s, 16777217, 16777216.0, id="s32:2**24+1-tie"),
]


@pytest.mark.parametrize(("fn", "a", "expected"), DOUBLE_ROUNDING)
def test_f32_convert_rounds_once(fn: Callable[[int], float], a: int, expected: float) -> None:
    assert fn(a) == expected
    signed = a - (1 << 64) if fn is n.f32_convert_i64_s and a >> 63 else a
    signed = a - (1 << 32) if fn is n.f32_convert_i32_s and a >> 31 else signed
    assert fn(a) == round_binary(Fraction(signed))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, M64), st.integers(0, 63))
def test_int_to_float_matches_exact_oracle(a: int, shift: int) -> None:
    a >>= shift  # spread the magnitudes over every exponent
    signed = a - (1 << 64) if a >> 63 else a
    assert n.f32_convert_i64_u(a) == round_binary(Fraction(a))
    assert n.f32_convert_i64_s(a) == round_binary(Fraction(signed))
    assert n.f64_convert_i64_u(a) == round_binary(Fraction(a), F64_PRECISION, F64_EMIN, F64_EMAX)
    assert n.f64_convert_i64_s(a) == round_binary(Fraction(signed), F64_PRECISION, F64_EMIN, F64_EMAX)
    low = a & M32
    assert n.f32_convert_i32_u(low) == round_binary(Fraction(low))
    assert n.f64_convert_i32_s(low) == float(low - (1 << 32) if low >> 31 else low)


# --- memory access ----------------------------------------------------------------

MEMORY_ROUND_TRIPS: list[Any] = [
    pytest.param(n.i32_store, n.i32_load, 0xDEAD_BEEF, 0xDEAD_BEEF, 4, id="i32"),
    pytest.param(n.i64_store, n.i64_load, 0x0123_4567_89AB_CDEF, 0x0123_4567_89AB_CDEF, 8, id="i64"),
    pytest.param(n.i32_store8, n.i32_load8_s, 0x1234_5680, 0xFFFF_FF80, 1, id="i32-8s"),
    pytest.param(n.i32_store8, n.i32_load8_u, 0x1234_5680, 0x80, 1, id="i32-8u"),
    pytest.param(n.i32_store16, n.i32_load16_s, 0x1234_8001, 0xFFFF_8001, 2, id="i32-16s"),
    pytest.param(n.i32_store16, n.i32_load16_u, 0x1234_8001, 0x8001, 2, id="i32-16u"),
    pytest.param(n.i64_store8, n.i64_load8_s, 0xFF, M64, 1, id="i64-8s"),
    pytest.param(n.i64_store16, n.i64_load16_s, 0x8000, u64(-0x8000), 2, id="i64-16s"),
    pytest.param(n.i64_store32, n.i64_load32_s, 0xFFFF_FFFF_8000_0000, u64(-(1 << 31)), 4, id="i64-32s"),
    pytest.param(n.i64_store32, n.i64_load32_u, 0xFFFF_FFFF_8000_0000, 0x8000_0000, 4, id="i64-32u"),
]


@pytest.mark.parametrize(("store", "load", "value", "expected", "width"), MEMORY_ROUND_TRIPS)
def test_memory_round_trip_and_bounds(store: Callable[[bytearray, int, Any], None],
                                      load: Callable[[bytearray, int], Any],
                                      value: Any, expected: Any, width: int) -> None:
    mem = bytearray(16)
    last = len(mem) - width
    store(mem, last, value)
    assert load(mem, last) == expected
    before = bytes(mem)
    for ea in (last + 1, len(mem), 1 << 32):
        with pytest.raises(Trap) as info:
            store(mem, ea, value)
        assert info.value.kind is TrapKind.OUT_OF_BOUNDS_MEMORY
        with pytest.raises(Trap) as info:
            load(mem, ea)
        assert info.value.kind is TrapKind.OUT_OF_BOUNDS_MEMORY
    assert bytes(mem) == before  # a failed store writes nothing


def test_memory_is_little_endian() -> None:
    mem = bytearray(8)
    n.i32_store(mem, 0, 0x0102_0304)
    assert bytes(mem[:4]) == b"\x04\x03\x02\x01"


@pytest.mark.parametrize("bits", F32_PATTERNS)
def test_f32_memory_keeps_bits(bits: int) -> None:
    mem = bytearray(8)
    n.store_f32(mem, 4, n.f32_from_bits(bits))
    assert n.i32_load(mem, 4) == bits
    assert f32_bits(n.load_f32(mem, 4)) == bits
    for ea in (5, 8):
        with pytest.raises(Trap) as info:
            n.store_f32(mem, ea, n.f32_from_bits(bits))
        assert info.value.kind is TrapKind.OUT_OF_BOUNDS_MEMORY
        with pytest.raises(Trap):
            n.load_f32(mem, ea)
    assert n.i32_load(mem, 4) == bits


@pytest.mark.parametrize("bits", F64_PATTERNS)
def test_f64_memory_keeps_bits(bits: int) -> None:
    mem = bytearray(8)
    n.store_f64(mem, 0, n.f64_from_bits(bits))
    assert n.i64_load(mem, 0) == bits
    assert f64_bits(n.load_f64(mem, 0)) == bits
    with pytest.raises(Trap):
        n.f64_load(mem, 1)
    with pytest.raises(Trap):
        n.f32_store(mem, 5, 1.0)


# --- the opcode table ----------------------------------------------------------------

def test_every_numeric_load_and_store_opcode_has_a_helper() -> None:
    wanted = {info.op for info in OPS.values() if info.family is Family.NUMERIC or info.imm is Imm.MEMARG}
    assert set(n.OPCODE_HELPERS) == wanted
    for op, helper in n.OPCODE_HELPERS.items():
        assert callable(helper), OPS[op].name
        assert getattr(n, OPS[op].name.replace(".", "_")) is helper


def test_public_names_exist() -> None:
    missing = [name for name in n.__all__ if not hasattr(n, name)]
    assert missing == []


# --- the spec suite's numeric scripts, replayed against the helpers ---------------

SPEC_SCRIPTS = ("i32", "i64", "f32", "f64", "f32_bitwise", "f64_bitwise", "f32_cmp", "f64_cmp",
                "conversions", "float_misc")


def _instruction(script: str, field: str) -> str:
    """The instruction an export of a numeric script wraps: ``add`` in f32 -> ``f32.add``."""
    return field if "." in field else f"{script.split('_')[0]}.{field}"


def _spec_groups() -> list[Any]:
    """One param per (script, instruction) with every assertion about it."""
    if spec_dir() is None:
        return [pytest.param(None, None, id="spec-data-missing",
                             marks=pytest.mark.skip(reason=SPEC_SKIP_MESSAGE))]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for script in SPEC_SCRIPTS:
        for cmd in load_script(script):
            if cmd.command["type"] in ("assert_return", "assert_trap"):
                key = (script, _instruction(script, cmd.command["action"]["field"]))
                groups.setdefault(key, []).append(cmd.command)
    return [pytest.param(name, cmds, id=f"{script}:{name}") for (script, name), cmds in groups.items()]


def _arg(value: dict[str, str]) -> Any:
    kind, text = value["type"], value["value"]
    if kind == "f32":
        return n.f32_from_bits(int(text))
    if kind == "f64":
        return n.f64_from_bits(int(text))
    return int(text)


def _matches(result: Any, expected: dict[str, str]) -> bool:
    kind, text = expected["type"], expected["value"]
    if kind in ("f32", "f64"):
        bits = f32_bits(result) if kind == "f32" else f64_bits(result)
        if text == "nan:canonical":
            return is_canonical32(bits) if kind == "f32" else is_canonical64(bits)
        if text == "nan:arithmetic":
            return is_arithmetic32(bits) if kind == "f32" else is_arithmetic64(bits)
        return bits == int(text)
    return bool(result == int(text))


@pytest.mark.spec
@pytest.mark.parametrize(("name", "commands"), _spec_groups())
def test_spec_numeric_assertions(name: str, commands: list[dict[str, Any]]) -> None:
    helper = getattr(n, name.replace(".", "_"))
    failures = []
    for cmd in commands:
        args = [_arg(a) for a in cmd["action"]["args"]]
        if cmd["type"] == "assert_trap":
            try:
                helper(*args)
            except Trap as trap:
                if str(trap) != cmd["text"] or TRAP_MESSAGES[trap.kind] != cmd["text"]:
                    failures.append((cmd["line"], str(trap), cmd["text"]))
            else:
                failures.append((cmd["line"], "no trap", cmd["text"]))
            continue
        result = helper(*args)
        if not _matches(result, cmd["expected"][0]):
            failures.append((cmd["line"], result, cmd["expected"][0]["value"]))
    assert failures == []
