"""The SHA-256 of the Python source the compiler emits for a set of modules, for comparing processes.

``python -m tests.pool.emitted`` prints one hex digest over every function
of the example contracts, the test fixtures and the engine benchmarks,
compiled in all four variants (metered or not, canonical NaNs or not):
each function's source and the float constants it names, in module and
function order. A module the engine refuses contributes the refusal's
class name. The determinism tests run it under different hash seeds: code
emitted differently would be code whose gas checks or results might
differ too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

from wasmpool import wasm
from wasmpool.wasm.compiler import function_source

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("examples", "tests/pool/fixtures", "tests/fixtures", "bench/engine")
VARIANTS = [(metered, canonical) for metered in (False, True) for canonical in (False, True)]


def sources() -> Iterator[bytes]:
    """Each function's emitted source and constants, in a fixed order."""
    for folder in FOLDERS:
        for path in sorted((REPO / folder).glob("*.wasm")):
            yield path.name.encode()
            try:
                module = wasm.decode(path.read_bytes())
            except wasm.WasmError as exc:
                yield type(exc).__name__.encode()
                continue
            imported = sum(1 for item in module.imports if item.kind == wasm.ExternKind.FUNC)
            for metered, canonical in VARIANTS:
                for index in range(imported, imported + len(module.funcs)):
                    try:
                        source, constants = function_source(module, index, metered, canonical_nans=canonical)
                    except wasm.WasmError as exc:
                        yield type(exc).__name__.encode()
                        continue
                    yield source.encode() + repr(sorted(constants.items())).encode()


def digest() -> str:
    total = hashlib.sha256()
    for chunk in sources():
        total.update(len(chunk).to_bytes(8, "little") + chunk)
    return total.hexdigest()


if __name__ == "__main__":
    wasm.prepare_process()
    print(digest())
