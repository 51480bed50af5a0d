"""Signed comparisons, compiled by sign halves (see ``compiler.exprs``), on the values at the halves' edges.

Each of ``lt_s``, ``le_s``, ``gt_s``, ``ge_s`` (i32 and i64) is compiled three
ways: between two values, against a constant on the right and against one
on the left; every pair of edge values (0, 1, the largest positive, the
smallest negative, -1...) must give the order of the signed integers.
"""

from __future__ import annotations

import operator
from collections.abc import Callable

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O

OPS: dict[str, Callable[[int, int], bool]] = {
    "lt_s": operator.lt, "le_s": operator.le, "gt_s": operator.gt, "ge_s": operator.ge,
}


def _edges(width: int) -> list[int]:
    sign, mask = 1 << (width - 1), (1 << width) - 1
    return sorted({0, 1, 2, 100, sign - 2, sign - 1, sign, sign + 1, sign + 100, mask - 1, mask})


def _signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) else value


def _const(width: int, value: int) -> tuple[O, int]:
    return (O.I32_CONST if width == 32 else O.I64_CONST, _signed(value, width))


@pytest.mark.parametrize("metered", [False, True], ids=["unmetered", "metered"])
@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("name", list(OPS))
def test_signed_comparisons_at_the_edges(name: str, width: int, metered: bool) -> None:
    t = f"i{width}"
    op = O[f"I{width}_{name.upper()}"]
    edges = _edges(width)
    builder = ModuleBuilder()
    builder.func(params=[t, t], results=["i32"], body=[(O.LOCAL_GET, 0), (O.LOCAL_GET, 1), op], export="vv")
    for i, c in enumerate(edges):
        value, constant = (O.LOCAL_GET, 0), _const(width, c)
        builder.func(params=[t], results=["i32"], body=[value, constant, op], export=f"vc{i}")
        builder.func(params=[t], results=["i32"], body=[constant, value, op], export=f"cv{i}")
    exports = wasm.instantiate(wasm.compile(wasm.decode(builder.build()), metered=metered),
                               gas_limit=10**9 if metered else None).exports
    compare = OPS[name]
    for i, c in enumerate(edges):
        for a in edges:
            x, k = _signed(a, width), _signed(c, width)
            assert exports["vv"](x, k) == int(compare(x, k)), (a, c)
            assert exports[f"vc{i}"](x) == int(compare(x, k)), (a, c)
            assert exports[f"cv{i}"](x) == int(compare(k, x)), (c, a)
