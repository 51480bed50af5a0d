"""f32 rounding through a one-float cell (``compiler.f32cell``): the same bits as the struct rounding.

The rewrite is checked three ways: line by line (which lines it takes,
which it leaves), by running random expressions both ways on awkward
doubles (NaN payloads, infinities, subnormals, ties), and end to end: a
module whose f32 code goes through the cell agrees, bit for bit, with the
reference interpreter, and every instance has a cell of its own, so two
threads running two instances never share one. (A test with threads could
not fail on CPython 3.11: no thread switch happens between the cell's store
and its read, see the module's docstring; the cells' identity is checked.)
"""

from __future__ import annotations

import random
import struct
from typing import Any

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm import reference
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.compiler import function_source
from wasmpool.wasm.compiler.exprs import f32_rounded
from wasmpool.wasm.compiler.f32cell import CELL, hoisted
from wasmpool.wasm.numeric_float import F32_CELL_ROUNDS, f32_cell, f32_pack, f32_unpack
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.runtime.helpers import BASE_NAMESPACE
from wasmpool.wasm.types import ValType

pytestmark = pytest.mark.skipif(not F32_CELL_ROUNDS, reason="this platform's cell does not round as struct")

F32 = ValType.F32


def bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def double(b: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", b))[0])


AWKWARD = [0.0, -0.0, 1.0, -1.5, 1e-45, -1e-45, 1.4e-45, 3.4028234663852886e38, 3.5e38, 1e300, -1e300,
           float("inf"), -float("inf"), 1.0 + 2.0**-24, 1.0 + 3 * 2.0**-24, 1.1, 2.0**-149, 2.0**-150,
           double(0x7FF8000000000000), double(0xFFF4000000000001), double(0x7FF00000DEADBEEF),
           double(0x7FFFFFFFFFFFFFFF)]


def _counter() -> Any:
    names = iter(range(1000))
    return lambda: f"t{next(names)}"


# --- which lines --------------------------------------------------------------------------------


def test_a_rounding_assignment_becomes_a_cell_store_and_read() -> None:
    assert hoisted("l3 = f32u(f32p(l1 * l1))[0]", _counter()) == ["F32[0] = l1 * l1", "l3 = F32[0]"]


def test_nested_roundings_go_first_through_temporaries() -> None:
    line = f"l2 = {f32_rounded(f32_rounded(f32_rounded('l1 + l1') + ' * l2') + ' + l6')}"
    assert hoisted(line, _counter()) == ["F32[0] = l1 + l1", "t0 = F32[0]", "F32[0] = t0 * l2", "t1 = F32[0]",
                                         "F32[0] = t1 + l6", "l2 = F32[0]"]
    two = f"s0 = {f32_rounded('a * b')} - {f32_rounded('c * -1.5')}"
    assert hoisted(two, _counter()) == ["F32[0] = a * b", "t0 = F32[0]", "F32[0] = c * -1.5", "t1 = F32[0]",
                                        "s0 = t0 - t1"]


@pytest.mark.parametrize("line", [
    "l5 = f32u(f32p(3.0 / s1))[0] if s1 else f32_div(3.0, s1)",  # a branch, a call, a division
    "s1 = f32u(f32p(float((l0 ^ 0x80000000) - 0x80000000)))[0]",  # a call inside
    "l1 = f32u(f32p(l2 / l3))[0]",  # a division may raise
    "l1 = f32u(f32p(w4[l0 >> 2] * l2))[0]",  # a memory read may raise
    "l1 = f32u(f32p(f(d - 1, l2)))[0]",  # a call has effects
    "w4[l0 >> 2] = f32u(f32p(l1))[0]",  # not a name
    "l1, l2 = f32u(f32p(a))[0], b",  # several targets
    "return f32u(f32p(l1 * l2))[0]",  # not an assignment
    "l1 = l2 * l3",  # no rounding
])
def test_other_lines_are_left_as_they_are(line: str) -> None:
    assert hoisted(line, _counter()) is None


# --- the same bits --------------------------------------------------------------------------------


def test_the_cell_rounds_every_double_as_the_struct_does() -> None:
    rng = random.Random(20261207)
    cell = f32_cell()
    values = [*AWKWARD, *(double(rng.getrandbits(64)) for _ in range(20_000)),
              *(rng.uniform(-4e38, 4e38) for _ in range(5_000)),
              *(rng.uniform(-1e-37, 1e-37) for _ in range(5_000))]
    for x in values:
        cell[0] = x
        assert bits(cell[0]) == bits(f32_unpack(f32_pack(x))[0]), hex(bits(x))


def _expression(rng: random.Random, depth: int) -> str:
    """A random pure f32 expression over a, b, c: roundings around +, -, * and signs."""
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(["a", "b", "c", "1.5", "-0.0", "3.4028234663852886e+38", "1e-45"])
    left, right = _expression(rng, depth - 1), _expression(rng, depth - 1)
    shape = rng.choice(["{} + {}", "{} - {}", "{} * {}", "-({}) * {}"])
    text = shape.format(f"({left})", f"({right})")
    return f32_rounded(text) if rng.random() < 0.8 else f"({text})"


def test_random_expressions_give_the_same_bits_through_the_cell() -> None:
    rng = random.Random(7)
    names = {"f32p": f32_pack, "f32u": f32_unpack, CELL: f32_cell()}
    checked = 0
    for _ in range(300):
        line = f"r = {_expression(rng, 4)}"
        rewritten = hoisted(line, _counter())
        if rewritten is None:  # no rounding in it
            continue
        checked += 1
        for _ in range(20):
            a, b, c = (rng.choice(AWKWARD) if rng.random() < 0.5 else double(rng.getrandbits(64))
                       for _ in range(3))
            plain: dict[str, Any] = {**names, "a": a, "b": b, "c": c}
            exec(line, plain)
            celled: dict[str, Any] = {**names, "a": a, "b": b, "c": c}
            exec("\n".join(rewritten), celled)
            assert bits(celled["r"]) == bits(plain["r"]), (line, a, b, c)
    assert checked > 200


# --- in compiled modules --------------------------------------------------------------------------


def chain_module() -> bytes:
    """``run(x, y) -> f32``: 200 rounds of x = (x * y + x) - y * 0.5, in f32 (nested roundings)."""
    b = ModuleBuilder()
    body = [
        (O.BLOCK, None), (O.LOOP, None),
        (O.LOCAL_GET, 0), (O.LOCAL_GET, 1), O.F32_MUL, (O.LOCAL_GET, 0), O.F32_ADD,
        (O.LOCAL_GET, 1), (O.F32_CONST, 0x3F000000), O.F32_MUL, O.F32_SUB, (O.LOCAL_SET, 0),
        (O.LOCAL_GET, 2), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_TEE, 2), (O.I32_CONST, 200), O.I32_LT_U,
        (O.BR_IF, 0), O.END, O.END, (O.LOCAL_GET, 0),
    ]
    b.func((F32, F32), (F32,), body, locals=(ValType.I32,), export="run")
    return b.build()


