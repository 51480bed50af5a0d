"""The reference interpreter against the WebAssembly spec suite, and a few direct checks.

The reference (:mod:`wasmpool.wasm.reference`) is the oracle of the
differential tests, so it must itself be right: every execution command of
the spec suite's scripts (``assert_return``, ``assert_trap``,
``assert_exhaustion``, linking and instantiation failures) runs through it
here, with the spec harness's own value parsing and result matching
(:mod:`tests.wasm.spec_runner`); only instantiation and the ``spectest``
host module are swapped for the reference's. One pytest case per script.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import wasmpool.wasm as wasm
from tests.wasm.spec_cases import load_script, script_names
from tests.wasm.spec_runner import SPECTEST_F32_BITS, SPECTEST_F64, SPECTEST_PRINTS, ScriptRunner
from wasmpool.wasm import reference
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.types import FuncType, GlobalType, Limits, TableType, ValType

# Scripts whose commands the reference does not all pass, with the reason (none known).
KNOWN_FAILURES: dict[str, str] = {}


def reference_spectest() -> dict[str, Any]:
    """The ``spectest`` host module built from reference store objects."""
    exports: dict[str, Any] = {name: _print for name in SPECTEST_PRINTS}
    exports.update(
        global_i32=reference.RefGlobal(GlobalType(ValType.I32, False), 666),
        global_i64=reference.RefGlobal(GlobalType(ValType.I64, False), 666),
        global_f32=reference.RefGlobal(GlobalType(ValType.F32, False), SPECTEST_F32_BITS),
        global_f64=reference.RefGlobal(GlobalType(ValType.F64, False),
                                       struct.unpack("<Q", struct.pack("<d", SPECTEST_F64))[0]),
        table=reference.RefTable(TableType(ValType.FUNCREF, Limits(10, 20))),
        memory=reference.RefMemory(Limits(1, 2)),
    )
    return exports


def _print(*args: object) -> None:
    """The spectest ``print*`` functions do nothing."""


class ReferenceScriptRunner(ScriptRunner):
    """The spec harness with modules instantiated by the reference interpreter."""

    def __init__(self, directory: Path) -> None:
        super().__init__(lambda filename: (directory / filename).read_bytes())
        self.registry["spectest"] = reference_spectest()
        self.failed_registrations.pop("spectest", None)

    def _instantiate(self, command: Mapping[str, Any]) -> Any:
        module = wasm.decode(self.load_module(command["filename"]))
        return reference.instantiate(module, self.registry)


def run_script_on_reference(name: str) -> tuple[int, list[str]]:
    """Run one script; the number of commands executed and the failures' messages."""
    commands = load_script(name)
    runner = ReferenceScriptRunner(commands[0].directory)
    executed, failures = 0, []
    for command in commands:
        outcome = runner.execute(command.command)
        if outcome is None:
            continue
        executed += 1
        if not outcome.passed:
            failures.append(f"{command.id}: {outcome.message}")
    return executed, failures


def _script_params() -> list[Any]:
    names = script_names()
    if not names:
        return [pytest.param(None, id="spec-data-missing", marks=pytest.mark.skip(reason="no spec data"))]
    return [pytest.param(name, id=name, marks=[pytest.mark.xfail(reason=KNOWN_FAILURES[name], strict=True)]
                         if name in KNOWN_FAILURES else []) for name in names]


@pytest.mark.spec
@pytest.mark.parametrize("script", _script_params())
def test_reference_passes_spec_script(script: str, spec_data: Path) -> None:
    executed, failures = run_script_on_reference(script)
    assert not failures, f"{len(failures)}/{executed} failed:\n" + "\n".join(failures[:10])


# ---------------------------------------------------------------- direct checks


def test_reference_runs_a_host_import_and_the_start_function() -> None:
    builder = ModuleBuilder()
    log = builder.import_func("env", "log", ["i32"], [])
    builder.global_("i32", True, [(O.I32_CONST, 0)], export="g")
    start = builder.func([], [], [(O.I32_CONST, -7), (O.CALL, log), (O.I32_CONST, 5), (O.GLOBAL_SET, 0)])
    builder.start = start
    seen: list[int] = []
    inst = reference.instantiate(wasm.decode(builder.build()), {"env": {"log": seen.append}})
    assert seen == [0xFFFF_FFF9]
    assert inst.exports["g"].value == 5


def test_reference_call_depth_is_bounded() -> None:
    builder = ModuleBuilder()
    builder.func([], [], [(O.CALL, 0)], export="f")
    inst = reference.instantiate(wasm.decode(builder.build()), call_depth=50)
    with pytest.raises(wasm.StackExhausted):
        inst.exports["f"].call_raw([])


def test_reference_exports_keep_their_types() -> None:
    builder = ModuleBuilder()
    builder.func(["i64"], ["i64", "i32"], [(O.LOCAL_GET, 0), (O.I32_CONST, 1)], export="f")
    inst = reference.instantiate(wasm.decode(builder.build()))
    assert inst.exports["f"].type == FuncType((ValType.I64,), (ValType.I64, ValType.I32))
    assert inst.exports["f"].call_raw([-1]) == ((1 << 64) - 1, 1)
