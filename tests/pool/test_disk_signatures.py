"""A module from disk checks ``call_indirect`` types with the loading process's signature ids.

Signature ids are interned per process (``compiler.signatures``), in the
order a process meets function types, so two worker processes may give one
type different ids. Code compiled in one process and loaded from the disk
cache in another must still accept a call through a table of the right
type and refuse one of the wrong type (a trap). Before the compiler named
the ids (``sig{type index}``, bound per instance), the stored code held the
compiling process's numbers, and a right call trapped in the other process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from wasmpool import wasm
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.compiler.signatures import signature_id
from wasmpool.wasm.opcodes import Opcode
from wasmpool.wasm.types import FuncType, ValType

ROOT = Path(__file__).resolve().parents[2]


def module() -> bytes:
    """``right()`` calls the ``(i32) -> i32`` in the table (42); ``wrong()`` calls it as ``() -> i32``."""
    builder = ModuleBuilder()
    unary = builder.type(["i32"], ["i32"])
    nullary = builder.type([], ["i32"])
    target = builder.func(["i32"], ["i32"], [(Opcode.LOCAL_GET, 0), (Opcode.I32_CONST, 1), Opcode.I32_ADD])
    builder.table(1)
    builder.elem([(Opcode.I32_CONST, 0)], [target])
    right = [(Opcode.I32_CONST, 41), (Opcode.I32_CONST, 0), (Opcode.CALL_INDIRECT, (unary, 0))]
    builder.func([], ["i32"], right, export="right")
    builder.func([], ["i32"], [(Opcode.I32_CONST, 0), (Opcode.CALL_INDIRECT, (nullary, 0))], export="wrong")
    return builder.build()


def outcomes(compiled: wasm.CompiledModule) -> list[object]:
    found: list[object] = []
    for export in ("right", "wrong"):
        try:
            found.append(wasm.instantiate(compiled, gas_limit=10**6).exports[export]())
        except wasm.Trap as trap:
            found.append(str(trap))
    return found


LOADER = """
import sys
from pathlib import Path
from wasmpool import wasm
from tests.pool.test_disk_signatures import outcomes
wasm.prepare_process()
print(outcomes(wasm.deserialize_compiled(Path(sys.argv[1]).read_bytes(), metered=True)))
"""


def test_code_from_another_process_checks_types_with_this_process_ids(tmp_path: Path) -> None:
    for arity in range(6):  # this process has met other types first: its ids are not a fresh process's
        signature_id(FuncType((ValType.F64,) * arity, (ValType.I64,)))
    compiled = wasm.compile(wasm.decode(module()), metered=True)
    here = outcomes(compiled)
    assert here == [42, "indirect call type mismatch"]
    blob = tmp_path / "module.blob"
    blob.write_bytes(wasm.serialize_compiled(compiled))
    done = subprocess.run([sys.executable, "-c", LOADER, str(blob)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == repr(here)
