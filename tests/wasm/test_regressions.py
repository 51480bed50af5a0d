"""Regression tests for engine bugs found on real programs, each from its minimal case.

Modules are assembled with :mod:`wasmpool.wasm.builder`; every case runs on both
variants (unmetered and metered), since production runs metered code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import Instruction, ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O

VARIANTS = [pytest.param(None, id="unmetered"), pytest.param(10**9, id="metered")]


def one_function(params: Sequence[str], results: Sequence[str], body: Sequence[Instruction],
                 locals: Sequence[str] = (), gas_limit: int | None = None) -> Callable[..., Any]:
    builder = ModuleBuilder()
    builder.func(params, results, body, locals=locals, export="f")
    instance = wasm.instantiate(wasm.decode(builder.build()), {}, gas_limit=gas_limit)
    return instance.exports["f"]


# ---------------------------------------------------------------- i64.extend_i32_u in an expression


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_extend_i32_u_operand_of_a_product(gas_limit: int | None) -> None:
    f = one_function(["i32", "i32", "i64"], ["i64"], [
        (O.LOCAL_GET, 0), (O.LOCAL_GET, 1), O.I32_OR, O.I64_EXTEND_I32_U, (O.LOCAL_GET, 2), O.I64_MUL,
    ], gas_limit=gas_limit)
    assert f(1, 2, 10) == 30


@pytest.mark.parametrize("gas_limit", VARIANTS)
@pytest.mark.parametrize(("unary", "expected"), [(O.I64_POPCNT, 3), (O.I64_CLZ, 61), (O.I64_CTZ, 0)])
def test_extend_i32_u_operand_of_a_unary(gas_limit: int | None, unary: O, expected: int) -> None:
    f = one_function(["i32", "i32"], ["i64"], [
        (O.LOCAL_GET, 0), (O.LOCAL_GET, 1), O.I32_ADD, O.I64_EXTEND_I32_U, unary,
    ], gas_limit=gas_limit)
    assert f(3, 4) == expected


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_extend_i32_u_of_a_comparison(gas_limit: int | None) -> None:
    f = one_function(["i32", "i32"], ["i64"], [
        (O.LOCAL_GET, 0), (O.LOCAL_GET, 1), O.I32_LT_U, O.I64_EXTEND_I32_U, (O.I64_CONST, 7), O.I64_ADD,
    ], gas_limit=gas_limit)
    assert (f(1, 2), f(2, 1)) == (8, 7)


# ---------------------------------------------------------------- a switch's index is a local the cases read


def _switch_on_local() -> list[Instruction]:
    """A C ``switch (x)`` of 40 entries alternating between two cases, each returning ``x + k``."""
    table = tuple(i % 2 for i in range(40))
    return [
        (O.BLOCK, None), (O.BLOCK, None), (O.BLOCK, None),
        (O.LOCAL_GET, 0), (O.BR_TABLE, (table, 2)),
        O.END,
        (O.LOCAL_GET, 0), (O.I32_CONST, 100), O.I32_ADD, O.RETURN,
        O.END,
        (O.LOCAL_GET, 0), (O.I32_CONST, 200), O.I32_ADD, O.RETURN,
        O.END,
        (O.LOCAL_GET, 0),
    ]


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_switch_keeps_its_index_local(gas_limit: int | None) -> None:
    f = one_function(["i32"], ["i32"], _switch_on_local(), gas_limit=gas_limit)
    assert (f(5), f(4), f(39), f(50)) == (205, 104, 239, 50)


# ---------------------------------------------------------------- an operand written where another reads


def _divide_then_select_a_global() -> ModuleBuilder:
    """``select(x / floor(x), g, 1)``: the divisor is materialized in the register the global then takes."""
    builder = ModuleBuilder()
    builder.global_("f64", True, [(O.F64_CONST, 0x4014_0000_0000_0000)])  # 5.0
    builder.func(["f64"], ["f64"], [
        (O.LOCAL_GET, 0), (O.LOCAL_GET, 0), O.F64_FLOOR, O.F64_DIV, (O.GLOBAL_GET, 0), (O.I32_CONST, 1),
        O.SELECT,
    ], export="f")
    return builder


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_select_operand_does_not_overwrite_a_divisor(gas_limit: int | None) -> None:
    module = wasm.decode(_divide_then_select_a_global().build())
    f = wasm.instantiate(module, {}, gas_limit=gas_limit).exports["f"]
    assert (f(3.0), f(-2.0**31)) == (1.0, 1.0)


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_call_indirect_argument_does_not_overwrite_a_divisor(gas_limit: int | None) -> None:
    builder = ModuleBuilder()
    builder.global_("f64", True, [(O.F64_CONST, 0x4014_0000_0000_0000)])  # 5.0
    builder.table(1, 1)
    first = builder.func(["f64", "f64"], ["f64"], [(O.LOCAL_GET, 0)])
    sig = builder.type(["f64", "f64"], ["f64"])
    builder.func(["f64"], ["f64"], [
        (O.LOCAL_GET, 0), (O.LOCAL_GET, 0), O.F64_FLOOR, O.F64_DIV, (O.GLOBAL_GET, 0), (O.I32_CONST, 0),
        (O.CALL_INDIRECT, (sig, 0)),
    ], export="f")
    builder.elem([(O.I32_CONST, 0)], [first])
    f = wasm.instantiate(wasm.decode(builder.build()), {}, gas_limit=gas_limit).exports["f"]
    assert f(3.0) == 1.0


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_operands_written_out_in_a_chain_keep_their_divisors(gas_limit: int | None) -> None:
    """Writing operand 1 out (operand 2 reads its register) must first write out operand 0 (it reads 1's)."""
    builder = ModuleBuilder()
    builder.global_("f64", True, [(O.F64_CONST, 0x4014_0000_0000_0000)])  # 5.0
    builder.table(1, 1)
    first = builder.func(["f64", "f64", "f64"], ["f64"], [(O.LOCAL_GET, 0)])
    sig = builder.type(["f64", "f64", "f64"], ["f64"])
    builder.func(["f64", "f64"], ["f64"], [
        (O.LOCAL_GET, 0), (O.LOCAL_GET, 0), O.F64_FLOOR, O.F64_DIV,
        (O.LOCAL_GET, 1), (O.LOCAL_GET, 1), O.F64_FLOOR, O.F64_DIV,
        (O.GLOBAL_GET, 0), (O.I32_CONST, 0), (O.CALL_INDIRECT, (sig, 0)),
    ], export="f")
    builder.elem([(O.I32_CONST, 0)], [first])
    f = wasm.instantiate(wasm.decode(builder.build()), {}, gas_limit=gas_limit).exports["f"]
    assert f(3.0, 7.0) == 1.0


def test_a_br_table_of_its_default_alone_in_a_state_machine() -> None:
    """Found by the differential generator: a ``br_table`` with no targets but its default, in a function
    compiled as a state machine, was emitted as ``(,)[i]`` (invalid Python) and the module refused."""
    from tests.wasm.gen.compare import compare
    from tests.wasm.gen.modules import generate_module

    generated = generate_module(23003486, "control", 4, bit_wrappers=True)
    assert compare(generated) == []
