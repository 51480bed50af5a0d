"""Long differential runs: generated programs on our engine, the reference interpreter and wasmtime.

The test suite (``tests/wasm/test_differential.py``) compares the engine with
the reference on a few hundred generated modules; this script does the same at
scale and adds wasmtime (``pip install wasmtime``) as an independent third
opinion. Two phases:

* ``--expressions N``: modules of ``--per-module`` functions from the
  expression profile (numeric trees mixed with every other form), until N
  functions have run;
* ``--modules M``: M modules from the control-flow profile.

Every module runs on four paths, each on one instance, making the same
calls in order: ``engine`` (unmetered), ``engine-metered``, ``reference`` and
``wasmtime``. The engine paths must agree with the reference exactly (results
bit for bit or the same trap kind, then the same memory and globals); from
the first call where two different NaNs met in a float instruction on, the
spec allows other NaN bits and so other outcomes, and those calls are only
counted. Against wasmtime, whose NaN choices are its own, outcomes must be
equal until the reference first makes a NaN whose sign and payload the spec
leaves open (any NaN out of float arithmetic); later differences are counted
as information, not mismatches. Traps are compared by kind (wasmtime's table-out-of-bounds on
``call_indirect`` is the spec's "undefined element").

``--canonical``: every path runs with canonical NaNs (the engine's and the
reference's ``canonical_nans=True``, wasmtime's
``Config.cranelift_nan_canonicalization``), and nothing is left open: every
call's results, NaN bits included, memory and globals must be identical on all
four paths. The phases then use the NaN-rich profiles (``nans``,
``control-nans`` of ``tests.wasm.gen``): NaN constants and arguments with
payloads and signs, NaNs made from numbers (0*inf, inf-inf, 0/0, sqrt of a
negative), moved by ``neg``, ``abs``, ``copysign``, ``reinterpret``,
promotion and demotion, through locals, globals, memory, ``select`` and calls,
which is where the compiler leaves out checks (``compiler/nans.py``).

``--grow``: the phases use the growing variants of their profiles
(``expressions-grow``, ``control-grow``, ``nans-grow``, ``control-nans-grow``):
``memory.grow`` (which also fails, under the memory's declared maximum),
``memory.size``, accesses near the end of memory and in grown pages, and
accesses after calls (direct, chained, through the table) to functions that
grow memory -- the calls after which compiled code must bind its views of
memory again (``compiler/growth.py``). Memory state after each call (its
size included) is compared on every path, wasmtime's too.

``--words``: the phases use the word variants of their profiles
(``expressions-words``, ``control-words``, ``nans-words``,
``control-nans-words``, see ``tests.wasm.gen.functions.with_words``): i32
locals loaded from memory, copied, compared signed and stored back -- the
locals the compiler holds as signed ints (``compiler/signed.py``) -- and
sometimes read as numbers, which rules them out of that form.

``--pointers``: the phases use the pointer variants of their profiles
(``expressions-pointers``, ``control-pointers``, ...; see
``tests.wasm.gen.functions.with_pointers``): aligned i32 locals stepped up
and down through memory in loops (past ``2**32``, across ``2**31``, below 0),
loaded and stored through with all sorts of offsets -- the locals the
compiler holds as view indexes inside loops (``compiler/scaled.py``).

Every mismatch is printed with its reproducer: the seed, the profile and
function count for ``tests.wasm.gen.modules.generate_module``, the smallest
prefix of the module (its first k functions) that still mismatches, and the
``.wasm``, a disassembly and the engine's Python for it written to ``--out``.

    python bench/differential.py --expressions 100000 --modules 1000 --seed 1
    python bench/differential.py --canonical --expressions 20000 --modules 500 --seed 1
    python bench/differential.py --grow --expressions 20000 --modules 3000 --minutes 4
    python bench/differential.py --words --expressions 20000 --modules 3000 --minutes 4
    python bench/differential.py --pointers --expressions 20000 --modules 3000 --minutes 4
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import wasmpool.wasm as wasm  # noqa: E402
from tests.wasm.gen.compare import (  # noqa: E402
    CANONICAL_PATHS,
    ENGINE_PATHS,
    PATHS,
    Mismatch,
    Outcome,
    Run,
    diff_runs,
    exact_calls,
    run_reference,
)
from tests.wasm.gen.modules import GeneratedModule, generate_module  # noqa: E402
from wasmpool.wasm import dump  # noqa: E402
from wasmpool.wasm.compiler import render_python  # noqa: E402
from wasmpool.wasm.types import ValType  # noqa: E402

WIDTH = {ValType.I32: 32, ValType.I64: 64, ValType.F32: 32, ValType.F64: 64}
_WASMTIME_TRAPS = {
    "STACK_OVERFLOW": "STACK_EXHAUSTED",
    "MEMORY_OUT_OF_BOUNDS": "OUT_OF_BOUNDS_MEMORY",
    "TABLE_OUT_OF_BOUNDS": "UNDEFINED_ELEMENT",
    "INDIRECT_CALL_TO_NULL": "UNINITIALIZED_ELEMENT",
    "BAD_SIGNATURE": "INDIRECT_CALL_TYPE_MISMATCH",
    "INTEGER_OVERFLOW": "INTEGER_OVERFLOW",
    "INTEGER_DIVISION_BY_ZERO": "INTEGER_DIVIDE_BY_ZERO",
    "BAD_CONVERSION_TO_INTEGER": "INVALID_CONVERSION",
    "UNREACHABLE": "UNREACHABLE",
}


# ---------------------------------------------------------------- wasmtime


def _signed(bits: int, width: int) -> int:
    return bits - (1 << width) if bits >> (width - 1) else bits


def run_wasmtime(module: wasm.Module, generated: GeneratedModule, canonical: bool = False) -> Run:
    """Wasmtime's run, through the module's bit-level wrappers ``w{i}``/``gg{i}`` (exact NaN bits).

    ``canonical``: with Cranelift's NaN canonicalization (every NaN float
    arithmetic makes is the positive canonical NaN).
    """
    import wasmtime

    config = wasmtime.Config()
    config.cranelift_opt_level = "none"  # compiles faster; what it computes is the same
    config.cranelift_nan_canonicalization = canonical
    store = wasmtime.Store(wasmtime.Engine(config))
    try:
        instance = wasmtime.Instance(store, wasmtime.Module(store.engine, generated.wasm), [])
    except wasmtime.Trap as trap:
        return Run(_wasmtime_trap(trap), ())
    exports = instance.exports(store)
    memory = exports["mem"]
    types = module.func_types
    global_types = module.global_types
    getters = [exports[f"gg{i}"] for i in range(len(global_types))]

    def state() -> int:
        data = ctypes.string_at(memory.data_ptr(store), memory.data_len(store))
        values = [g(store) & ((1 << WIDTH[t.valtype]) - 1)
                  for g, t in zip(getters, global_types, strict=True)]
        return zlib.crc32(bytes(data) + repr(values).encode())

    outcomes = []
    for call in generated.calls:
        index = int(call.export[1:])
        ftype = types[index]
        args = [_signed(a, WIDTH[t]) for a, t in zip(call.args, ftype.params, strict=True)]
        try:
            raw = exports[f"w{index}"](store, *args)
            values = [] if raw is None else list(raw) if isinstance(raw, tuple | list) else [raw]
            results: tuple[Any, ...] | None = tuple(
                v & ((1 << WIDTH[t]) - 1) for v, t in zip(values, ftype.results, strict=True))
            trap = None
        except wasmtime.Trap as exc:
            results, trap = None, _wasmtime_trap(exc)
        outcomes.append(Outcome(results, trap, state()))
    return Run(None, tuple(outcomes))


def _wasmtime_trap(trap: Any) -> str:
    code = trap.trap_code
    return _WASMTIME_TRAPS.get(code.name, code.name) if code is not None else f"wasmtime: {trap.message}"


def _normal_trap(kind: str | None) -> str | None:
    """Trap kinds as wasmtime can tell them apart (a table bounds trap is one kind there)."""
    return "UNDEFINED_ELEMENT" if kind == "OUT_OF_BOUNDS_TABLE" else kind


def diff_wasmtime(expected: Run, actual: Run, generated: GeneratedModule,
                  canonical: bool = False) -> tuple[list[Mismatch], int]:
    """Mismatches against wasmtime, and the number of calls compared exactly.

    A call must agree exactly when both runs start it from the same state and
    the reference made no NaN in it whose sign and payload the spec leaves
    open (wasmtime's NaN choices are its own); traps are compared by kind.
    ``canonical``: both sides canonicalize, nothing is open, every call that
    starts from the same state must agree exactly.
    """
    if expected.error or actual.error:
        same = _normal_trap(expected.error) == _normal_trap(actual.error)
        return ([] if same else [Mismatch("wasmtime", None, str(expected.error), str(actual.error))]), 0
    exact = exact_calls(expected, actual,
                        frozenset() if canonical else expected.nan_made | expected.nan_choices)
    found = []
    for i, (want, got) in enumerate(zip(expected.outcomes, actual.outcomes, strict=True)):
        if not exact[i] or want == got:
            continue
        if want.trap and _normal_trap(want.trap) == _normal_trap(got.trap) and want.state == got.state:
            continue
        call = generated.calls[i]
        found.append(Mismatch("wasmtime", i, f"{call.export}{call.args} -> {want}", str(got)))
    return found, sum(exact)


# ---------------------------------------------------------------- one module


@dataclass
class Tally:
    """Counts over the whole run."""

    modules: int = 0
    functions: int = 0
    calls: int = 0
    traps: int = 0
    nan_results: int = 0  # float results of the reference's calls that were NaNs
    exact: Counter[str] = field(default_factory=Counter)  # per path: calls compared bit for bit
    mismatches: Counter[str] = field(default_factory=Counter)
    reports: list[str] = field(default_factory=list)


def check_module(generated: GeneratedModule, paths: Sequence[str], use_wasmtime: bool,
                 canonical: bool = False) -> tuple[Run, list[Mismatch], Counter[str]]:
    """Run one module on every path; the reference's run, the mismatches, the exactly compared calls."""
    module = wasm.decode(generated.wasm)
    exact: Counter[str] = Counter()
    expected = run_reference(module, generated, canonical)
    table = CANONICAL_PATHS if canonical else PATHS
    found: list[Mismatch] = []
    for path in paths:
        actual = table[path](module, generated)
        found += diff_runs(path, expected, actual, generated)
        if not actual.error:
            exact[path] += sum(exact_calls(expected, actual, expected.nan_choices))
    if use_wasmtime:
        theirs = run_wasmtime(module, generated, canonical)
        more, exact["wasmtime"] = diff_wasmtime(expected, theirs, generated, canonical)
        found += more
    return expected, found, exact


_NAN_TESTS: dict[ValType, Callable[[int], bool]] = {
    ValType.F32: lambda bits: bits & 0x7FFF_FFFF > 0x7F80_0000,
    ValType.F64: lambda bits: bits & 0x7FFF_FFFF_FFFF_FFFF > 0x7FF0_0000_0000_0000,
}


def nan_results(module: wasm.Module, generated: GeneratedModule, run: Run) -> int:
    """How many float results of ``run``'s calls are NaNs (how NaN-rich the generated code is)."""
    count = 0
    for call, outcome in zip(generated.calls, run.outcomes, strict=False):
        types = module.func_types[int(call.export[1:])].results
        for vtype, bits in zip(types, outcome.results or (), strict=False):
            test = _NAN_TESTS.get(vtype)
            count += bool(test and test(bits))
    return count


def smallest_prefix(generated: GeneratedModule, paths: Sequence[str], use_wasmtime: bool,
                    make: Callable[[int], GeneratedModule], canonical: bool = False) -> GeneratedModule:
    """The module of the fewest leading functions that still mismatches (else the module itself)."""
    for count in range(1, generated.functions):
        smaller = make(count)
        if check_module(smaller, paths, use_wasmtime, canonical)[1]:
            return smaller
    return generated


def report(generated: GeneratedModule, found: list[Mismatch], out: Path, paths: Sequence[str],
           use_wasmtime: bool, per_module: int, canonical: bool = False) -> str:
    """Write the reproducer files; the text to print."""
    def make(count: int) -> GeneratedModule:
        return generate_module(generated.seed, generated.profile, count, bit_wrappers=use_wasmtime)

    small = smallest_prefix(generated, paths, use_wasmtime, make, canonical)
    small_found = check_module(small, paths, use_wasmtime, canonical)[1] or found
    stem = out / f"{generated.profile}-{generated.seed}-{small.functions}"
    out.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".wasm").write_bytes(small.wasm)
    module = wasm.decode(small.wasm)
    text = [f"generate_module({small.seed}, {small.profile!r}, {small.functions}, "
            f"bit_wrappers={use_wasmtime}) (from {generated.functions} functions)"
            + (", canonical NaNs" if canonical else "")]
    text += [f"  {m}" for m in small_found[:6]]
    lines = dump.disassemble(small.wasm, module)
    python = []
    for index in range(len(module.funcs)):
        try:
            python.append(render_python(module, index, canonical_nans=canonical))
        except Exception as exc:  # the mismatch may be that it does not compile
            python.append(f"# function {index}: {type(exc).__name__}: {exc}")
    stem.with_suffix(".dis.txt").write_text("\n".join(lines) + "\n")
    stem.with_suffix(".py.txt").write_text("\n\n".join(python) + "\n")
    text.append(f"  files: {stem}.wasm, .dis.txt, .py.txt")
    return "\n".join(text)


