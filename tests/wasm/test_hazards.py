"""Where Python and WebAssembly disagree, and where CPython's own limits bite.

* nesting far beyond CPython's 20 static blocks / 100 indentation levels
  (``hazards.wasm``, written by ``gen_hazards.py``);
* C division vs Python's floor division, IEEE division by zero, f32
  rounding and overflow, signalling NaNs (``numeric.wasm``);
* deep recursion: always :class:`StackExhausted`, never ``RecursionError``
  (``stack.wasm``).
"""

from __future__ import annotations

import math
import struct
import sys
from collections.abc import Callable
from typing import Any

import pytest

import wasmpool.wasm as wasm
from tests.conftest import FIXTURES
from wasmpool.wasm import compiler
from wasmpool.wasm.compiler import structure
from wasmpool.wasm.module import Module

ENGINE = FIXTURES / "engine"
SWITCH_BLOCKS, SWITCH_ENTRIES, CARRY_BLOCKS, IFS = 1000, 500, 200, 150


@pytest.fixture(scope="module")
def load() -> Callable[[str], Module]:
    def decode(name: str) -> Module:
        return wasm.decode((ENGINE / f"{name}.wasm").read_bytes())
    return decode


@pytest.fixture(scope="module")
def hazards(load: Callable[[str], Module]) -> dict[str, Any]:
    return wasm.instantiate(load("hazards")).exports


@pytest.fixture(scope="module")
def numeric(load: Callable[[str], Module]) -> dict[str, Any]:
    return wasm.instantiate(load("numeric")).exports


def export_index(module: Module, name: str) -> int:
    return next(e.index for e in module.exports if e.name == name)


# ---------------------------------------------------------------- deep nesting

SWITCH_INDICES = [0, 1, 2, 137, 250, SWITCH_ENTRIES - 1, SWITCH_ENTRIES, 10**6, -1]


def switch_target(index: int) -> int:
    """The block the 500-way table leaves: entry k -> block 2k, anything else -> the default."""
    unsigned = index & 0xFFFFFFFF
    return 2 * unsigned if unsigned < SWITCH_ENTRIES else SWITCH_BLOCKS - 1


@pytest.mark.parametrize("index", SWITCH_INDICES, ids=[f"i={i}" for i in SWITCH_INDICES])
def test_switch_of_1000_blocks_and_500_entries(hazards: dict[str, Any], index: int) -> None:
    assert hazards["switch"](index) == switch_target(index)


@pytest.mark.parametrize("index", SWITCH_INDICES, ids=[f"i={i}" for i in SWITCH_INDICES])
def test_fall_through_ladder_of_1000_blocks(hazards: dict[str, Any], index: int) -> None:
    target = switch_target(index)
    assert hazards["ladder"](index) == sum(range(target, SWITCH_BLOCKS))


@pytest.mark.parametrize("index", range(5), ids=[f"i={i}" for i in range(5)])
def test_values_carried_out_of_200_nested_blocks(hazards: dict[str, Any], index: int) -> None:
    target = [0, 50, 100, 150][index % 4]
    assert hazards["carry"](index) == 42 + sum(range(target, CARRY_BLOCKS))


@pytest.mark.parametrize("n", [1, 4, 9])
def test_30_nested_loops(hazards: dict[str, Any], n: int) -> None:
    assert hazards["loops"](n) == 3 * n


@pytest.mark.parametrize("x", [0, 1, 77, IFS, 10**6])
def test_150_nested_ifs(hazards: dict[str, Any], x: int) -> None:
    assert hazards["ifs"](x) == min(x, IFS)


def test_shapes_of_the_deep_functions(load: Callable[[str], Module]) -> None:
    module = load("hazards")
    switch = compiler.render_python(module, export_index(module, "switch"))
    ladder = compiler.render_python(module, export_index(module, "ladder"))
    loops = compiler.render_python(module, export_index(module, "loops"))
    assert "lbl" not in switch  # the switch's cases sit in the leaves of one if-tree
    assert "lbl = " in ladder  # fall-through cases need the state machine
    # the innermost loops stay plain Python loops inside the state machine
    assert "while True:\n" in loops and "lbl = " in loops
    for source in (switch, ladder, loops):
        indents = [len(line) - len(line.lstrip(" ")) for line in source.splitlines()]
        assert max(indents) // 4 < 100


# ---------------------------------------------------------------- integer division

