"""What the deploy policy adds to a deploy's validation: decode alone, then the engine's validator.

For each module, in one run and interleaved (so both see the same machine):
``wasm.decode`` (what the validator did before the deploy limits), then
``module_error`` under the default policy (decode + deploy limits), then
under the float policy ``reject`` (+ the float scan). Prints the median of
``--repeat`` runs of each and the ratios to decode alone.

Run from the repository root: ``.venv/bin/python bench/pool/deploy_checks.py``.
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from wasmpool import wasm  # noqa: E402
from wasmpool.wasm.builder import ModuleBuilder  # noqa: E402
from wasmpool.wasm.opcodes import Opcode  # noqa: E402
from wasmpool.wire.deploy_policy import DeployPolicy, Floats  # noqa: E402
from wasmpool.worker.validate import module_error  # noqa: E402

REJECT = DeployPolicy(floats=Floats.REJECT)


def heavy_module(functions: int = 100, ops: int = 1000) -> bytes:
    """The off-loop deploy test's module: 100 bodies of 1000 (i32.const 0, drop), about 300 KB."""
    builder = ModuleBuilder()
    builder.memory(1, export="memory")
    for _ in range(functions):
        builder.func(raw_body=bytes([Opcode.I32_CONST, 0, Opcode.DROP]) * ops)
    return builder.build()


def modules() -> dict[str, bytes]:
    corpus = ROOT / "tests" / "corpus"
    return {
        "rust/text.wasm (197 KiB)": (corpus / "rust" / "text.wasm").read_bytes(),
        "rust/crypto.wasm (58 KiB)": (corpus / "rust" / "crypto.wasm").read_bytes(),
        "c/forth.O0.wasm (36 KiB)": (corpus / "c" / "forth.O0.wasm").read_bytes(),
        "examples/token.wasm (3 KiB)": (ROOT / "examples" / "token.wasm").read_bytes(),
        "synthetic 300 KB of bodies": heavy_module(),
    }


def seconds(run: Callable[[bytes], object], module: bytes) -> float:
    started = time.perf_counter()
    run(module)
    return time.perf_counter() - started


def rejecting(module: bytes) -> object:
    return module_error(module, REJECT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    wasm.prepare_process()
    gc.disable()  # as the validating process does (broker.server.validate_collector_paused)
    print(f"{'module':<30} {'decode':>9} {'+limits':>9} {'+floats':>9} {'limits/decode':>14} "
          f"{'reject/decode':>14}")
    for name, module in modules().items():
        runs: dict[str, list[float]] = {"decode": [], "default": [], "reject": []}
        for _ in range(args.repeat):
            runs["decode"].append(seconds(wasm.decode, module))
            runs["default"].append(seconds(module_error, module))
            runs["reject"].append(seconds(rejecting, module))
            gc.collect()
        decode, default, reject = (statistics.median(runs[k]) for k in ("decode", "default", "reject"))
        print(f"{name:<30} {decode * 1e3:>7.1f}ms {default * 1e3:>7.1f}ms {reject * 1e3:>7.1f}ms "
              f"{default / decode:>14.3f} {reject / decode:>14.3f}")


if __name__ == "__main__":
    main()
