"""f32 comparisons against a constant test the unrounded result (see ``compiler.exprs``).

``f32.gt (f32.add a b) c`` compiles to ``(a + b) > t``, with ``t`` the
midpoint between ``c`` and its neighbour and the comparison strict or not by
where that midpoint's tie rounds. Each case puts ``a + b`` exactly on the
midpoints around ``c`` and one double step either side, and compares with
rounding first (``numeric_float.f32_round``), for constants with even and
odd significands, positive and negative, on both sides of the comparison.
"""

from __future__ import annotations

import itertools
import math
import operator
import struct
from collections.abc import Callable

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.compiler import render_python
from wasmpool.wasm.numeric_float import f32_from_bits, f32_round, f32_to_bits
from wasmpool.wasm.opcodes import Opcode as O

ORDERS: dict[str, tuple[O, Callable[[float, float], bool]]] = {
    "lt": (O.F32_LT, operator.lt), "gt": (O.F32_GT, operator.gt),
    "le": (O.F32_LE, operator.le), "ge": (O.F32_GE, operator.ge),
}
EVEN, ODD = 4.0, f32_from_bits(f32_to_bits(4.0) + 1)
CONSTANTS = [EVEN, ODD, -EVEN, -ODD, 1.5, -2.0, 3.0000002384185791, f32_round(1e-30), f32_round(-3e38)]


def _neighbours(c: float) -> list[float]:
    bits = f32_to_bits(c)
    return [f32_from_bits(bits - 1), c, f32_from_bits(bits + 1)]


def _sums(c: float) -> list[tuple[float, float]]:
    """``(a, b)`` f32 pairs whose double sum is on a midpoint next to ``c`` or just either side of it."""
    pairs = [(math.inf, 0.0), (-math.inf, 0.0), (math.nan, 0.0), (3e38, 3e38), (-3e38, -3e38)]
    near = _neighbours(c)
    for lo, hi in itertools.pairwise(near):
        half = (hi - lo) / 2  # an f32: a power of two
        for b in (half, half * (1 + 2.0**-23), half * (1 - 2.0**-24)):  # each an f32; lo + b exact
            pairs.append((lo, b))
            pairs.append((hi, -b))
        pairs += [(lo, 0.0), (hi, 0.0)]
    return pairs


def _module(op: O, c: float, left: bool) -> bytes:
    builder = ModuleBuilder()
    const = (O.F32_CONST, struct.unpack("<I", struct.pack("<f", c))[0])
    add = [(O.LOCAL_GET, 0), (O.LOCAL_GET, 1), O.F32_ADD]
    body = [const, *add, op] if left else [*add, const, op]
    builder.func(params=["f32", "f32"], results=["i32"], body=body, export="cmp")
    return builder.build()


@pytest.mark.parametrize("canonical", [False, True], ids=["spec", "canonical"])
@pytest.mark.parametrize("left", [False, True], ids=["constant right", "constant left"])
@pytest.mark.parametrize("name", list(ORDERS))
def test_comparisons_with_a_constant_round_where_rounding_would(name: str, left: bool,
                                                               canonical: bool) -> None:
    op, compare = ORDERS[name]
    for c in CONSTANTS:
        module = wasm.decode(_module(op, c, left))
        run = wasm.instantiate(wasm.compile(module, metered=False, canonical_nans=canonical),
                               canonical_nans=canonical).exports["cmp"]
        for a, b in _sums(c):
            rounded = f32_round(a + b)
            want = compare(c, rounded) if left else compare(rounded, c)
            assert run(a, b) == int(want), (name, c, a, b, a + b)


def test_the_rounding_is_left_out() -> None:
    source = render_python(wasm.decode(_module(O.F32_GT, EVEN, False)), 0)
    assert "f32u" not in source and "4.000000238418579" in source
