"""Compile speed in ms per KiB of code, over the real-world corpus and the engine benchmarks.

For every module of ``tests/corpus`` (Rust, AssemblyScript, clang at each
optimization level) and of ``bench/engine``, every defined function is
compiled the way a worker compiles it (metered, canonical NaNs; ``--variant``
picks another) and the CPU time (``time.process_time``: the machine may be
shared) is split into the compiler's three steps:

- ``lower``: stack code to the register form (``compiler.lower``);
- ``emit``: the register form to Python source (``compiler.emit``, with the
  shaping passes of ``compiler.structure``);
- ``python``: CPython's ``compile()`` of that source.

Decoding and validation are not counted (they are the same work whatever
the compiler does). ``ms/KiB`` divides the sum of the three by the module's
code size (the function bodies). The last row is the median over modules.

Each tree is measured in a child process; ``--tree DIR`` (repeatable) adds
another checkout, such as an older commit in a git worktree, whose package
is imported from ``DIR/build/layout`` (build it with ``python
DIR/tools/layout.py``). The children alternate round by round (``--repeat``,
default 3) and each figure is the best of its rounds, so that before and
after are measured side by side under the same machine load::

    git worktree add --detach ../old <commit> && python ../old/tools/layout.py
    python bench/engine/compile_speed.py --tree ../old
    python bench/engine/compile_speed.py --only rust --repeat 5 --json

The goal (issue 18): a median of at most 3 ms/KiB over the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
ENGINE = ROOT / "bench" / "engine"
GOAL_MS_PER_KIB = 3.0
STEPS = ("lower", "emit", "python")
CHILD_TIMEOUT = 900  # seconds one pass over every module may take
VARIANTS: dict[str, tuple[bool, bool]] = {  # name -> (metered, canonical_nans)
    "worker": (True, True),
    "metered": (True, False),
    "canonical": (False, True),
    "plain": (False, False),
}


def modules(only: str) -> list[Path]:
    """The corpus's modules, then the engine benchmarks', whose path contains ``only``."""
    paths = sorted(CORPUS.rglob("*.wasm")) + sorted(ENGINE.glob("*.wasm"))
    return [p for p in paths if only in str(p.relative_to(ROOT))]


def measure(path: Path, metered: bool, canonical: bool) -> dict[str, float]:
    """The CPU seconds of each step compiling every function of ``path``, and its code KiB.

    Functions are compiled as ``CompiledModule.compile_all`` does (in index
    order, one entry pricer for the module); the lowering inside the source
    step (of this function, or of a callee whose entry is priced) is timed
    by wrapping ``lower_function`` and counted as ``lower``.
    """
    from wasmpool import wasm
    from wasmpool.wasm import compiler
    from wasmpool.wasm.compiler import EntryPrices, _python_code, function_source, module_view
    from wasmpool.wasm.compiler.lower import ModuleInfo

    clock = time.process_time
    lowering = [0.0]
    real = compiler.lower_function

    def timed(*args: object) -> object:
        start = clock()
        try:
            return real(*args)  # type: ignore[arg-type]
        finally:
            lowering[0] += clock() - start

    compiler.lower_function = timed  # type: ignore[assignment]
    try:
        module = wasm.decode(path.read_bytes())
        info = ModuleInfo.of(module, canonical)
        view = module_view(module)
        prepay = EntryPrices(module, info, compiler.DEFAULT_MAX_REGISTERS) if metered else None
        spent = dict.fromkeys(STEPS, 0.0)
        for defined in range(len(module.funcs)):
            index = info.num_imported + defined
            start = clock()
            source = function_source(module, index, metered, info, view, compiler.DEFAULT_MAX_REGISTERS,
                                     prepay, canonical)[0]
            emitted = clock()
            _python_code(source, index)
            spent["emit"] += emitted - start
            spent["python"] += clock() - emitted
    finally:
        compiler.lower_function = real
    spent["lower"] = lowering[0]
    spent["emit"] -= lowering[0]
    return {**spent, "kib": sum(f.size for f in module.funcs) / 1024}


def child(names: list[str], variant: str) -> dict[str, dict[str, float]]:
    """One pass over the named modules (paths relative to the repository) in this process."""
    import gc

    from wasmpool import wasm

    wasm.prepare_process()
    metered, canonical = VARIANTS[variant]
    out = {}
    for name in names:
        gc.collect()
        out[name] = measure(ROOT / name, metered, canonical)
    return out


def run_child(tree: Path | None, names: list[str], variant: str) -> dict[str, dict[str, float]]:
    """A child pass with the package of ``tree`` (None: the installed one)."""
    env = dict(os.environ)
    if tree is not None:
        layout = tree / "build" / "layout"
        if not (layout / "wasmpool").is_dir():
            raise SystemExit(f"{layout} is missing: run `python {tree}/tools/layout.py` first")
        env["PYTHONPATH"] = str(layout)
    done = subprocess.run([sys.executable, __file__, "--child", "--variant", variant, *names],
                          capture_output=True, text=True, env=env, timeout=CHILD_TIMEOUT, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"the child for {tree or 'this tree'} failed:\n{done.stderr}")
    result: dict[str, dict[str, float]] = json.loads(done.stdout)
    return result


def best(passes: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per module, the pass with the smallest total (each step's figure from that pass)."""
    out = {}
    for name in passes[0]:
        out[name] = min((p[name] for p in passes), key=lambda r: sum(r[s] for s in STEPS))
    return out


