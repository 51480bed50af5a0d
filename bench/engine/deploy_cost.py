"""Calibrating the deploy and load prices: µs per module byte, converted to gas at ordinary code's rate.

A deploy is charged ``DEPLOY_BASE_GAS + DEPLOY_BYTE_GAS`` per byte
(``wasmpool.wire.prices``): what it makes the pool do is decode and
validate the module (the broker's validator) and, on every worker that
runs it, decode, validate and compile it again (metered). A call pays
``LOAD_BYTE_GAS`` per byte of its module, whatever the worker's cache
holds: the price of bringing an already compiled module into the call from
a compiled-code cache (``wasmpool.wasm.serialize``, when the engine has
it), the most a load costs once the module was compiled for a deploy.

For every module of the corpus (``tests/corpus``) this script times, best
of ``--repeat`` runs:

- ``decode``: ``wasm.decode`` (which validates);
- ``compile``: ``wasm.compile(module, metered=True)`` (with canonical NaNs
  when the engine has the option: what a worker runs);
- ``deserialize``: loading the compiled module back from its serialized
  bytes, when the engine can serialize;

and the fixed part of a deploy: a minimal module decoded twice and compiled
(storing it is a few tens of µs more in SQLite, not counted).

Each is reported in µs per byte of the ``.wasm``; the medians over the
corpus are divided by the median µs per gas of ordinary code (the
instruction mixes of ``gas_cost.py``, measured in the same run), which
gives gas per byte: the figures docs/gas.md ("Deploy and load") quotes.

Run: ``python bench/engine/deploy_cost.py [--repeat 3] [--target-ms 20]``
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import wasmpool.wasm as wasm
from bench.engine import gas_cost
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode
from wasmpool.wasm.types import ValType
from wasmpool.wire import prices

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"


def compile_options() -> dict[str, Any]:
    """The options a worker compiles with: metered, and canonical NaNs when the engine has them."""
    options: dict[str, Any] = {"metered": True}
    if "canonical_nans" in inspect.signature(wasm.compile).parameters:
        options["canonical_nans"] = True
    return options


def best(action: Callable[[], object], repeat: int) -> float:
    """The best time of ``repeat`` runs of ``action``, in seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def serializer() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]] | None:
    """(serialize, deserialize) for a worker's variant, or None when the engine cannot serialize."""
    try:
        from wasmpool.wasm import serialize  # type: ignore[attr-defined]
    except ImportError:
        return None
    options = compile_options()
    return (serialize.serialize_compiled,
            lambda blob: serialize.deserialize_compiled(blob, **options))


def corpus_costs(repeat: int) -> list[tuple[str, int, float, float, float | None]]:
    """(name, bytes, decode µs/byte, compile µs/byte, deserialize µs/byte or None) per corpus module."""
    options = compile_options()
    serial = serializer()
    rows = []
    for path in sorted(CORPUS.rglob("*.wasm")):
        code = path.read_bytes()
        module = wasm.decode(code)
        decode = best(partial(wasm.decode, code), repeat)
        compile_ = best(partial(wasm.compile, module, **options), repeat)
        load = None
        if serial is not None:
            try:
                blob = serial[0](wasm.compile(module, **options))
                load = best(partial(serial[1], blob), repeat) * 1e6 / len(code)
            except Exception:  # a module the serializer cannot take (e.g. compiled lazily): not counted
                load = None
        rows.append((str(path.relative_to(CORPUS)), len(code), decode * 1e6 / len(code),
                     compile_ * 1e6 / len(code), load))
    return rows


def minimal_module() -> bytes:
    """The smallest contract-shaped module: a memory and one exported function."""
    builder = ModuleBuilder()
    builder.memory(1, export="memory")
    builder.func([], [ValType.I32], [(Opcode.I32_CONST, 1)], export="run")
    return builder.build()


def base_cost(repeat: int) -> float:
    """µs a deploy spends whatever its size: a minimal module decoded twice (broker, worker), compiled."""
    code = minimal_module()
    module = wasm.decode(code)
    options = compile_options()
    return (2 * best(lambda: wasm.decode(code), repeat * 20)
            + best(lambda: wasm.compile(module, **options), repeat * 20)) * 1e6


def ordinary_us_per_gas(target: float, repeat: int) -> float:
    """The median µs per gas of the instruction mixes of ``gas_cost.py``."""
    return statistics.median(gas_cost.measure(mix, target, repeat) for mix in gas_cost.all_mixes())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the best is kept)")
    parser.add_argument("--target-ms", type=float, default=20.0, help="duration of one gas_cost mix run")
    args = parser.parse_args(argv)
    wasm.prepare_process()
    print(f"compile options: {compile_options()}")
    rows = corpus_costs(args.repeat)
    print(f"{'module':<28} {'bytes':>8} {'decode':>8} {'compile':>8} {'deser.':>8}  (µs/byte)")
    for name, size, decode, compile_, load in rows:
        shown = "-" if load is None else f"{load:8.3f}"
        print(f"{name:<28} {size:>8} {decode:8.3f} {compile_:8.3f} {shown:>8}")
    per_gas = ordinary_us_per_gas(args.target_ms / 1000, args.repeat)
    deploy = statistics.median(decode * 2 + compile_ for _, _, decode, compile_, _ in rows)
    loads = [load for *_, load in rows if load is not None]
    print(f"\nordinary code: median {per_gas:.4f} µs/gas over {len(gas_cost.all_mixes())} mixes")
    base = base_cost(args.repeat)
    print(f"deploy base (a minimal module): {base:.0f} µs = {base / per_gas:,.0f} gas "
          f"(priced: {prices.DEPLOY_BASE_GAS})")
    print(f"deploy (decode at the broker + decode and compile at a worker): median {deploy:.3f} µs/byte "
          f"= {deploy / per_gas:.1f} gas/byte (priced: {prices.DEPLOY_BYTE_GAS})")
    if loads:
        load = statistics.median(loads)
        print(f"load from a compiled cache: median {load:.3f} µs/byte = {load / per_gas:.2f} gas/byte "
              f"(priced: {prices.LOAD_BYTE_GAS})")
    else:
        print("load from a compiled cache: the engine cannot serialize compiled modules here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
