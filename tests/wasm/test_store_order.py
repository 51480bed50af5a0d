"""A store's address is evaluated before its value, however the compiler writes the store.

Wasm evaluates ``i32.store``'s operands in order: the address, then the
value. An aligned store through a typed view is a Python assignment
(``w4[index] = value``), which evaluates the value *first*, so the compiler
must compute the address beforehand whenever both could trap or have
effects. Two outcomes show the order: which trap a store reports when both
operands trap (the address's), and whether a call that computes the value
ran (it must not, when the address traps). The addresses are masked to a
multiple of 64 so that the compiler knows them aligned and writes the plain
assignment (the form where the order is reversed); found by
``bench/differential.py`` (seeds 41000228 and 41000425).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.types import ExternKind

VARIANTS = [
    pytest.param(None, False, id="unmetered-plain"),
    pytest.param(None, True, id="unmetered-canonical"),
    pytest.param(10**9, False, id="metered-plain"),
    pytest.param(10**9, True, id="metered-canonical"),
]
STORES = [  # (store, its value's type, a value of that type, how the value traps from a f64)
    pytest.param(O.I32_STORE, (2, 0), "i32", O.I32_TRUNC_F64_S, id="i32.store"),
    pytest.param(O.I64_STORE, (3, 0), "i64", O.I64_TRUNC_F64_S, id="i64.store"),
    pytest.param(O.I64_STORE32, (2, 0), "i64", O.I64_TRUNC_F64_S, id="i64.store32"),
    pytest.param(O.F64_STORE, (3, 0), "f64", None, id="f64.store"),
]
ALIGNED = [(O.I32_CONST, 0xFFC0), O.I32_AND]  # the address's low six bits known zero


def _address() -> list[Any]:
    """The address from the f32 parameter 0: traps on NaN (invalid) and on 2**40 (overflow)."""
    return [(O.LOCAL_GET, 0), O.I32_TRUNC_F32_U, *ALIGNED]


def _instance(builder: ModuleBuilder, gas_limit: int | None, canonical: bool) -> Any:
    compiled = wasm.compile(wasm.decode(builder.build()), metered=gas_limit is not None,
                            canonical_nans=canonical)
    return wasm.instantiate(compiled, gas_limit=gas_limit, canonical_nans=canonical)


def _trap(function: Any, *args: Any) -> wasm.TrapKind:
    with pytest.raises(wasm.Trap) as caught:
        function(*args)
    return caught.value.kind


@pytest.mark.parametrize(("gas_limit", "canonical"), VARIANTS)
@pytest.mark.parametrize(("store", "memarg", "valtype", "trunc"), STORES)
def test_a_call_computing_the_value_does_not_run_when_the_address_traps(
        gas_limit: int | None, canonical: bool, store: O, memarg: tuple[int, int], valtype: str,
        trunc: O | None) -> None:
    """``store(address, call())``: the address traps, so the call (which sets a global) never runs."""
    builder = ModuleBuilder()
    builder.memory(1, 1)
    flag = builder.global_("i32", True, [(O.I32_CONST, 0)], export="flag")
    five = 0x4014000000000000 if valtype == "f64" else 5  # 5.0's bits for f64.const
    const = ({"i32": O.I32_CONST, "i64": O.I64_CONST, "f64": O.F64_CONST}[valtype], five)
    value = builder.func(results=[valtype], body=[(O.I32_CONST, 1), (O.GLOBAL_SET, flag), const])
    run = builder.func(params=["f32"], body=[*_address(), (O.CALL, value), (store, memarg)])
    builder.export("run", ExternKind.FUNC, run)
    instance = _instance(builder, gas_limit, canonical)
    assert _trap(instance.exports["run"], math.nan) is wasm.TrapKind.INVALID_CONVERSION
    assert instance.exports["flag"].value == 0  # the value's call did not run
    instance.exports["run"](64.0)  # the order matters only for traps: a good address stores
    assert instance.exports["flag"].value == 1


@pytest.mark.parametrize(("gas_limit", "canonical"), VARIANTS)
@pytest.mark.parametrize(("store", "memarg", "valtype", "trunc"), STORES)
def test_the_address_trap_comes_before_the_value_trap(
        gas_limit: int | None, canonical: bool, store: O, memarg: tuple[int, int], valtype: str,
        trunc: O | None) -> None:
    """Both operands trap, each its own way: the store reports the address's trap."""
    if trunc is None:  # an f64 value from a trapping conversion: trunc, then back to f64
        value = [(O.LOCAL_GET, 1), O.I64_TRUNC_F64_S, O.F64_CONVERT_I64_S]
    else:
        value = [(O.LOCAL_GET, 1), trunc]
    builder = ModuleBuilder()
    builder.memory(1, 1)
    run = builder.func(params=["f32", "f64"], body=[*_address(), *value, (store, memarg)])
    builder.export("run", ExternKind.FUNC, run)
    call = _instance(builder, gas_limit, canonical).exports["run"]
    assert _trap(call, math.nan, 1e300) is wasm.TrapKind.INVALID_CONVERSION  # address NaN, value too big
    assert _trap(call, 2.0**40, math.nan) is wasm.TrapKind.INTEGER_OVERFLOW  # address too big, value NaN
    assert _trap(call, 64.0, math.nan) is wasm.TrapKind.INVALID_CONVERSION  # the value's own trap
