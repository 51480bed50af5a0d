"""Instance setup per call: microseconds per ``instantiate`` (and ``release``) of real modules.

The pool makes a fresh instance of the called module for every call, so
instantiation is a fixed cost of every call. This script measures it for the
token contract (``examples/token.wasm``, with the host ABI's imports as the
worker links them), the other examples and a few corpus and benchmark
modules: each is decoded and compiled once (as the worker's module cache
keeps it, not timed), then instantiated and released back to back, metered
with a gas limit as the pool does (``--unmetered`` for the other variant).
A sample is ``--calls`` instantiations in a row, each released at once. Three
figures per module: *cycle*, instantiate + release (the whole per-call cost
of the instance), in process CPU time per call, the best of ``--repeat``
samples (CPU time leaves out the time spent waiting for other processes, so
that a loaded machine does not favour whichever engine's samples are short
enough to fit between them); and *setup*, the part ``instantiate`` takes
(what a call waits for before its export runs): the cycle times the median
share of the wall time spent in ``instantiate``, timed call by call; and
*maker*, the milliseconds of writing out and compiling the module's
instance maker anew (``runtime.maker``), which a module compiled in the
process pays once, at its second instance.

Side by side: ``--baseline DIR`` names another engine to compare with, a
folder from which ``import wasmpool`` loads it (for an older commit: its
``build/layout`` after ``python tools/layout.py``, see bench/README.md). The
script then runs both engines in child processes, alternating round by round
so that machine noise hits both alike, and prints both figures and their
ratio per module. ``--profile NAME`` prints where the time of one module goes
(cProfile, by own time).

Run: ``python bench/engine/instance_setup.py [--baseline DIR] [--repeat 7] [--calls 2000] [--only SUBSTR]``
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

MODULES: dict[str, str] = {
    "token": "examples/token.wasm",
    "counter": "examples/counter.wasm",
    "fib (example)": "examples/fib.wasm",
    "sha256 (bench)": "bench/engine/sha256.wasm",
    "crc32 (bench)": "bench/engine/crc32.wasm",
    "c/sort.O2": "tests/corpus/c/sort.O2.wasm",
    "c/forth.O2": "tests/corpus/c/forth.O2.wasm",
    "rust/crypto": "tests/corpus/rust/crypto.wasm",
    "as/collections": "tests/corpus/assemblyscript/collections.wasm",
}
"""Name -> module file (relative to the repository): the token contract first."""

GAS_LIMIT = 10**9  # below 2**30 like real limits; instantiation is all that is charged here


def _engine() -> tuple[Any, Any]:
    import wasmpool.wasm as wasm
    from wasmpool.worker.host import Host
    wasm.prepare_process()
    return wasm, Host().imports()


def _subjects(only: str, metered: bool) -> dict[str, Any]:
    """Name -> a function making one instance of that module (released by the caller)."""
    wasm, imports = _engine()
    gas_limit = GAS_LIMIT if metered else None
    subjects: dict[str, Any] = {}
    for name, path in MODULES.items():
        if only and only not in name:
            continue
        compiled = wasm.compile(wasm.decode((REPO / path).read_bytes()), metered=metered)

        def make(compiled: Any = compiled) -> Any:
            return wasm.instantiate(compiled, imports, gas_limit=gas_limit)
        make.compiled = compiled  # type: ignore[attr-defined]  # for maker_ms
        make().release()  # warm: lazy imports, first-use state
        subjects[name] = make
    return subjects


def sample(make: Any, calls: int) -> tuple[float, float]:
    """One sample of ``calls`` instantiations in a row: (setup share of the time, CPU µs per cycle).

    The cycle is measured in this process's CPU time, which leaves out the
    time the process waits while other processes run (on a loaded machine
    most of the wall time); the share of it that ``instantiate`` takes is
    measured on the wall clock, call by call (waits land on either part in
    proportion to its length).
    """
    clock = time.perf_counter
    setup = 0.0
    cpu, start = time.process_time(), clock()
    for _ in range(calls):
        before = clock()
        instance = make()
        setup += clock() - before
        instance.release()
    wall, cpu = clock() - start, time.process_time() - cpu
    return setup / wall, cpu / calls * 1e6


def maker_ms(make: Any, repeat: int) -> float:
    """Median ms of writing out and compiling the module's instance maker (``runtime.maker``) anew.

    What the second instance of a module compiled in this process pays once
    (a module loaded from the disk cache brings the maker's code object
    along); nan for a module without a maker.
    """
    from wasmpool.wasm.runtime import maker
    from wasmpool.wasm.runtime.prepared import prepared
    prep = prepared(make.compiled)  # made: the subject was instantiated (twice, by now)
    link = prep.host_link
    seen = link.seen if link is not None else None
    if prep.maker is None or prep.maker[1] is None:
        return float("nan")
    times = []
    for _ in range(repeat):
        prep.maker_code = None
        started = time.perf_counter()
        maker._make(prep, seen)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def measure(only: str, metered: bool, repeat: int, calls: int) -> dict[str, list[float]]:
    """Name -> [µs per instantiation, µs per instantiation + release, ms per maker] over ``repeat`` samples.

    The cycle is the best sample's; the setup is that times the median share of instantiation.
    """
    subjects = _subjects(only, metered)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in subjects}
    for _ in range(repeat):
        for name, make in subjects.items():
            samples[name].append(sample(make, calls))
    best = {}
    for name, taken in samples.items():
        cycle = min(micros for _, micros in taken)
        best[name] = [cycle * statistics.median(share for share, _ in taken), cycle,
                      maker_ms(subjects[name], max(repeat, 5))]
    return best


def _child(engine_path: str | None, args: argparse.Namespace, repeat: int) -> dict[str, list[float]]:
    """One round measured in a fresh process importing the engine from ``engine_path`` (None: this one)."""
    env = dict(os.environ)
    if engine_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [engine_path, env.get("PYTHONPATH")]))
    command = [sys.executable, __file__, "--json", "--repeat", str(repeat), "--calls", str(args.calls),
               "--only", args.only]
    if args.unmetered:
        command.append("--unmetered")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the child measuring {engine_path or 'this engine'} failed:\n{done.stderr}")
    result: dict[str, list[float]] = json.loads(done.stdout)
    return result


def side_by_side(args: argparse.Namespace) -> None:
    """Alternate rounds of the baseline and this engine in child processes; print both and the ratios."""
    old: dict[str, list[float]] = {}
    new: dict[str, list[float]] = {}
    for _ in range(args.rounds):
        for engine, best in ((args.baseline, old), (None, new)):
            for name, figures in _child(engine, args, args.repeat).items():
                kept = best.setdefault(name, [float("inf")] * len(figures))
                best[name] = [min(a, b) for a, b in zip(kept, figures, strict=True)]
    variant = "unmetered" if args.unmetered else "metered"
    print(f"instance setup ({variant}), µs: best of {args.rounds} rounds x {args.repeat} samples x "
          f"{args.calls} calls; 'setup' is instantiate, 'cycle' instantiate + release; 'maker' ms to "
          f"make the module's instance maker (once per module and process)")
    header = ("module", "setup before", "after", "ratio", "cycle before", "after", "ratio",
              "maker before", "after", "ratio")
    print("".join(f"{text:<18}" if column == 0 else f"{text:>{len(text) + 2}}"
                  for column, text in enumerate(header)))
    for name in new:
        before, after = old.get(name, [float("nan")] * 3), new[name]
        print(f"{name:<18}{before[0]:>13.1f}{after[0]:>8.1f}{before[0] / after[0]:>7.2f}x"
              f"{before[1]:>14.1f}{after[1]:>8.1f}{before[1] / after[1]:>7.2f}x"
              f"{before[2]:>14.2f}{after[2]:>8.2f}{before[2] / after[2]:>7.2f}x")


def profile(name: str, metered: bool, calls: int) -> None:
    make = _subjects(name, metered)[name]
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        make().release()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--baseline", help="a folder holding another engine's wasmpool package, to compare")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds with --baseline")
    parser.add_argument("--repeat", type=int, default=7, help="samples per module (per round)")
    parser.add_argument("--calls", type=int, default=2000, help="instantiations per sample")
    parser.add_argument("--only", default="", help="modules whose name contains this")
    parser.add_argument("--unmetered", action="store_true", help="the unmetered variant (no gas limit)")
    parser.add_argument("--profile", metavar="NAME", help="cProfile one module's instantiations")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.profile, not args.unmetered, args.calls * args.repeat)
    elif args.baseline:
        side_by_side(args)
    else:
        best = measure(args.only, not args.unmetered, args.repeat, args.calls)
        if args.json:
            print(json.dumps(best))
            return
        print(f"{'module':<18}{'setup µs':>10}{'cycle µs':>10}{'maker ms':>10}")
        for name, (setup, cycle, made) in best.items():
            print(f"{name:<18}{setup:>10.1f}{cycle:>10.1f}{made:>10.2f}")


if __name__ == "__main__":
    main()
