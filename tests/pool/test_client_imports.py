"""The client and the wire load no engine and no worker: importing them is cheap, and a client host
needs nothing of what runs contracts.

Each check imports in a fresh interpreter, so that what this test process
already loaded (the pool's fixtures load everything) cannot hide an import.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("wasmpool.wasm", "wasmpool.worker")


def loaded_after(code: str) -> list[str]:
    """The wasmpool modules a fresh interpreter holds after running ``code``."""
    probe = (f"{code}\nimport json, sys\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.startswith('wasmpool'))))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          timeout=60)
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def engine_or_worker(modules: list[str]) -> list[str]:
    return [name for name in modules if name.startswith(FORBIDDEN)]


IMPORTS = {
    "client": "import wasmpool.client",
    "public-names": "from wasmpool import Client, AsyncClient, Result",
    "wire": "import wasmpool.wire.protocol, wasmpool.wire.messages, wasmpool.wire.receipts, "
            "wasmpool.wire.liveness, wasmpool.wire.errors",
}


@pytest.mark.parametrize("code", IMPORTS.values(), ids=IMPORTS.keys())
def test_no_engine_or_worker_module_is_loaded(code: str) -> None:
    modules = loaded_after(code)
    assert "wasmpool.wire.protocol" in modules  # the probe did import what it names
    assert engine_or_worker(modules) == []


def test_the_wire_loads_nothing_of_the_broker_either() -> None:
    modules = loaded_after(IMPORTS["wire"])
    assert [name for name in modules if not name.startswith("wasmpool.wire") and name != "wasmpool"] == []


def test_the_probe_sees_the_engine_when_it_is_imported() -> None:
    """The check can fail: importing the worker's error codes loads the engine, and the probe says so."""
    assert "wasmpool.wasm" in engine_or_worker(loaded_after("import wasmpool.worker.codes"))