INT_CASES = [
    ("i32.div_s", (-7, 2), -3), ("i32.rem_s", (-7, 2), -1),
    ("i32.div_s", (7, -2), -3), ("i32.rem_s", (7, -2), 1),
    ("i32.div_s", (-2**31, 1), -2**31), ("i32.rem_s", (-2**31, -1), 0),
    ("i32.div_u", (-1, 2), 0x7FFFFFFF), ("i32.rem_u", (-1, 10), 5),
    ("i64.div_s", (-7, 2), -3), ("i64.rem_s", (-7, 2), -1),
    ("i32.shr_s", (-8, 1), -4), ("i32.shr_s", (-1, 33), -1),
]


@pytest.mark.parametrize(("export", "args", "expected"), INT_CASES,
                         ids=[f"{e}{a}" for e, a, _ in INT_CASES])
def test_integer_division_truncates_like_c(numeric: dict[str, Any], export: str,
                                           args: tuple[int, int], expected: int) -> None:
    assert numeric[export](*args) == expected


@pytest.mark.parametrize(("export", "args", "kind"), [
    ("i32.div_s", (1, 0), wasm.TrapKind.INTEGER_DIVIDE_BY_ZERO),
    ("i32.div_u", (1, 0), wasm.TrapKind.INTEGER_DIVIDE_BY_ZERO),
    ("i32.rem_u", (1, 0), wasm.TrapKind.INTEGER_DIVIDE_BY_ZERO),
    ("i32.div_s", (-2**31, -1), wasm.TrapKind.INTEGER_OVERFLOW),
    ("i64.div_s", (-2**63, -1), wasm.TrapKind.INTEGER_OVERFLOW),
])
def test_integer_division_traps(numeric: dict[str, Any], export: str, args: tuple[int, int],
                                kind: wasm.TrapKind) -> None:
    with pytest.raises(wasm.Trap) as raised:
        numeric[export](*args)
    assert raised.value.kind is kind


# ---------------------------------------------------------------- floats


@pytest.mark.parametrize("export", ["f64.div", "f32.div"])
@pytest.mark.parametrize(("a", "b", "expected"), [
    (1.0, 0.0, math.inf), (-1.0, 0.0, -math.inf), (1.0, -0.0, -math.inf), (0.0, 0.0, math.nan),
])
def test_float_division_by_zero_follows_ieee(numeric: dict[str, Any], export: str, a: float, b: float,
                                             expected: float) -> None:
    result = numeric[export](a, b)
    assert (math.isnan(result) if math.isnan(expected) else result == expected)


def f32(x: float) -> float:
    return float(struct.unpack("<f", struct.pack("<f", x))[0])


@pytest.mark.parametrize(("export", "args", "expected"), [
    ("f32.mul", (3e38, 10.0), math.inf),
    ("f32.mul", (-3e38, 10.0), -math.inf),
    ("f32.add", (f32(3.4028234663852886e38), f32(3.4028234663852886e38)), math.inf),
    ("f32.add", (1.0, 2.0**-24), 1.0),  # a tie rounds to even
    ("f32.add", (1.0, 3 * 2.0**-24), 1.0 + 2.0**-22),
    ("f32.demote", (1e300,), math.inf),
    ("f32.demote", (1e-50,), 0.0),
    ("f32.mul", (f32(0.1), f32(0.1)), f32(f32(0.1) * f32(0.1))),
], ids=["overflow", "negative-overflow", "max+max", "tie-to-even", "round-up", "demote-huge",
        "demote-tiny", "rounded-product"])
def test_f32_rounding_and_overflow(numeric: dict[str, Any], export: str, args: tuple[float, ...],
                                   expected: float) -> None:
    assert numeric[export](*args) == expected


SNAN32 = [0x7FA00001, 0xFFA00000, 0x7F800001, 0x7FC00001]
PATHS32 = ["f32.through_local", "f32.through_global", "f32.through_memory", "f32.through_call"]


@pytest.mark.parametrize("bits", SNAN32, ids=[hex(b) for b in SNAN32])
@pytest.mark.parametrize("path", PATHS32)
def test_f32_nan_bits_survive(numeric: dict[str, Any], path: str, bits: int) -> None:
    assert numeric[path].call_raw([bits]) == bits
    assert numeric["f32.bits"].call_raw([numeric[path].call_raw([bits])]) == bits


def test_f32_signalling_nan_from_a_constant_and_reinterpret(numeric: dict[str, Any]) -> None:
    assert numeric["f32.snan"].call_raw([]) == 0x7FA00001
    assert numeric["f32.from_bits"].call_raw([0x7FA00001]) == 0x7FA00001


