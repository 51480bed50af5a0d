"""Instance setup per call: microseconds per ``instantiate`` (and ``release``) of real modules.

The pool makes a fresh instance of the called module for every call, so
instantiation is a fixed cost of every call. This script measures it for the
token contract (``examples/token.wasm``, with the host ABI's imports as the
worker links them), the other examples and a few corpus and benchmark
modules: each is decoded and compiled once (as the worker's module cache
keeps it, not timed), then instantiated and released back to back, metered
with a gas limit as the pool does (``--unmetered`` for the other variant).
A sample is the mean over ``--calls`` instantiations; the figure is the best
of ``--repeat`` samples.

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
    """Name -> a function making and releasing one instance of that module."""
    wasm, imports = _engine()
    gas_limit = GAS_LIMIT if metered else None
    subjects: dict[str, Any] = {}
    for name, path in MODULES.items():
        if only and only not in name:
            continue
        compiled = wasm.compile(wasm.decode((REPO / path).read_bytes()), metered=metered)

        def once(compiled: Any = compiled) -> None:
            wasm.instantiate(compiled, imports, gas_limit=gas_limit).release()
        once()  # warm: lazy imports, first-use state
        subjects[name] = once
    return subjects


def sample(once: Any, calls: int) -> float:
    """Microseconds per call of ``once`` over ``calls`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(calls):
        once()
    return (time.perf_counter() - start) / calls * 1e6


def measure(only: str, metered: bool, repeat: int, calls: int) -> dict[str, float]:
    """Name -> best µs per instantiation over ``repeat`` samples, in this process."""
    subjects = _subjects(only, metered)
    best = {name: float("inf") for name in subjects}
    for _ in range(repeat):
        for name, once in subjects.items():
            best[name] = min(best[name], sample(once, calls))
    return best


def _child(engine_path: str | None, args: argparse.Namespace, repeat: int) -> dict[str, float]:
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
    result: dict[str, float] = json.loads(done.stdout)
    return result


def side_by_side(args: argparse.Namespace) -> None:
    """Alternate rounds of the baseline and this engine in child processes; print both and the ratio."""
    old: dict[str, float] = {}
    new: dict[str, float] = {}
    for _ in range(args.rounds):
        for engine, best in ((args.baseline, old), (None, new)):
            for name, micros in _child(engine, args, args.repeat).items():
                best[name] = min(best.get(name, float("inf")), micros)
    variant = "unmetered" if args.unmetered else "metered"
    print(f"instance setup, µs per instantiate + release ({variant}), best of "
          f"{args.rounds} rounds x {args.repeat} samples x {args.calls} calls")
    print(f"{'module':<18}{'baseline':>10}{'this':>10}{'ratio':>8}")
    for name in new:
        before, after = old.get(name, float("nan")), new[name]
        print(f"{name:<18}{before:>10.1f}{after:>10.1f}{before / after:>7.2f}x")


def profile(name: str, metered: bool, calls: int) -> None:
    once = _subjects(name, metered)[name]
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        once()
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
        print(f"{'module':<18}{'µs':>8}")
        for name, micros in best.items():
            print(f"{name:<18}{micros:>8.1f}")


if __name__ == "__main__":
    main()
