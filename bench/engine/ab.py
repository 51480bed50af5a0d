"""Two source trees of the engine side by side: the time of each benchmark in both, and their ratio.

An engine change is measured against the tree it changes (a ``git
worktree`` of the commit before it), in one run: each tree gets a child
process that imports its own ``wasmpool``/``worker`` packages and loads the
benchmarks once; the parent then asks the two children for samples in
turn (A, B, A, B, ...), so that machine noise hits both alike. A sample is
the time per call over at least 50 ms of back-to-back calls (as in
``wasmpool bench``, but in CPU time: other processes' load is not
counted); the figure is the fastest sample (on a shared machine the least
disturbed one; ``--median`` for the median). The children
must agree on every checksum, or the run stops.

    git worktree add /tmp/base HEAD
    python bench/engine/ab.py /tmp/base . [--only sort,interp] [--engines wasmpool,metered] [--rounds 9]

prints, per benchmark and engine, the median time in each tree and the
ratio new/base (below 1: the new tree is faster).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import json, sys, time
import worker.wasm
sys.modules["wasmpool.wasm"] = worker.wasm  # this tree's engine, not the installed one
worker.wasm.prepare_process()
from bench.engine.programs import BENCHMARKS
from bench.engine.runners import CanonicalEngine, MeteredEngine, WasmpoolEngine
engines = {e.name: e for e in (WasmpoolEngine(), MeteredEngine(), CanonicalEngine())}
benches = {b.name: b for b in BENCHMARKS}
loaded = {}
for line in sys.stdin:
    bench, engine = line.split()
    key = (bench, engine)
    if key not in loaded:
        loaded[key] = engines[engine].load(benches[bench]).run
    run, n = loaded[key], benches[bench].size
    calls, start = 0, time.process_time()
    while True:
        checksum = run(n)
        calls += 1
        elapsed = time.process_time() - start
        if elapsed >= 0.05:
            break
    print(json.dumps([elapsed / calls, checksum]), flush=True)
"""


class _Tree:
    """A child process running one tree's engine."""

    def __init__(self, root: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(root))
        self.proc = subprocess.Popen([sys.executable, "-c", _CHILD], cwd=root, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def sample(self, bench: str, engine: str) -> tuple[float, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{bench} {engine}\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the child for {bench} {engine} ended")
        seconds, checksum = json.loads(line)
        return seconds, checksum

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def compare(base: Path, new: Path, benches: list[str], engines: list[str], rounds: int,
            median: bool = False) -> list[tuple[str, ...]]:
    """Rows (bench, engine, base time, new time, new/base) measured in alternation."""
    pick = statistics.median if median else min
    trees = _Tree(base), _Tree(new)
    rows = []
    try:
        for bench in benches:
            for engine in engines:
                times: tuple[list[float], list[float]] = ([], [])
                for r in range(rounds):
                    order = (0, 1) if r % 2 == 0 else (1, 0)
                    checks = {}
                    for i in order:
                        seconds, checks[i] = trees[i].sample(bench, engine)
                        times[i].append(seconds)
                    if checks[0] != checks[1]:
                        raise RuntimeError(f"{bench} {engine}: checksums differ: {checks}")
                a, b = pick(times[0]), pick(times[1])
                rows.append((bench, engine, f"{a * 1e3:.2f} ms", f"{b * 1e3:.2f} ms", f"{b / a:.3f}"))
                print("  ".join(f"{c:>12}" for c in rows[-1]), flush=True)
    finally:
        for tree in trees:
            tree.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--only", default="fib,sha256,mandelbrot_f32,mandelbrot_f64,crc32,sort,matmul,interp")
    parser.add_argument("--engines", default="wasmpool,metered")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--median", action="store_true", help="the median sample, not the fastest")
    args = parser.parse_args(argv)
    print("  ".join(f"{c:>12}" for c in ("benchmark", "engine", "base", "new", "new/base")))
    compare(args.base.resolve(), args.new.resolve(), args.only.split(","), args.engines.split(","),
            args.rounds, args.median)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