@pytest.mark.parametrize("path", ["f64.through_global", "f64.through_memory"])
def test_f64_nan_bits_survive(numeric: dict[str, Any], path: str) -> None:
    for bits in (0x7FF0000000000001, 0xFFF4000000000000, 0x7FF8000000000001):
        assert numeric[path].call_raw([bits]) == bits


# ---------------------------------------------------------------- recursion


@pytest.fixture()
def stack_module(load: Callable[[str], Module]) -> Module:
    return load("stack")


def test_unbounded_recursion_is_stack_exhausted(stack_module: Module) -> None:
    exports = wasm.instantiate(stack_module).exports
    for _ in range(3):  # and the process and the instance survive it
        with pytest.raises(wasm.StackExhausted):
            exports["forever"](0)
    assert exports["down"](100) == 100


def test_call_depth_is_exact_and_deterministic(stack_module: Module) -> None:
    exports = wasm.instantiate(stack_module, limits=wasm.RuntimeLimits(call_depth=500)).exports
    assert exports["down"](499) == 499  # 500 frames
    with pytest.raises(wasm.StackExhausted):
        exports["down"](500)
    with pytest.raises(wasm.StackExhausted):
        exports["indirect"](0)


def test_default_depth_is_10000_frames(stack_module: Module) -> None:
    exports = wasm.instantiate(stack_module).exports
    assert exports["down"](9999) == 9999
    with pytest.raises(wasm.StackExhausted):
        exports["down"](10000)


def test_recursion_error_never_escapes(stack_module: Module) -> None:
    exports = wasm.instantiate(stack_module).exports
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(400)  # far below the wasm depth limit: Python runs out first
    try:
        with pytest.raises(wasm.StackExhausted) as raised:
            exports["forever"](0)
    finally:
        sys.setrecursionlimit(saved)
    assert not isinstance(raised.value, RecursionError)
    assert exports["down"](50) == 50


def test_recursion_error_in_a_host_function_is_stack_exhausted() -> None:
    def recurse(n: int) -> int:
        return recurse(n + 1) + 1

    module = wasm.decode((ENGINE / "gas.wasm").read_bytes())
    instance = wasm.instantiate(module, {"host": {"charge": recurse}})
    with pytest.raises(wasm.StackExhausted):
        instance.exports["host"](0)


def test_debug_views_of_deep_functions(load: Callable[[str], Module]) -> None:
    module = load("hazards")
    for export in ("switch", "ladder", "carry", "loops", "ifs"):
        index = export_index(module, export)
        assert compiler.render_ir(module, index).startswith(f"func {index} ")
        assert f"def f{index}(d, l0):" in compiler.render_python(module, index, metered=True)


@pytest.fixture()
def flat_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A nesting budget so small that nearly every construct becomes a state machine."""
    monkeypatch.setattr(structure, "MAX_LOOPS", 2)
    monkeypatch.setattr(structure, "MAX_INDENT", 5)


FLAT_CALLS = [
    ("basic", "fib", (15,), 610), ("basic", "nested_br", (1,), 108), ("basic", "table", (1,), 12),
    ("basic", "sum", (10,), 55), ("basic", "mv_loop", (3,), 77), ("basic", "swap_block", (1, 2), (2, 1)),
    ("hazards", "ladder", (3,), sum(range(6, SWITCH_BLOCKS))),
    ("hazards", "carry", (2,), 42 + sum(range(100, 200))),
    ("hazards", "loops", (4,), 12), ("hazards", "ifs", (20,), 20),
]


@pytest.mark.usefixtures("flat_only")
@pytest.mark.parametrize(("fixture", "export", "args", "expected"), FLAT_CALLS,
                         ids=[f"{f}.{e}" for f, e, _, _ in FLAT_CALLS])
@pytest.mark.parametrize("gas", [None, 10**9], ids=["plain", "metered"])
def test_state_machines_compute_the_same(fixture: str, export: str, args: tuple[int, ...],
                                         expected: object, gas: int | None) -> None:
    module = wasm.decode((ENGINE / f"{fixture}.wasm").read_bytes())  # fresh: not compiled before
    instance = wasm.instantiate(module, gas_limit=gas)
    if fixture == "hazards":
        assert "lbl = " in compiler.render_python(module, export_index(module, export))
    assert instance.exports[export](*args) == expected
