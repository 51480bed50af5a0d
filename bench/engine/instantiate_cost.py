"""Instantiation against CPU: microseconds and gas of instantiating large modules.

The pool instantiates the called module for every call, and a module within
the decode limits can declare hundreds of thousands of functions, a million
globals or millions of element items. Instantiation is charged as gas before
it runs (``worker/wasm/runtime/setup_gas.py``); this script checks that the
price keeps pace with the time: for each *shape* (many functions, globals,
element items, exports, imports, data bytes, table elements, memory pages)
it builds modules at 1x, 4x and 16x a base size with
:class:`wasmpool.wasm.builder.ModuleBuilder`, instantiates each (metered,
decoded and compiled once beforehand, as the pool's caches do), and prints
the best time of ``--repeat`` runs, its price in gas (``instantiation_gas``,
before the allowance), the µs per gas unit and its ratio to the
*reference*: the median µs per gas of a few ordinary instruction mixes
(integer arithmetic on locals, loads and stores, calls), measured in the
same process just before each shape, so that a machine whose load changes
during the run skews both sides alike. A ratio near 1 means a unit of gas
buys as much time in instantiation as in ordinary code; below 1, the price
is on the safe side.

Run: ``python bench/engine/instantiate_cost.py [--scale 1] [--repeat 3] [--only SUBSTR]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import Instruction, ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.runtime.setup_gas import instantiation_gas

FACTORS = (1, 4, 16)
Shape = Callable[[int], ModuleBuilder]


def functions(n: int) -> ModuleBuilder:
    builder = ModuleBuilder()
    for _ in range(n):
        builder.func([], [], [])
    return builder


def globals_(n: int) -> ModuleBuilder:
    builder = ModuleBuilder()
    for index in range(n):
        builder.global_("i32", index % 2 == 0, [(O.I32_CONST, index)])
    return builder


def elem_items(n: int) -> ModuleBuilder:
    builder = ModuleBuilder()
    target = builder.func([], [], [])
    builder.table(n)
    builder.elem([(O.I32_CONST, 0)], [target] * n)
    return builder


def exports(n: int) -> ModuleBuilder:
    builder = ModuleBuilder()
    target = builder.func([], [], [])
    for index in range(n):
        builder.export(f"e{index}", wasm.ExternKind.FUNC, target)
    return builder


def imports(n: int) -> ModuleBuilder:
    builder = ModuleBuilder()
    for _ in range(n):
        builder.import_func("env", "f", ["i32"], ["i32"])
    return builder


def data_bytes(n: int) -> ModuleBuilder:
    builder = ModuleBuilder()
    builder.memory(256)
    builder.data([(O.I32_CONST, 0)], bytes(range(256)) * (n // 256))
    return builder


def table_elements(n: int) -> ModuleBuilder:
    builder = ModuleBuilder()
    builder.table(n)
    return builder


def memory_pages(n: int) -> ModuleBuilder:
    builder = ModuleBuilder()
    builder.memory(n)
    return builder


SHAPES: dict[str, tuple[Shape, int]] = {
    "functions": (functions, 2_000),
    "globals": (globals_, 4_000),
    "elem items": (elem_items, 8_000),
    "exports": (exports, 4_000),
    "imports": (imports, 2_000),
    "data bytes": (data_bytes, 256 * 1024),
    "table elements": (table_elements, 60_000),
    "memory pages": (memory_pages, 15),
}


def host_imports() -> dict[str, dict[str, object]]:
    return {"env": {"f": wasm.host(lambda x: x, caller=False)}}


def best_instantiation(module: wasm.Module, repeat: int) -> float:
    """Seconds of the fastest of ``repeat`` metered instantiations (each released at once)."""
    compiled = wasm.compile(module, metered=True)  # as the worker keeps it: compiled once, not timed
    wasm.instantiate(compiled, host_imports(), gas_limit=10**12).release()  # warm caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        instance = wasm.instantiate(compiled, host_imports(), gas_limit=10**12)
        times.append(time.perf_counter() - start)
        instance.release()
    return min(times)


# ---------------------------------------------------------------- the reference


def _loop(body: Sequence[Instruction]) -> list[Instruction]:
    return [(O.LOOP, None), *body, (O.BR, 0), O.END]


def reference_mixes() -> dict[str, ModuleBuilder]:
    arithmetic = ModuleBuilder()
    arithmetic.func([], [], _loop([(O.LOCAL_GET, 0), (O.I32_CONST, 3), O.I32_MUL, (O.LOCAL_GET, 1), O.I32_ADD,
                                   (O.LOCAL_SET, 1), (O.LOCAL_GET, 0), (O.I32_CONST, 1), O.I32_ADD,
                                   (O.LOCAL_SET, 0)] * 4), locals=["i32", "i32"], export="run")
    memory = ModuleBuilder()
    memory.memory(1)
    memory.func([], [], _loop([(O.LOCAL_GET, 0), (O.I32_CONST, 1020), O.I32_AND, (O.LOCAL_GET, 0),
                               (O.I32_STORE, (2, 0)), (O.LOCAL_GET, 0), (O.I32_LOAD, (2, 4)),
                               (O.LOCAL_SET, 0)] * 4), locals=["i32"], export="run")
    calls = ModuleBuilder()
    leaf = calls.func(["i32"], ["i32"], [(O.LOCAL_GET, 0), (O.I32_CONST, 1), O.I32_ADD])
    calls.func([], [], _loop([(O.LOCAL_GET, 0), (O.CALL, leaf), (O.LOCAL_SET, 0)] * 4), locals=["i32"],
               export="run")
    return {"arithmetic": arithmetic, "memory": memory, "calls": calls}


def us_per_gas(builder: ModuleBuilder, gas: int, repeat: int) -> float:
    compiled = wasm.compile(wasm.decode(builder.build()), metered=True)
    best = float("inf")
    for _ in range(repeat):
        instance = wasm.instantiate(compiled, gas_limit=gas)
        run = instance.exports["run"]
        start = time.perf_counter()
        try:
            run()
        except wasm.GasExhausted:
            pass
        best = min(best, (time.perf_counter() - start) * 1e6 / instance.gas_used)
        instance.release()
    return best


def reference(repeat: int) -> float:
    """The median µs per gas of the reference mixes."""
    return statistics.median(us_per_gas(b, 500_000, repeat) for b in reference_mixes().values())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every base size")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="only shapes whose name contains this")
    args = parser.parse_args(argv)
    wasm.prepare_process()
    print(f"{'shape':<15} {'x':>3} {'items':>9} {'ms':>9} {'gas':>10} {'us/gas':>8} {'ref':>7} {'ratio':>6}")
    ratios = []
    for name, (shape, base) in SHAPES.items():
        if args.only not in name:
            continue
        ref = reference(args.repeat)
        for factor in FACTORS:
            count = int(base * args.scale) * factor
            module = wasm.decode(shape(count).build())
            seconds = best_instantiation(module, args.repeat)
            gas = instantiation_gas(module)
            per_gas = seconds * 1e6 / gas
            ratios.append(per_gas / ref)
            print(f"{name:<15} {factor:>3} {count:>9} {seconds * 1e3:>9.2f} {gas:>10} {per_gas:>8.4f} "
                  f"{ref:>7.4f} {per_gas / ref:>6.2f}")
    if ratios:
        print(f"\nratio to the reference: median {statistics.median(ratios):.2f}, "
              f"range {min(ratios):.2f}-{max(ratios):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
