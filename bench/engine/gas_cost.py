"""Gas against CPU: microseconds per gas unit for ~50 instruction mixes (metered engine).

Gas is meant to bound CPU: whatever instructions a contract chooses, a unit
of gas should buy about the same time. This benchmark builds one module per
*mix* with :class:`wasmpool.wasm.builder.ModuleBuilder`: an exported ``run()``
whose body is a loop repeating the mix forever. Each mix runs on a fresh
metered instance until its gas limit is exhausted; the time that takes over
the gas it used is the mix's cost in µs per gas unit. The limit is first
calibrated so one run takes about ``--target-ms`` (default 100 ms), then the
best of ``--repeat`` runs is kept (the least disturbed by other processes).
Compilation happens before the timed runs (the module is compiled once,
with ``wasm.compile``; a warm-up run compiles lazily compiled functions).

The report lists every mix, the median, the worst mix and the worst/median
ratio, with a verdict against the goal: the worst mix within 10x the median.

Run: ``python bench/engine/gas_cost.py [--only SUBSTR] [--target-ms 100] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import Instruction, ModuleBuilder, uleb
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.types import ValType

GOAL = 10.0  # worst / median
REPEAT = 8  # copies of the mix in one loop iteration
I32, I64, F32, F64 = ValType.I32, ValType.I64, ValType.F32, ValType.F64


@dataclass
class Mix:
    """One instruction mix: a module whose export ``run`` loops over it until gas runs out."""

    name: str
    builder: ModuleBuilder
    imports: dict[str, dict[str, Any]] = field(default_factory=dict)


# ---------------------------------------------------------------- building blocks


def forever(body: Sequence[Instruction], repeat: int = REPEAT) -> list[Instruction]:
    """``loop`` { body x repeat; br 0 }."""
    return [(O.LOOP, None), *(list(body) * repeat), (O.BR, 0), O.END]


def looped(name: str, body: Sequence[Instruction], local_types: Sequence[ValType] = (),
           setup: Sequence[Instruction] = (), repeat: int = REPEAT,
           prepare: Callable[[ModuleBuilder], None] | None = None) -> Mix:
    """A mix whose ``run`` does ``setup`` then repeats ``body`` forever."""
    b = ModuleBuilder()
    if prepare is not None:
        prepare(b)
    b.func([], [], [*setup, *forever(body, repeat)], locals=local_types, export="run")
    return Mix(name, b)


def with_memory(b: ModuleBuilder) -> None:
    b.memory(2, 2)


def mutable_global(b: ModuleBuilder) -> None:
    b.global_(I32, True, [(O.I32_CONST, 0)])


def passive_data(b: ModuleBuilder, payload: bytes) -> None:
    b.memory(2, 2)
    b.datas.append(b"\x01" + uleb(len(payload)) + payload)


def table_with(b: ModuleBuilder, size: int, passive: int = 0) -> None:
    """A funcref table of ``size`` and a function to reference (index 0); a passive segment."""
    b.func([], [], [])
    b.table(size, size)
    b.elem([(O.I32_CONST, 0)], [0] * min(size, 16))
    if passive:
        b.elems.append(b"\x01\x00" + uleb(passive) + uleb(0) * passive)


def i32s(n: int) -> list[Instruction]:
    return [(O.I32_CONST, i) for i in range(n)]


def drops(n: int) -> list[Instruction]:
    return [O.DROP] * n


# ---------------------------------------------------------------- numeric, variable, memory


def numeric_mixes() -> list[Mix]:
    x32, x64 = (O.LOCAL_GET, 0), (O.LOCAL_GET, 0)
    return [
        looped("i32 add/sub/mul/and", [x32, (O.I32_CONST, 7), O.I32_ADD, (O.I32_CONST, 3), O.I32_MUL,
                                       (O.I32_CONST, 5), O.I32_SUB, (O.I32_CONST, 0xFFFF), O.I32_AND,
                                       (O.LOCAL_SET, 0)], [I32]),
        looped("i32 shifts/rotates/bits", [x32, (O.I32_CONST, 3), O.I32_ROTL, (O.I32_CONST, 1), O.I32_SHR_U,
                                           O.I32_POPCNT, O.I32_CLZ, (O.LOCAL_SET, 0)], [I32]),
        looped("i64 add/mul/xor", [x64, (O.I64_CONST, 0x12345), O.I64_MUL, (O.I64_CONST, 99), O.I64_ADD,
                                   (O.I64_CONST, 0x5555), O.I64_XOR, (O.LOCAL_SET, 0)], [I64]),
        looped("i64 shifts/bits", [x64, (O.I64_CONST, 13), O.I64_ROTR, O.I64_CTZ, (O.I64_CONST, 1),
                                   O.I64_SHL, (O.LOCAL_SET, 0)], [I64]),
        looped("i32 div/rem", [x32, (O.I32_CONST, 7), O.I32_DIV_U, (O.I32_CONST, 1000), O.I32_ADD,
                               (O.I32_CONST, 3), O.I32_REM_S, (O.LOCAL_SET, 0)], [I32],
               setup=[(O.I32_CONST, 123456), (O.LOCAL_SET, 0)]),
        looped("i64 div/rem", [x64, (O.I64_CONST, 7), O.I64_DIV_S, (O.I64_CONST, 1000), O.I64_ADD,
                               (O.I64_CONST, 3), O.I64_REM_U, (O.LOCAL_SET, 0)], [I64]),
        looped("f32 add/mul", [(O.LOCAL_GET, 0), (O.F32_CONST, 0x3F800000), O.F32_ADD,
                               (O.F32_CONST, 0x3F000000), O.F32_MUL, (O.LOCAL_SET, 0)], [F32]),
        looped("f64 add/mul/sub", [(O.LOCAL_GET, 0), (O.F64_CONST, 0x3FF0000000000000), O.F64_ADD,
                                   (O.F64_CONST, 0x3FE0000000000000), O.F64_MUL,
                                   (O.F64_CONST, 0x3FF0000000000000), O.F64_SUB, (O.LOCAL_SET, 0)], [F64]),
        looped("f64 div/sqrt", [(O.LOCAL_GET, 0), (O.F64_CONST, 0x4000000000000000), O.F64_DIV, O.F64_SQRT,
                                (O.LOCAL_SET, 0)], [F64], setup=[(O.F64_CONST, 0x4059000000000000),
                                                                 (O.LOCAL_SET, 0)]),
        looped("float unary", [(O.LOCAL_GET, 0), O.F64_FLOOR, O.F64_NEAREST, O.F64_ABS, O.F64_NEG,
                               (O.LOCAL_GET, 0), O.F64_COPYSIGN, (O.LOCAL_SET, 0)], [F64]),
        looped("f32 min/max/ceil", [(O.LOCAL_GET, 0), O.F32_CEIL, (O.F32_CONST, 0x40000000), O.F32_MIN,
                                    (O.F32_CONST, 0x3F800000), O.F32_MAX, (O.LOCAL_SET, 0)], [F32]),
        looped("conversions", [(O.LOCAL_GET, 0), O.F64_CONVERT_I32_S, O.I32_TRUNC_F64_S, O.I64_EXTEND_I32_S,
                               O.F32_CONVERT_I64_U, O.F64_PROMOTE_F32, O.F32_DEMOTE_F64,
                               O.I32_REINTERPRET_F32, O.I64_EXTEND_I32_U, O.I32_WRAP_I64,
                               (O.LOCAL_SET, 0)], [I32]),
        looped("trunc_sat", [(O.LOCAL_GET, 0), O.I64_TRUNC_SAT_F64_S, O.F64_CONVERT_I64_S,
                             O.I32_TRUNC_SAT_F64_U, O.DROP], [F64]),
        looped("comparisons", [(O.LOCAL_GET, 0), (O.I32_CONST, 5), O.I32_LT_S, (O.LOCAL_GET, 0), O.I32_EQZ,
                               O.I32_ADD, (O.LOCAL_GET, 1), (O.F64_CONST, 0), O.F64_LT, O.I32_ADD,
                               (O.LOCAL_SET, 0)], [I32, F64]),
        looped("locals get/set/tee", [(O.LOCAL_GET, 0), (O.LOCAL_TEE, 1), (O.LOCAL_SET, 2),
                                      (O.LOCAL_GET, 2), (O.LOCAL_SET, 0)], [I32, I32, I32]),
        looped("globals get/set", [(O.GLOBAL_GET, 0), (O.I32_CONST, 1), O.I32_ADD, (O.GLOBAL_SET, 0)],
               prepare=mutable_global),
        looped("select", [(O.LOCAL_GET, 0), (O.LOCAL_GET, 1), (O.LOCAL_GET, 0), O.SELECT, (O.LOCAL_SET, 1)],
               [I32, I32]),
        looped("nop/drop/const", [O.NOP, (O.I32_CONST, 1), O.DROP]),
    ]


def memory_mixes() -> list[Mix]:
    addr = (O.I32_CONST, 64)
    page = 65536
    return [
        looped("i32 load/store", [addr, addr, (O.I32_LOAD, (2, 0)), (O.I32_CONST, 1), O.I32_ADD,
                                  (O.I32_STORE, (2, 4))], prepare=with_memory),
        looped("i64 load/store", [addr, addr, (O.I64_LOAD, (3, 0)), (O.I64_STORE, (3, 8))],
               prepare=with_memory),
        looped("8/16-bit loads/stores", [addr, addr, (O.I32_LOAD8_U, (0, 0)), (O.I32_STORE16, (1, 2)),
                                         addr, (O.I64_LOAD16_S, (1, 0)), O.DROP, addr, (O.I32_CONST, 9),
                                         (O.I32_STORE8, (0, 1))], prepare=with_memory),
        looped("f32/f64 load/store", [addr, addr, (O.F64_LOAD, (3, 0)), (O.F64_STORE, (3, 8)),
                                      addr, addr, (O.F32_LOAD, (2, 0)), (O.F32_STORE, (2, 4))],
               prepare=with_memory),
        looped("memory.size/grow 0", [(O.MEMORY_SIZE, 0), O.DROP, (O.I32_CONST, 0), (O.MEMORY_GROW, 0),
                                      O.DROP], prepare=with_memory),
        looped("memory.fill 8 B", [addr, (O.I32_CONST, 7), (O.I32_CONST, 8), (O.MEMORY_FILL, 0)],
               prepare=with_memory),
        looped("memory.fill 64 KiB", [(O.I32_CONST, 0), (O.I32_CONST, 7), (O.I32_CONST, page),
                                      (O.MEMORY_FILL, 0)], repeat=1, prepare=with_memory),
        looped("memory.copy 4 KiB", [(O.I32_CONST, 0), (O.I32_CONST, 8192), (O.I32_CONST, 4096),
                                     O.MEMORY_COPY], prepare=with_memory),
        looped("memory.copy 64 KiB", [(O.I32_CONST, 0), (O.I32_CONST, page), (O.I32_CONST, page),
                                      O.MEMORY_COPY], repeat=1, prepare=with_memory),
        looped("memory.init 1 KiB", [(O.I32_CONST, 0), (O.I32_CONST, 0), (O.I32_CONST, 1024),
                                     (O.MEMORY_INIT, 0)], prepare=lambda b: passive_data(b, bytes(1024))),
    ]


# ---------------------------------------------------------------- tables and references


def table_mixes() -> list[Mix]:
    size = 4096

    def fill(n: int) -> list[Instruction]:
        return [(O.I32_CONST, 0), (O.REF_FUNC, 0), (O.I32_CONST, n), (O.TABLE_FILL, 0)]

    return [
        looped("table.fill 1", fill(1), prepare=lambda b: table_with(b, size)),
        looped("table.fill 4096", fill(size), repeat=1, prepare=lambda b: table_with(b, size)),
        looped("table.copy 4096", [(O.I32_CONST, 0), (O.I32_CONST, 0), (O.I32_CONST, size),
                                   (O.TABLE_COPY, (0, 0))], repeat=1, prepare=lambda b: table_with(b, size)),
        looped("table.copy 2048 overlap", [(O.I32_CONST, 1), (O.I32_CONST, 0), (O.I32_CONST, 2048),
                                           (O.TABLE_COPY, (0, 0))], repeat=1,
               prepare=lambda b: table_with(b, size)),
        looped("table.init 1024", [(O.I32_CONST, 0), (O.I32_CONST, 0), (O.I32_CONST, 1024),
                                   (O.TABLE_INIT, (1, 0))], repeat=1,
               prepare=lambda b: table_with(b, size, passive=1024)),
        looped("table.get/set/size", [(O.I32_CONST, 3), (O.I32_CONST, 5), (O.TABLE_GET, 0), (O.TABLE_SET, 0),
                                      (O.TABLE_SIZE, 0), O.DROP], prepare=lambda b: table_with(b, 16)),
        looped("ref.func/ref.is_null", [(O.REF_FUNC, 0), O.REF_IS_NULL, O.DROP, (O.REF_NULL, ValType.FUNCREF),
                                        O.REF_IS_NULL, O.DROP], prepare=lambda b: table_with(b, 16)),
    ]


# ---------------------------------------------------------------- control


def values_type(b: ModuleBuilder, n: int) -> int | ValType | None:
    """The block type of ``n`` i32 results."""
    return b.type([], [I32] * n) if n > 1 else (I32 if n == 1 else None)


def sets(n: int) -> list[Instruction]:
    """Consume ``n`` values (``local.set``: the compiler cannot drop the moves feeding them)."""
    return [(O.LOCAL_SET, 1)] * n


def branch_mix(n: int) -> Mix:
    """A block whose ``br`` carries ``n`` values out (fed by ``local.get``), then dropped."""
    b = ModuleBuilder()
    t = values_type(b, n)
    body: list[Instruction] = [(O.BLOCK, t), *[(O.LOCAL_GET, 0)] * n, (O.BR, 0), O.END, *sets(n)]
    b.func([], [], forever(body, 1 if n >= 100 else REPEAT), locals=[I32, I32], export="run")
    return Mix(f"br carrying {n} values", b)


def loop_branch_mix(n: int) -> Mix:
    """A loop with ``n`` parameters whose ``br_if`` carries new values back each iteration."""
    b = ModuleBuilder()
    t = b.type([I32] * n, [])
    body: list[Instruction] = [*i32s(n), (O.LOOP, t), *drops(n), *[(O.LOCAL_GET, 0)] * n,
                               (O.I32_CONST, 1), (O.BR_IF, 0), *drops(n), O.END]
    b.func([], [], body, locals=[I32], export="run")
    return Mix(f"loop br_if carrying {n} values", b)


def br_table_mix(n: int) -> Mix:
    b = ModuleBuilder()
    t = values_type(b, n)
    body: list[Instruction] = [(O.BLOCK, t), (O.BLOCK, t), *[(O.LOCAL_GET, 0)] * n, (O.LOCAL_GET, 0),
                               (O.BR_TABLE, ((0, 1, 0), 1)), O.END, O.END, *sets(n)]
    b.func([], [], forever(body, 1 if n >= 100 else REPEAT), locals=[I32, I32], export="run")
    return Mix(f"br_table carrying {n} values", b)


def nesting_mix(depth: int) -> Mix:
    b = ModuleBuilder()
    body: list[Instruction] = [*[(O.BLOCK, None)] * depth, (O.LOCAL_GET, 0), (O.BR_IF, depth - 1),
                               *[O.END] * depth]
    b.func([], [], forever(body, 1), locals=[I32], export="run")
    return Mix(f"{depth} nested blocks", b)


def control_mixes() -> list[Mix]:
    return [
        looped("if/else", [(O.LOCAL_GET, 0), (O.IF, None), (O.I32_CONST, 1), (O.LOCAL_SET, 0), O.ELSE,
                           (O.I32_CONST, 0), (O.LOCAL_SET, 0), O.END], [I32]),
        *(branch_mix(n) for n in (0, 1, 10, 100, 1000)),
        *(loop_branch_mix(n) for n in (1, 100, 1000)),
        *(br_table_mix(n) for n in (0, 10, 1000)),
        nesting_mix(300),
    ]


# ---------------------------------------------------------------- calls


def call_mix(nlocals: int) -> Mix:
    b = ModuleBuilder()
    callee = b.func([], [], [], locals=[I32] * nlocals)
    b.func([], [], forever([(O.CALL, callee)], 1 if nlocals >= 1000 else REPEAT), export="run")
    return Mix(f"call, {nlocals} locals", b)


def recursion_mix(nlocals: int, depth: int) -> Mix:
    """``rec(n)``: if n { rec(n - 1) }, called with ``depth`` over and over."""
    b = ModuleBuilder()
    rec = 0
    b.func([I32], [], [(O.LOCAL_GET, 0), (O.IF, None), (O.LOCAL_GET, 0), (O.I32_CONST, 1), O.I32_SUB,
                       (O.CALL, rec), O.END], locals=[I32] * nlocals)
    b.func([], [], forever([(O.I32_CONST, depth), (O.CALL, rec)], 1), export="run")
    return Mix(f"recursion {depth} deep, {nlocals} locals", b)


def indirect_mix() -> Mix:
    b = ModuleBuilder()
    callee = b.func([I32], [I32], [(O.LOCAL_GET, 0)])
    b.table(1, 1)
    b.elem([(O.I32_CONST, 0)], [callee])
    t = b.type([I32], [I32])
    b.func([], [], forever([(O.I32_CONST, 1), (O.I32_CONST, 0), (O.CALL_INDIRECT, (t, 0)), O.DROP]),
           export="run")
    return Mix("call_indirect", b)


def args_mix(n: int) -> Mix:
    b = ModuleBuilder()
    callee = b.func([I32] * n, [], [])
    b.func([], [], forever([*[(O.LOCAL_GET, 0)] * n, (O.CALL, callee)], 1), locals=[I32], export="run")
    return Mix(f"call with {n} args", b)


def results_mix(n: int) -> Mix:
    b = ModuleBuilder()
    callee = b.func([], [I32] * n, [*[(O.LOCAL_GET, 0)] * n, O.RETURN], locals=[I32])
    b.func([], [], forever([(O.CALL, callee), *drops(n)], 1), export="run")
    return Mix(f"return {n} results", b)


def host_mix(exports: int) -> Mix:
    """Calls to a host function that reads ``caller.memory``, as the contract ABI's hosts do."""
    b = ModuleBuilder()
    imported = b.import_func("env", "h", [I32], [I32])
    b.memory(1, 1)
    run = b.func([], [], forever([(O.I32_CONST, 1), (O.CALL, imported), O.DROP]), export="run")
    for i in range(exports - 2):
        b.export(f"e{i}", wasm.ExternKind.FUNC, run)
    b.export("mem", wasm.ExternKind.MEMORY, 0)

    def h(caller: wasm.Caller, x: int) -> int:
        caller.memory  # noqa: B018 -- the lookup every ABI host does
        return x

    return Mix(f"host call, {exports} exports", b, {"env": {"h": wasm.host(h)}})