def run_phase(tally: Tally, profile: str, modules: int, per_module: int, seed: int, args: argparse.Namespace,
              deadline: float) -> None:
    paths = ENGINE_PATHS
    for k in range(modules):
        if time.monotonic() > deadline:
            print(f"time is up after {k} {profile} modules", flush=True)
            return
        module_seed = seed * 1_000_003 + k
        generated = generate_module(module_seed, profile, per_module, bit_wrappers=args.wasmtime)
        expected, found, exact = check_module(generated, paths, args.wasmtime, args.canonical)
        tally.modules += 1
        tally.functions += generated.functions
        tally.calls += len(generated.calls)
        tally.exact.update(exact)
        tally.traps += sum(1 for o in expected.outcomes if o.trap)
        tally.nan_results += nan_results(wasm.decode(generated.wasm), generated, expected)
        if found:
            for m in found:
                tally.mismatches[m.path] += 1
            text = report(generated, found, Path(args.out), paths, args.wasmtime, per_module, args.canonical)
            tally.reports.append(text)
            print(f"MISMATCH in {profile} module {module_seed}:\n{text}", flush=True)
        if (k + 1) % args.progress == 0:
            print(f"  {profile}: {k + 1}/{modules} modules, {summary(tally)}", flush=True)


def summary(tally: Tally) -> str:
    mism = ", ".join(f"{p} {n}" for p, n in sorted(tally.mismatches.items())) or "none"
    exact = ", ".join(f"{p} {n}" for p, n in sorted(tally.exact.items()))
    return (f"{tally.functions} functions, {tally.calls} calls ({tally.traps} trap on the reference, "
            f"{tally.nan_results} NaN results); "
            f"compared exactly: {exact}; mismatches: {mism}")


