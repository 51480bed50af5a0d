"""The instance maker travels with a module in the disk cache, and a fresh process uses it uncompiled.

A module's instance maker (``runtime.maker``: its instantiation written out
as Python) is made on its second instantiation; compiling its source is
most of that. The worker stores the module's entry again once the maker
exists (``Loader.tend``, between jobs); a fresh process loading the entry
makes the same source, finds the stored code object for it and runs it
without compiling, with the same results and gas. The maker's source names
every object, signature ids too, so it is the same source in a process
that interned the module's types in another order.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from wasmpool import wasm
from wasmpool.wasm.serialize import maker_of
from wasmpool.wire import protocol as p
from wasmpool.worker.diskcache import check_directory
from wasmpool.worker.host import CallContext, CallState, Host
from wasmpool.worker.tiers import DiskTier, Loader

ROOT = Path(__file__).resolve().parents[2]


class Empty:
    """Committed state with nothing in it."""

    def get(self, key: bytes) -> bytes | None:
        return None


def calls(compiled: wasm.CompiledModule, count: int = 3) -> list[Any]:
    """``count`` instances in turn, each minting through the host ABI: result, gas, writes."""
    outcomes = []
    for _ in range(count):
        host = Host()
        call = CallState(Empty(), input=b"alice 1000", context=CallContext(caller=b"alice"))
        host.begin(call)
        try:
            instance = wasm.instantiate(compiled, host.imports(), gas_limit=10**7, canonical_nans=True)
            outcomes.append([instance.exports["mint"](), instance.gas_used,
                             sorted([k.hex(), v.hex()] for k, v in call.writes.items() if v is not None)])
        finally:
            host.end()
    return outcomes


FRESH_PROCESS = """
import builtins, json, sys
from pathlib import Path
from wasmpool import wasm
from wasmpool.wasm.compiler.signatures import signature_id
from wasmpool.wasm.types import FuncType, ValType
from wasmpool.wasm.runtime.prepared import existing
from wasmpool.worker.tiers import DiskTier, Loader
from tests.pool.test_disk_makers import calls
wasm.prepare_process()
for arity in range(4):  # this process meets other types first: other signature ids
    signature_id(FuncType((ValType.I64,) * arity, (ValType.F32,)))
compiled = Loader(DiskTier.at(Path(sys.argv[1]), 10**9)).load(sys.argv[2], lambda: b"").runnable()
stored = existing(compiled).maker_code
sources = []
real = builtins.compile
builtins.compile = lambda source, *rest, **named: sources.append(source) or real(source, *rest, **named)
outcomes = calls(compiled)
builtins.compile = real
prep = existing(compiled)
print(json.dumps({"outcomes": outcomes, "stored": stored is not None, "kept": prep.maker_code is stored,
                  "made": prep.maker is not None and prep.maker[1] is not None,
                  "compiled": [source.splitlines()[0] for source in sources]}))
"""


def test_a_fresh_process_uses_the_stored_maker_without_compiling_it(tmp_path: Path) -> None:
    code = (ROOT / "examples" / "token.wasm").read_bytes()
    code_id = p.code_id(code)
    loader = Loader(DiskTier.at(check_directory(tmp_path), 10**9))
    compiled = loader.load(code_id, lambda: code).runnable()
    assert not loader.tend()  # stored whole at load, no maker yet
    here = calls(compiled)
    assert maker_of(compiled) is not None  # made on the second instantiation
    assert loader.tend() and not loader.tend()  # stored again, once
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS, str(tmp_path), code_id], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["outcomes"] == json.loads(json.dumps(here))
    assert answer["stored"] and answer["kept"] and answer["made"]
    assert answer["compiled"] == []  # neither the maker nor anything else was compiled