def test_compiled_f32_code_rounds_through_the_cell_and_agrees_with_the_reference() -> None:
    parsed = wasm.decode(chain_module())
    assert f"{CELL}[0] = " in function_source(parsed, 0)[0]
    rng = random.Random(3)
    f32_bits = [0x3F800000, 0xBFC00000, 0x7F7FFFFF, 0x00000001, 0x80000000, 0x7FC00001, 0xFFA00005,
                0x7F800000, *(rng.getrandbits(32) for _ in range(30))]
    engines = [wasm.instantiate(wasm.compile(parsed, metered=False)),
               wasm.instantiate(wasm.compile(parsed, metered=True), gas_limit=10**9),
               reference.instantiate(parsed)]
    for x in f32_bits:
        for y in (0x3F000000, 0x3FC00000, 0xBF800001, 0x7FC00000, rng.getrandbits(32)):
            plain, metered, expected = (e.exports["run"].call_raw((x, y)) for e in engines)
            assert plain == metered == expected, (hex(x), hex(y))


def test_every_instance_has_its_own_cell_and_integer_code_none() -> None:
    compiled = wasm.compile(wasm.decode(chain_module()), metered=False)
    first, second = wasm.instantiate(compiled), wasm.instantiate(compiled)
    assert first.ns[CELL] is not second.ns[CELL]
    assert all(cell is not BASE_NAMESPACE[CELL] for cell in (first.ns[CELL], second.ns[CELL]))
    b = ModuleBuilder()
    b.func((ValType.I32,), (ValType.I32,), [(O.LOCAL_GET, 0), (O.I32_CONST, 1), O.I32_ADD], export="run")
    integers = wasm.instantiate(wasm.compile(wasm.decode(b.build()), metered=False))
    assert CELL not in integers.ns
