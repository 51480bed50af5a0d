"""Compile work and memory against module size, for hostile and ordinary code shapes.

Each shape is a function of a size ``n`` that builds a one-function module
(two for the call chain) with :mod:`wasmpool.wasm.builder`. The benchmark
measures every shape at 1x, 4x and 16x, each size in a fresh subprocess:
decode and validate, then compile every function in the unmetered and in
the metered variant. It prints per size the code size in KiB (function
bodies), the CPU seconds of each step (``time.process_time``: the machine
may be shared, and wall time would count the other processes' turns), the
peak memory growth (``ru_maxrss``
at the end minus ``ru_maxrss`` after the imports, so it includes what the
decoder and CPython's ``compile()`` held), ms/KiB (decode, validate and the
slower variant: what loading the module in one variant costs) and MB/KiB,
and per shape the growth exponents from 4x to 16x of the total time and of
the peak memory, divided by the code's own growth exponent (1 is linear).
A shape the decoder refuses is reported with the limit that refused it.

The goal: exponents at most 1.2, and at most 50 ms and 10 MB per KiB.

    python bench/engine/compile_growth.py [--only SHAPE] [--scale F] [--list]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from wasmpool.wasm.builder import Instruction, ModuleBuilder  # noqa: E402
from wasmpool.wasm.opcodes import Opcode as O  # noqa: E402

Shape = Callable[[int], bytes]
GOAL_EXPONENT = 1.2
GOAL_MS_PER_KIB = 50.0
GOAL_MB_PER_KIB = 10.0
FACTORS = (1, 4, 16)
TIMEOUT = 120  # seconds one size may take
RSS_FLOOR = 4.0  # MB: smaller peaks are within ru_maxrss's noise (arenas, the allocator's reuse)


def _module(params: list[str], results: list[str], body: list[Instruction],
            locals: list[str] | None = None, builder: ModuleBuilder | None = None) -> bytes:
    builder = builder or ModuleBuilder()
    builder.func(params, results, body, locals=locals or [], export="f")
    return builder.build()


def br_table_values(n: int) -> bytes:
    """``n`` nested blocks, each at a higher stack base, whose labels carry ``n`` values; a long table."""
    builder = ModuleBuilder()
    carry = builder.type([], ["i32"] * n)
    body: list[Instruction] = []
    for _ in range(n):
        body += [(O.LOCAL_GET, 0), (O.BLOCK, carry)]
    body += [(O.LOCAL_GET, 0)] * n + [(O.LOCAL_GET, 0)]
    body.append((O.BR_TABLE, (tuple(i % n for i in range(4 * n)), n - 1)))
    for _ in range(n):
        body += [O.END, O.UNREACHABLE]
    return _module(["i32"], [], body, builder=builder)


def nested_ifs(n: int) -> bytes:
    """``n`` nested ``if``s, each adding to a local before and after its inner ``if``."""
    body: list[Instruction] = []
    for _ in range(n):
        body += [(O.LOCAL_GET, 0), (O.IF, None), (O.LOCAL_GET, 1), (O.I32_CONST, 1), O.I32_ADD,
                 (O.LOCAL_SET, 1)]
    body += [O.END] * n
    body += [(O.LOCAL_GET, 1)]
    return _module(["i32", "i32"], ["i32"], body)


def nested_if_else(n: int) -> bytes:
    """``n`` nested ``if``/``else`` with a result, each arm computing something."""
    body: list[Instruction] = []
    for _ in range(n):
        body += [(O.LOCAL_GET, 0), (O.IF, "i32"), (O.LOCAL_GET, 1), (O.I32_CONST, 3), O.I32_MUL, O.ELSE]
    body += [(O.LOCAL_GET, 1)]
    body += [O.END] * n
    return _module(["i32", "i32"], ["i32"], body)


def nested_blocks_br_table(n: int) -> bytes:
    """A C ``switch`` of ``n`` cases: ``n`` nested blocks around a ``br_table``, a case after each end."""
    body: list[Instruction] = [(O.BLOCK, None)] * (n + 1)
    body += [(O.LOCAL_GET, 0), (O.BR_TABLE, (tuple(range(n)), n))]
    for i in range(n):
        body += [O.END, (O.LOCAL_GET, 1), (O.I32_CONST, i), O.I32_ADD, (O.LOCAL_SET, 1), (O.BR, n - 1 - i)]
    body += [O.END, (O.LOCAL_GET, 1)]
    return _module(["i32", "i32"], ["i32"], body)


def nested_blocks_table(n: int) -> bytes:
    """``n`` nested blocks and a ``br_table`` naming each of them, nothing after their ends."""
    body: list[Instruction] = [(O.BLOCK, None)] * n
    body += [(O.LOCAL_GET, 0), (O.BR_TABLE, (tuple(range(n)), n - 1))]
    body += [O.END] * n
    return _module(["i32"], [], body)


def nested_blocks_br(n: int) -> bytes:
    """``n`` nested blocks, each ending with a ``br_if`` out of several levels and some work."""
    body: list[Instruction] = [(O.BLOCK, None)] * n
    for i in range(n):
        body += [O.END, (O.LOCAL_GET, 1), (O.LOCAL_GET, 0), O.I32_ADD, (O.LOCAL_TEE, 1),
                 (O.BR_IF, min(3, n - 2 - i))] if i < n - 1 else [O.END]
    body += [(O.LOCAL_GET, 1)]
    return _module(["i32", "i32"], ["i32"], body)


def nested_loops(n: int) -> bytes:
    """``n`` nested loops, each counting a local down and branching back."""
    body: list[Instruction] = []
    for _ in range(n):
        body += [(O.LOOP, None)]
    for _ in range(n):
        body += [(O.LOCAL_GET, 0), (O.I32_CONST, 1), O.I32_SUB, (O.LOCAL_TEE, 0), (O.BR_IF, 0), O.END]
    body += [(O.LOCAL_GET, 0)]
    return _module(["i32"], ["i32"], body)


def nested_pointer_loops(n: int) -> bytes:
    """``n`` nested loops, each entered with a pointer set and stepping it over an aligned load.

    Each loop's locals have their zero bits refined (``align.loop_zeros``),
    which reads the loop's body: refinement stops at a nesting cap, so the
    work stays linear in the size.
    """
    builder = ModuleBuilder()
    builder.memory(1)
    body: list[Instruction] = []
    for _ in range(n):
        body += [(O.I32_CONST, 64), (O.LOCAL_SET, 1), (O.LOOP, None)]
    for _ in range(n):
        body += [(O.LOCAL_GET, 1), (O.I32_LOAD, (2, 0)), (O.LOCAL_GET, 0), O.I32_ADD, (O.LOCAL_SET, 0),
                 (O.LOCAL_GET, 1), (O.I32_CONST, 4), O.I32_ADD, (O.LOCAL_TEE, 1), (O.I32_CONST, 128),
                 O.I32_LT_U, (O.BR_IF, 0), O.END]
    body += [(O.LOCAL_GET, 0)]
    return _module(["i32"], ["i32"], body, locals=["i32"], builder=builder)


def many_pointer_loops(n: int) -> bytes:
    """``64 n`` locals and ``64 n`` loops in sequence, each setting a local and stepping it over a load.

    A loop's refinement must cost the loop, not the function's locals: the
    work would otherwise grow with locals times loops.
    """
    builder = ModuleBuilder()
    builder.memory(1)
    count = 64 * n
    body: list[Instruction] = []
    for k in range(count):
        body += [(O.I32_CONST, 64), (O.LOCAL_SET, k), (O.LOOP, None), (O.LOCAL_GET, k), (O.I32_LOAD, (2, 0)),
                 O.DROP, (O.LOCAL_GET, k), (O.I32_CONST, 4), O.I32_ADD, (O.LOCAL_TEE, k), (O.I32_CONST, 72),
                 O.I32_LT_U, (O.BR_IF, 0), O.END]
    return _module([], [], body, locals=["i32"] * count, builder=builder)


def byte_local_chain(n: int) -> bytes:
    """``64 n`` locals, each a copy of the next (read before that one is set), ending in a byte load.

    The local bounds analysis carries a bound one link per pass: it must give
    up after its pass limit instead of running one pass per local.
    """
    builder = ModuleBuilder()
    builder.memory(1)
    count = 64 * n
    body: list[Instruction] = []
    for k in range(count, 1, -1):
        body += [(O.LOCAL_GET, k - 1), (O.LOCAL_SET, k)]
    body += [(O.I32_CONST, 3), (O.I32_LOAD8_U, (0, 0)), (O.LOCAL_SET, 1), (O.LOCAL_GET, count),
             (O.I32_CONST, 2), O.I32_SHL, (O.I32_LOAD, (2, 0)), O.DROP]
    return _module([], [], body, locals=["i32"] * (count + 1), builder=builder)


def signed_local_chain(n: int) -> bytes:
    """``64 n`` locals loaded from memory, each compared (signed) with the next, copied back and stored.

    Every local is a signed local (``compiler.signed``): one group joined
    link by link, all of whose loads, comparisons and stores the emitter
    then writes by their signed rules.
    """
    builder = ModuleBuilder()
    builder.memory(1)
    count = 64 * n
    body: list[Instruction] = []
    for k in range(count):
        body += [(O.I32_CONST, 4 * (k % 1024)), (O.I32_LOAD, (2, 0)), (O.LOCAL_SET, k)]
    body += [(O.BLOCK, None)]
    for k in range(count - 1):
        body += [(O.LOCAL_GET, k), (O.LOCAL_GET, k + 1), O.I32_LT_S, (O.BR_IF, 0), (O.LOCAL_GET, k + 1),
                 (O.LOCAL_SET, k), (O.I32_CONST, 8), (O.LOCAL_GET, k), (O.I32_STORE, (2, 0))]
    body += [O.END]
    return _module([], [], body, locals=["i32"] * count, builder=builder)


def huge_br_table(n: int) -> bytes:
    """One ``br_table`` of ``64 n`` entries over 8 blocks (long runs broken everywhere)."""
    body: list[Instruction] = [(O.BLOCK, None)] * 8
    body += [(O.LOCAL_GET, 0), (O.BR_TABLE, (tuple((i * 7) % 8 for i in range(64 * n)), 0))]
    for i in range(8):
        body += [O.END, (O.LOCAL_GET, 1), (O.I32_CONST, i), O.I32_ADD, (O.LOCAL_SET, 1)]
    body += [(O.LOCAL_GET, 1)]
    return _module(["i32", "i32"], ["i32"], body)


def straight_line(n: int) -> bytes:
    """``64 n`` arithmetic statements over a few locals."""
    body: list[Instruction] = []
    for i in range(64 * n):
        body += [(O.LOCAL_GET, i % 4), (O.LOCAL_GET, (i + 1) % 4), O.I32_ADD, (O.I32_CONST, i), O.I32_XOR,
                 (O.LOCAL_SET, (i + 2) % 4)]
    body += [(O.LOCAL_GET, 0)]
    return _module(["i32"], ["i32"], body, locals=["i32"] * 3)


def many_locals(n: int) -> bytes:
    """``64 n`` locals, each read and written once."""
    count = 64 * n
    body: list[Instruction] = []
    for i in range(count):
        body += [(O.LOCAL_GET, i), (O.LOCAL_GET, (i + 1) % count), O.I32_ADD, (O.LOCAL_SET, (i + 2) % count)]
    body += [(O.LOCAL_GET, 0)]
    return _module(["i32"], ["i32"], body, locals=["i32"] * (count - 1))


def many_small_blocks(n: int) -> bytes:
    """``32 n`` small blocks and loops in sequence, each with a branch (a huge flat function)."""
    body: list[Instruction] = []
    for i in range(32 * n):
        if i % 2:
            body += [(O.BLOCK, None), (O.LOCAL_GET, 0), (O.I32_CONST, i), O.I32_GT_U, (O.BR_IF, 0),
                     (O.LOCAL_GET, 1), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_SET, 1), O.END]
        else:
            body += [(O.LOOP, None), (O.LOCAL_GET, 1), (O.I32_CONST, 1), O.I32_SUB, (O.LOCAL_TEE, 1),
                     (O.LOCAL_GET, 0), O.I32_GT_U, (O.BR_IF, 0), O.END]
    body += [(O.LOCAL_GET, 1)]
    return _module(["i32", "i32"], ["i32"], body)


def if_else_chain(n: int) -> bytes:
    """An ``else if`` chain of ``16 n`` tests (each ``else`` holds the next ``if``)."""
    count = 16 * n
    body: list[Instruction] = []
    for i in range(count):
        body += [(O.LOCAL_GET, 0), (O.I32_CONST, i), O.I32_EQ, (O.IF, "i32"), (O.I32_CONST, i * 3), O.ELSE]
    body += [(O.I32_CONST, -1)]
    body += [O.END] * count
    return _module(["i32"], ["i32"], body)


def deep_select(n: int) -> bytes:
    """An expression ``16 n`` operations deep: nested ``select``s and adds on one stack."""
    count = 16 * n
    body: list[Instruction] = [(O.LOCAL_GET, 0)] * (count + 1)
    for _ in range(count):
        body += [(O.LOCAL_GET, 1), O.SELECT]
    body += [(O.LOCAL_GET, 0)] * count
    body += [O.I32_ADD] * count
    return _module(["i32", "i32"], ["i32"], body)


def deep_stack(n: int) -> bytes:
    """``16 n`` values pushed, then folded by ``16 n`` adds (a deep stack of pending expressions)."""
    count = 16 * n
    body: list[Instruction] = []
    for i in range(count):
        body += [(O.LOCAL_GET, 0), (O.I32_CONST, i), O.I32_MUL]
    body += [O.I32_ADD] * (count - 1)
    return _module(["i32"], ["i32"], body)


def returns_many(n: int) -> bytes:
    """``n`` nested blocks whose ends each return; branches to them thread the returns."""
    body: list[Instruction] = []
    for i in range(n):
        body += [(O.BLOCK, None), (O.LOCAL_GET, 0), (O.I32_CONST, i), O.I32_EQ, (O.BR_IF, 0)]
    for i in range(n):
        body += [(O.LOCAL_GET, 0), (O.BR_IF, n - 1 - i), O.END, (O.I32_CONST, i), O.RETURN]
    body += [(O.I32_CONST, -1)]
    return _module(["i32"], ["i32"], body)


def multi_value_calls(n: int) -> bytes:
    """``64 n`` calls in a chain, each passing 4 values in and 4 out (``carried_values`` at its default)."""
    builder = ModuleBuilder()
    wide = ["i32"] * 4
    callee = builder.func(wide, wide, [(O.LOCAL_GET, i) for i in (3, 2, 1, 0)])
    body: list[Instruction] = [(O.LOCAL_GET, i) for i in range(4)]
    body += [(O.CALL, callee)] * (64 * n)
    return _module(wide, wide, body, builder=builder)


SHAPES: dict[str, tuple[Shape, int]] = {  # shape, its 1x size
    "br_table_values": (br_table_values, 40),
    "nested_ifs": (nested_ifs, 625),
    "nested_if_else": (nested_if_else, 256),
    "nested_blocks_br_table": (nested_blocks_br_table, 624),  # 16x: 9,985 blocks, under nesting_depth
    "nested_blocks_table": (nested_blocks_table, 625),
    "nested_blocks_br": (nested_blocks_br, 625),
    "nested_loops": (nested_loops, 256),
    "nested_pointer_loops": (nested_pointer_loops, 256),
    "many_pointer_loops": (many_pointer_loops, 16),
    "byte_local_chain": (byte_local_chain, 16),
    "signed_local_chain": (signed_local_chain, 4),
    "huge_br_table": (huge_br_table, 256),
    "straight_line": (straight_line, 16),
    "many_locals": (many_locals, 16),
    "many_small_blocks": (many_small_blocks, 16),
    "if_else_chain": (if_else_chain, 32),
    "deep_select": (deep_select, 32),
    "deep_stack": (deep_stack, 32),
    "returns_many": (returns_many, 256),
    "multi_value_calls": (multi_value_calls, 16),
}


def measure(shape: str, n: int) -> dict[str, object]:
    """Build ``shape`` at size ``n``; decode and validate it, then compile it in each variant.

    Returns the code size, the seconds of each step and the peak memory
    growth over the whole run, or the limit that refused the module.
    """
    import resource
    import time

    import wasmpool.wasm as wasm
    from wasmpool.wasm.validator import validate

    wasm.prepare_process()  # this process compiles: it sets the recursion limit the compiler needs
    data = SHAPES[shape][0](n)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = [time.process_time()]
    try:
        module = wasm.decode(data)
        validate(module)
        times.append(time.process_time())
        for metered in (False, True):
            wasm.compile(module, metered=metered).compile_all()
            times.append(time.process_time())
    except wasm.LimitError as err:
        return {"kib": _code_kib(data), "refused": f"{err.limit}"}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
    front, plain, metered_s = (b - a for a, b in itertools.pairwise(times))
    return {"kib": _code_kib(data), "front": front, "plain": plain, "metered": metered_s, "mb": peak / 1024}


def _code_kib(data: bytes) -> float:
    """The size of the code section's function bodies (what the budget is per KiB of)."""
    import wasmpool.wasm as wasm

    unbounded = wasm.DecodeLimits(nesting_depth=10**9, br_table_size=10**9, carried_values=10**9)
    module = wasm.decode(data, unbounded)
    return sum(f.size for f in module.funcs) / 1024