def call_mixes() -> list[Mix]:
    return [
        *(call_mix(n) for n in (0, 100, 10_000, 49_000)),
        recursion_mix(0, 100),
        recursion_mix(49_000, 8),
        indirect_mix(),
        args_mix(100),
        results_mix(100),
        host_mix(2),
        host_mix(100_000),
    ]


def all_mixes() -> list[Mix]:
    return [*numeric_mixes(), *memory_mixes(), *table_mixes(), *control_mixes(), *call_mixes()]


# ---------------------------------------------------------------- measuring


def run_once(module: wasm.CompiledModule, mix: Mix, gas: int, setup: int) -> tuple[float, int]:
    """Seconds and gas of one run of ``mix`` from a fresh instance until ``gas`` more is spent.

    ``setup`` is what instantiation itself charges: the meter starts with it on
    top, and it is not counted, since the time of instantiation is not either.
    """
    inst = wasm.instantiate(module, mix.imports, gas_limit=gas + setup)
    run = inst.exports["run"]
    start = time.perf_counter()
    try:
        run()
    except wasm.GasExhausted:
        pass
    elapsed = time.perf_counter() - start
    return elapsed, inst.gas_used - setup


def measure(mix: Mix, target: float, repeat: int) -> float:
    """Best µs per gas unit over ``repeat`` runs of about ``target`` seconds."""
    module = wasm.compile(wasm.decode(mix.builder.build()), metered=True)  # once for every run
    setup = wasm.instantiate(module, mix.imports, gas_limit=10**15).gas_used
    gas = 2_000
    run_once(module, mix, gas, setup)  # warm-up: lazy compiles
    while True:
        elapsed, _ = run_once(module, mix, gas, setup)
        if elapsed >= target / 10 or gas > 10**12:
            break
        gas *= 4
    gas = max(1, int(gas * target / max(elapsed, 1e-6)))
    best = min(e / max(g, 1) for e, g in (run_once(module, mix, gas, setup) for _ in range(repeat)))
    return best * 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="only mixes whose name contains this")
    parser.add_argument("--target-ms", type=float, default=100.0, help="duration of one run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mix (the best is kept)")
    args = parser.parse_args(argv)
    wasm.prepare_process()
    results: list[tuple[str, float]] = []
    for mix in all_mixes():
        if args.only in mix.name:
            cost = measure(mix, args.target_ms / 1000, args.repeat)
            results.append((mix.name, cost))
            print(f"{mix.name:<36} {cost:9.5f} µs/gas", flush=True)
    if not results:
        print("no mix matches")
        return 1
    median = statistics.median(c for _, c in results)
    worst_name, worst = max(results, key=lambda r: r[1])
    best_name, best = min(results, key=lambda r: r[1])
    ratio = worst / median
    print(f"\n{len(results)} mixes; median {median:.5f} µs/gas")
    print(f"worst {worst_name}: {worst:.5f} µs/gas = {ratio:.1f}x the median")
    print(f"cheapest {best_name}: {best:.5f} µs/gas = {best / median:.2f}x the median")
    verdict = "meets" if ratio <= GOAL else "misses"
    print(f"verdict: {verdict} the goal (worst within {GOAL:.0f}x the median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