def _deadline(args: argparse.Namespace) -> float:
    """When a phase starting now must stop: ``--minutes`` is each phase's time, not the whole run's."""
    return time.monotonic() + args.minutes * 60 if args.minutes else float("inf")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the differential phases and print the counts; 1 if anything mismatched."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--expressions", type=int, default=1000, help="functions of the expression phase")
    parser.add_argument("--modules", type=int, default=100, help="modules of the control-flow phase")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-module", type=int, default=50, help="functions per expression-phase module")
    parser.add_argument("--control-functions", type=int, default=5, help="functions per control module")
    parser.add_argument("--minutes", type=float, default=None, help="stop each phase after this many minutes")
    parser.add_argument("--no-wasmtime", dest="wasmtime", action="store_false", help="skip wasmtime")
    parser.add_argument("--canonical", action="store_true",
                        help="canonical NaNs everywhere, NaN-rich programs, all results compared bit for bit")
    parser.add_argument("--grow", action="store_true",
                        help="programs that grow memory (the profiles' -grow variants)")
    parser.add_argument("--words", action="store_true",
                        help="programs with signed word locals (the profiles' -words variants)")
    parser.add_argument("--pointers", action="store_true",
                        help="programs stepping aligned pointers in loops (the profiles' -pointers variants)")
    parser.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "wasmpool-differential"),
                        help="where reproducers are written (default: a directory in the system temp dir)")
    parser.add_argument("--progress", type=int, default=50, help="print counts every N modules")
    args = parser.parse_args(argv)
    wasm.prepare_process()  # this process runs the engine and the reference: it sets the recursion limit
    if args.wasmtime:
        try:
            import wasmtime  # noqa: F401
        except ImportError:
            parser.error("wasmtime is not installed (pip install wasmtime), or pass --no-wasmtime")
    start = time.monotonic()
    tally = Tally()
    expression_modules = -(-args.expressions // args.per_module)
    expressions, control = ("nans", "control-nans") if args.canonical else ("expressions", "control")
    variants = [name for name in ("grow", "words", "pointers") if getattr(args, name)]
    if len(variants) > 1:
        parser.error(f"--{' and --'.join(variants)} pick different profiles: use one of them")
    if variants:
        expressions, control = f"{expressions}-{variants[0]}", f"{control}-{variants[0]}"
    run_phase(tally, expressions, expression_modules, args.per_module, args.seed, args, _deadline(args))
    print(f"{expressions} phase done: {summary(tally)}", flush=True)
    run_phase(tally, control, args.modules, args.control_functions, args.seed + 1, args, _deadline(args))
    print(f"total: {tally.modules} modules, {summary(tally)}, {time.monotonic() - start:.0f} s")
    return 1 if tally.mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