def run_fresh(shape: str, n: int) -> dict[str, object]:
    """:func:`measure` in a fresh interpreter, so that each peak is its own."""
    try:
        out = subprocess.run([sys.executable, __file__, "--measure", shape, str(n)],
                             capture_output=True, text=True, check=False, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"more than {TIMEOUT} s"}
    if out.returncode:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:100]}
    result: dict[str, object] = json.loads(out.stdout)
    return result


def exponent(small: float, large: float) -> float:
    return math.log(max(large, 1e-9) / max(small, 1e-9)) / math.log(4)


def report(shape: str, base: int, scale: float) -> bool:
    """Measure one shape at each factor; print its rows; whether it met the goal.

    ms/KiB is what loading the module in one variant costs (decode, validate
    and the slower variant's compile); the exponents are of the total time
    of both variants and of the peak memory, against the code size.
    """
    rows = [run_fresh(shape, max(1, round(base * scale * f))) for f in FACTORS]
    good = True
    for factor, row in zip(FACTORS, rows, strict=True):
        label = f"{shape:24} {factor:>3}x"
        if "error" in row:
            print(f"{label}  ERROR {row['error']}")
            good = False
        elif "refused" in row:
            print(f"{label} {_f(row, 'kib'):8.1f} KiB  refused: LimitError({row['refused']})")
        else:
            kib, mb = _f(row, "kib"), _f(row, "mb")
            one = _f(row, "front") + max(_f(row, "plain"), _f(row, "metered"))
            ms_kib, mb_kib = 1000 * one / kib, mb / kib
            good &= ms_kib <= GOAL_MS_PER_KIB and mb_kib <= GOAL_MB_PER_KIB
            print(f"{label} {kib:8.1f} KiB  decode+validate {_f(row, 'front'):6.3f} s  unmetered "
                  f"{_f(row, 'plain'):6.3f} s  metered {_f(row, 'metered'):6.3f} s {mb:7.1f} MB "
                  f"{ms_kib:6.1f} ms/KiB {mb_kib:5.2f} MB/KiB")
    if all("mb" in r for r in rows):
        size = exponent(_f(rows[1], "kib"), _f(rows[2], "kib"))
        t4, t16 = (_f(r, "front") + _f(r, "plain") + _f(r, "metered") for r in rows[1:])
        te = exponent(t4, t16) / size
        me = exponent(max(_f(rows[1], "mb"), RSS_FLOOR), max(_f(rows[2], "mb"), RSS_FLOOR)) / size
        good &= te <= GOAL_EXPONENT and me <= GOAL_EXPONENT
        print(f"{shape:24} growth exponents (4x->16x, per code size): time {te:.2f}, memory {me:.2f}")
    return good


def _f(row: dict[str, object], key: str) -> float:
    value = row[key]
    assert isinstance(value, int | float)
    return float(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="run only this shape (repeatable)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size (default 1)")
    parser.add_argument("--list", action="store_true", help="list the shapes and exit")
    parser.add_argument("--measure", nargs=2, metavar=("SHAPE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure[0], int(args.measure[1]))))
        return 0
    if args.list:
        print("\n".join(SHAPES))
        return 0
    names = [n for part in args.only for n in part.split(",")] or list(SHAPES)
    print("peak memory: ru_maxrss growth over the baseline after imports, in a fresh process per size; "
          "ms/KiB: decode + validate + the slower variant's compile")
    good = all([report(name, SHAPES[name][1], args.scale) for name in names])
    print(f"verdict: {'PASS' if good else 'FAIL'} (goal: exponents <= {GOAL_EXPONENT}, "
          f"<= {GOAL_MS_PER_KIB:g} ms and {GOAL_MB_PER_KIB:g} MB per KiB of code)")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
