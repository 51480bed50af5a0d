"""Process-wide state: library calls never change it; the process sets it once with prepare_process."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

import wasmpool.wasm as wasm
from tests.conftest import FIXTURES
from wasmpool.wasm import compiler, reference
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.recursion import stack_depth


def _recursive() -> bytes:
    """``down(n)``: calls itself n times, inside a few nested blocks."""
    builder = ModuleBuilder()
    builder.func(["i32"], ["i32"], [
        (O.BLOCK, None), (O.BLOCK, None),
        (O.LOCAL_GET, 0), O.I32_EQZ, (O.IF, None), (O.I32_CONST, 0), O.RETURN, O.END,
        O.END, O.END,
        (O.LOCAL_GET, 0), (O.I32_CONST, 1), O.I32_SUB, (O.CALL, 0), (O.I32_CONST, 1), O.I32_ADD,
    ], export="down")
    return builder.build()


@pytest.fixture()
def recursion_limit() -> Iterator[None]:
    """Puts the process's recursion limit back after a test that changes it."""
    saved = sys.getrecursionlimit()
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


def _refuse(name: str) -> object:
    def refuse(*args: object) -> None:
        raise AssertionError(f"a library call used {name}")
    return refuse


def test_library_calls_leave_the_recursion_limit_and_the_collector_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "setrecursionlimit", _refuse("sys.setrecursionlimit"))
    for name in ("disable", "enable", "freeze"):
        monkeypatch.setattr(gc, name, _refuse(f"gc.{name}"))
    module = wasm.decode(_recursive())
    wasm.decode((FIXTURES / "engine" / "basic.wasm").read_bytes())
    for metered, gas_limit in ((False, None), (True, 10**9)):
        compiled = wasm.compile(module, metered=metered)
        assert wasm.instantiate(compiled, gas_limit=gas_limit).exports["down"](500) == 500
        assert wasm.instantiate(module, gas_limit=gas_limit).exports["down"](500) == 500
    assert reference.instantiate(module).exports["down"].call_raw([500]) == 500
    assert "call" in compiler.render_ir(module, 0)
    assert sys.getrecursionlimit() >= wasm.recursion_needed()
    assert gc.isenabled()


def test_prepare_process_raises_the_limit_and_never_lowers_it(recursion_limit: None) -> None:
    limits = wasm.RuntimeLimits(call_depth=20_000)
    needed = wasm.recursion_needed(limits)
    assert needed > wasm.recursion_needed()  # deeper calls need more
    sys.setrecursionlimit(2_000)
    assert wasm.prepare_process(limits) == needed == sys.getrecursionlimit()
    sys.setrecursionlimit(needed + 5)
    assert wasm.prepare_process(limits) == needed + 5


def test_too_low_a_limit_is_a_typed_error_naming_the_fix(recursion_limit: None) -> None:
    module = wasm.decode(_recursive())
    compiled = wasm.compile(module, metered=False)  # while the limit is what the test suite set
    sys.setrecursionlimit(2_500)
    with pytest.raises(wasm.RecursionLimitTooLow, match="prepare_process") as caught:
        wasm.instantiate(compiled)
    assert caught.value.current == 2_500
    assert caught.value.needed == 10_000 + 2_000  # the default call depth and the margin
    assert not isinstance(caught.value, wasm.WasmError)  # the process is at fault, not the module
    assert sys.getrecursionlimit() == 2_500
    small = wasm.RuntimeLimits(call_depth=10)
    assert wasm.instantiate(compiled, limits=small).exports["down"](5) == 5  # within the limit: runs
    with pytest.raises(wasm.RecursionLimitTooLow, match="reference interpreter"):
        reference.instantiate(module).exports["down"].call_raw([1])
    low = stack_depth() + 100  # room for the call, not for the compiler's margin
    sys.setrecursionlimit(low)
    with pytest.raises(wasm.RecursionLimitTooLow, match="compiling a function nested"):
        wasm.compile(module, metered=True)
    assert sys.getrecursionlimit() == low
