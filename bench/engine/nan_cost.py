"""What canonical NaNs cost where float values are seen: kernels timed with and without the option.

The engine's ``canonical_nans`` option checks a float value for NaN only
where it leaves arithmetic (stored to memory, passed to a call, returned,
used by ``copysign``...), not inside chains of arithmetic (``neg`` and
``abs`` included), comparisons, nor in locals that only arithmetic writes
(see ``worker/wasm/compiler/nans.py``). The
mandelbrot benchmarks of ``wasmpool bench`` keep everything in locals and so
pay nothing; these kernels, built with
:class:`wasmpool.wasm.builder.ModuleBuilder`, show the other cases, each
``f64`` and ``f32``:

- ``locals``:  ``x = x * a + b`` in a loop, the result returned once (no check in the loop);
- ``memory``:  ``m[i] = m[i] * a + b`` over an array (one check per element stored);
- ``calls``:   ``x = f(x)`` with ``f(y) = y * a + b`` (checks at each argument and return);
- ``abs``:     ``x = abs(x * a) - b`` (``abs`` inside a chain: no check);
- ``copysign``: ``x = copysign(x * a, -1) + b`` (its operand is checked: one check per step).

Then the two programs of ``wasmpool bench`` whose cost goal is 1.10,
``mandelbrot_f64`` and ``mandelbrot_f32`` (``run(56)``), timed the same way.

Each kernel runs unmetered with the engine's default semantics (``ours``) and
with canonical NaNs (``canonical``); samples interleave round by round so that
machine noise hits both alike, and the table shows the median time per call,
the ratio of the medians canonical/ours and the ratio of the best samples
(steadier than the medians on a machine shared with other work).

Run: ``python bench/engine/nan_cost.py [--repeat 7] [--n 20000]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import Instruction, ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O

MIN_SAMPLE_SECONDS = 0.05  # a sample: back-to-back calls for at least this long

# Per float type: (const, mul, add, sub, abs, copysign, load, store, element size in bytes, bits of 1.0)
OPS: dict[str, tuple[O, O, O, O, O, O, O, O, int, int]] = {
    "f64": (O.F64_CONST, O.F64_MUL, O.F64_ADD, O.F64_SUB, O.F64_ABS, O.F64_COPYSIGN, O.F64_LOAD, O.F64_STORE,
            8, 0x3FF0_0000_0000_0000),
    "f32": (O.F32_CONST, O.F32_MUL, O.F32_ADD, O.F32_SUB, O.F32_ABS, O.F32_COPYSIGN, O.F32_LOAD, O.F32_STORE,
            4, 0x3F80_0000),
}
MINUS_ONE = {"f64": 0xBFF0_0000_0000_0000, "f32": 0xBF80_0000}
HALF = {"f64": 0x3FE0_0000_0000_0000, "f32": 0x3F00_0000}  # 0.5: keeps every kernel's values bounded


def _counted_loop(body: list[Instruction], counter: int) -> list[Instruction]:
    """``body`` run ``l0`` times (``counter`` is a spare i32 local)."""
    return [
        (O.LOCAL_GET, 0), (O.LOCAL_SET, counter),
        (O.BLOCK, None), (O.LOOP, None),
        (O.LOCAL_GET, counter), O.I32_EQZ, (O.BR_IF, 1),
        *body,
        (O.LOCAL_GET, counter), (O.I32_CONST, 1), O.I32_SUB, (O.LOCAL_SET, counter),
        (O.BR, 0), O.END, O.END,
    ]


def kernel_module(t: str) -> bytes:
    """One module exporting every kernel for float type ``t``; each takes ``n`` and returns a float."""
    const, mul, add, sub, abs_, copysign, load, store, size, one = OPS[t]
    half = HALF[t]
    b = ModuleBuilder()
    b.memory(4)
    x = 2  # locals: l0 = n (param), l1 = counter, l2 = x (t), l3 = address
    step = [(O.LOCAL_GET, x), (const, half), mul, (const, half), add, (O.LOCAL_SET, x)]
    b.func(["i32"], [t], [*_counted_loop(step, 1), (O.LOCAL_GET, x)], locals=["i32", t], export="locals")
    address = [(O.LOCAL_GET, 1), (O.I32_CONST, 1023), O.I32_AND, (O.I32_CONST, size), O.I32_MUL]
    element = [*address, *address, (load, (2, 0)), (const, half), mul, (const, one), add, (store, (2, 0))]
    b.func(["i32"], [t], [*_counted_loop(element, 1), (O.I32_CONST, 0), (load, (2, 0))], locals=["i32", t],
           export="memory")
    affine = b.func([t], [t], [(O.LOCAL_GET, 0), (const, half), mul, (const, half), add])
    called = [(O.LOCAL_GET, x), (O.CALL, affine), (O.LOCAL_SET, x)]
    b.func(["i32"], [t], [*_counted_loop(called, 1), (O.LOCAL_GET, x)], locals=["i32", t], export="calls")
    absolute = [(O.LOCAL_GET, x), (const, half), mul, abs_, (const, half), sub, (O.LOCAL_SET, x)]
    b.func(["i32"], [t], [*_counted_loop(absolute, 1), (O.LOCAL_GET, x)], locals=["i32", t], export="abs")
    signed = [(O.LOCAL_GET, x), (const, half), mul, (const, MINUS_ONE[t]), copysign, (const, half), add,
              (O.LOCAL_SET, x)]
    b.func(["i32"], [t], [*_counted_loop(signed, 1), (O.LOCAL_GET, x)], locals=["i32", t], export="copysign")
    return b.build()


KERNELS = ("locals", "memory", "calls", "abs", "copysign")
PROGRAMS = ("mandelbrot_f64", "mandelbrot_f32")  # bench/engine/*.wasm, exporting run(n)
PROGRAM_N = 56  # the size wasmpool bench runs them at


def _sample(call: Callable[[], Any]) -> float:
    """Seconds per call over at least ``MIN_SAMPLE_SECONDS`` of back-to-back calls."""
    calls, start = 0, time.perf_counter()
    while True:
        call()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= MIN_SAMPLE_SECONDS:
            return elapsed / calls


Samples = tuple[list[float], list[float]]  # seconds per call of each sample: without the option, with it


def measure(data: bytes, names: Sequence[str], n: int, repeat: int) -> dict[str, Samples]:
    """Per exported function: (seconds per call of each sample without the option, with it)."""
    module = wasm.decode(data)
    plain = wasm.instantiate(wasm.compile(module, metered=False))
    canon = wasm.instantiate(wasm.compile(module, metered=False, canonical_nans=True), canonical_nans=True)
    out = {}
    for name in names:
        ours, theirs = plain.exports[name], canon.exports[name]
        if ours.call_raw([n]) != theirs.call_raw([n]):
            raise SystemExit(f"{name}: the two variants disagree on a result without NaNs")
        times: Samples = ([], [])
        for _ in range(repeat):  # interleaved rounds
            times[0].append(_sample(lambda f=ours: f.call_raw([n])))
            times[1].append(_sample(lambda f=theirs: f.call_raw([n])))
        out[name] = times
    return out


def _row(label: str, ours: list[float], canon: list[float]) -> str:
    mid, best = statistics.median(ours), min(ours)
    ratio, best_ratio = statistics.median(canon) / mid, min(canon) / best
    return (f"{label:<16} {mid * 1e3:>8.2f}ms {statistics.median(canon) * 1e3:>8.2f}ms "
            f"{ratio:>14.2f}x {best_ratio:>9.2f}x")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="interleaved samples per variant")
    parser.add_argument("--n", type=int, default=20_000, help="loop iterations per call")
    args = parser.parse_args(argv)
    wasm.prepare_process()
    print(f"{'kernel':<16} {'ours':>10} {'canonical':>10} {'canonical/ours':>15} {'best/best':>10}")
    for t in ("f64", "f32"):
        for name, (ours, canon) in measure(kernel_module(t), KERNELS, args.n, args.repeat).items():
            print(_row(f"{t} {name}", ours, canon))
    for program in PROGRAMS:
        data = (Path(__file__).resolve().parent / f"{program}.wasm").read_bytes()
        (ours, canon), = measure(data, ["run"], PROGRAM_N, args.repeat).values()
        print(_row(program, ours, canon))
    return 0


if __name__ == "__main__":
    sys.exit(main())