def ms_per_kib(row: dict[str, float], step: str | None = None) -> float:
    seconds = sum(row[s] for s in STEPS) if step is None else row[step]
    return 1000 * seconds / row["kib"] if row["kib"] else 0.0


def table(labels: list[str], results: list[dict[str, dict[str, float]]]) -> str:
    names = list(results[0])
    width = max(len(n) for n in names) + 2
    head = f"{'module':<{width}}{'KiB':>7}"
    for label in labels:
        head += f" | {label[:12] + ' ms/KiB':>19} {'lower':>6} {'emit':>6} {'python':>6}"
    if len(labels) > 1:
        head += f" | {'speedup':>7}"
    lines = [head, "-" * len(head)]
    medians: list[list[float]] = [[] for _ in labels]
    for name in names:
        line = f"{name:<{width}}{results[0][name]['kib']:>7.1f}"
        for k, result in enumerate(results):
            row = result[name]
            medians[k].append(ms_per_kib(row))
            line += f" | {ms_per_kib(row):>19.2f}" + "".join(f" {ms_per_kib(row, s):>6.2f}" for s in STEPS)
        if len(labels) > 1:
            line += f" | {ms_per_kib(results[0][name]) / max(ms_per_kib(results[-1][name]), 1e-9):>6.2f}x"
        lines.append(line)
    line = f"{'median':<{width}}{'':>7}"
    for values in medians:
        line += f" | {statistics.median(values):>19.2f}" + " " * 21
    if len(labels) > 1:
        line += f" | {statistics.median(medians[0]) / statistics.median(medians[-1]):>6.2f}x"
    lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", type=Path, default=[],
                        help="another checkout to measure first (its build/layout is imported)")
    parser.add_argument("--only", default="", help="only modules whose path contains this")
    parser.add_argument("--repeat", type=int, default=3, help="passes per tree (best kept)")
    parser.add_argument("--variant", choices=sorted(VARIANTS), default="worker")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("names", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.names, args.variant)))
        return 0
    names = [str(p.relative_to(ROOT)) for p in modules(args.only)]
    if not names:
        raise SystemExit("no module matches")
    trees: list[Path | None] = [t.resolve() for t in args.tree]
    trees.append(None)
    labels = [t.name if t is not None else "this tree" for t in trees]
    passes: list[list[dict[str, dict[str, float]]]] = [[] for _ in trees]
    for _ in range(args.repeat):
        for k, tree in enumerate(trees):
            passes[k].append(run_child(tree, names, args.variant))
    results = [best(p) for p in passes]
    if args.json:
        print(json.dumps(dict(zip(labels, results, strict=True)), indent=1))
    else:
        print(f"variant {args.variant}, best of {args.repeat} passes, CPU time; goal: median <= "
              f"{GOAL_MS_PER_KIB} ms/KiB")
        print(table(labels, results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
