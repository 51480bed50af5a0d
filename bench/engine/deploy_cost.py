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

Each is reported in µs per byte of the ``.wasm`` and converted to gas per
byte at the µs per gas of ordinary code measured just before it (the three
reference mixes of ``instantiate_cost.py``, which calibrated the
instantiation prices), so that a busy machine slows both sides of each
ratio alike; the medians of the per-module ratios are the figures
docs/gas.md ("Deploy and load") quotes. The median µs per gas of all the
mixes of ``gas_cost.py`` is printed beside, for comparison.

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
from bench.engine import gas_cost, instantiate_cost
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


Row = tuple[str, int, float, float, float | None, float]


def corpus_costs(repeat: int) -> list[Row]:
    """Per module: name, bytes, decode, compile, deserialize (None: cannot) µs/byte, reference µs/gas."""
    options = compile_options()
    serial = serializer()
    rows = []
    for path in sorted(CORPUS.rglob("*.wasm")):
        per_gas = instantiate_cost.reference(repeat)  # side by side with this module's timings
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
                     compile_ * 1e6 / len(code), load, per_gas))
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
    print(f"{'module':<32} {'bytes':>7} {'decode':>7} {'compile':>7} {'deser.':>7} (µs/byte)  "
          f"{'µs/gas':>7} {'deploy':>6} {'load':>5} (gas/byte)")
    for name, size, decode, compile_, load, per_gas in rows:
        deploy = (2 * decode + compile_) / per_gas
        shown = ("-", "-") if load is None else (f"{load:.3f}", f"{load / per_gas:.2f}")
        print(f"{name:<32} {size:>7} {decode:7.3f} {compile_:7.3f} {shown[0]:>7}            "
              f"{per_gas:7.4f} {deploy:6.0f} {shown[1]:>5}")
    reference = statistics.median(row[5] for row in rows)
    deploys = [(2 * decode + compile_) / per_gas for _, _, decode, compile_, _, per_gas in rows]
    loads = [load / per_gas for *_, load, per_gas in rows if load is not None]
    base = base_cost(args.repeat) / instantiate_cost.reference(args.repeat)
    mixes = ordinary_us_per_gas(args.target_ms / 1000, args.repeat)
    print(f"\nreference mixes: median {reference:.4f} µs/gas; the {len(gas_cost.all_mixes())} gas_cost "
          f"mixes: median {mixes:.4f} µs/gas")
    print(f"deploy base (a minimal module decoded twice and compiled): {base:,.0f} gas "
          f"(priced: {prices.DEPLOY_BASE_GAS})")
    print(f"deploy per byte (decode at the broker, decode and compile at a worker): median "
          f"{statistics.median(deploys):.0f} gas/byte (priced: {prices.DEPLOY_BYTE_GAS})")
    if loads:
        print(f"load from a compiled cache: median {statistics.median(loads):.2f} gas/byte "
              f"(priced: {prices.LOAD_BYTE_GAS})")
    else:
        print("load from a compiled cache: the engine cannot serialize compiled modules here")
    return 0


if __name__ == "__main__":
    sys.exit(main())
