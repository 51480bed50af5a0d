"""Decoder throughput: decode a large clang-built module N times and print MB/s.

The module, ``bench/decode/big.wasm`` (about 1.9 MB, 3000 functions), is
built by ``bench/decode/build.sh`` from C that ``bench/decode/gen_big.py``
generates. Run from the repository root:

    .venv/bin/python bench/bench_decode.py [--repeat N] [--validate] [MODULE]

``decode`` leaves CPython's cyclic garbage collector alone (a library call
changes no process-wide state); decoding keeps one tuple per instruction,
so the collector's passes over the growing heap cost time. A process that
decodes large modules may pause it around the call; ``--collector-paused``
measures that choice beside the default.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from wasmpool.wasm import decode  # noqa: E402  (after the path set-up, so the script runs from anywhere)

DEFAULT_MODULE = Path(__file__).resolve().parent / "decode" / "big.wasm"


def measure(data: bytes, repeat: int, validate: bool, paused: bool = False) -> list[float]:
    """Seconds per decode, one entry per run; ``paused``: the collector is off during each decode."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        if paused:
            gc.disable()
        try:
            decode(data, validate=validate)
        finally:
            gc.enable()
        times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?", type=Path, default=DEFAULT_MODULE)
    parser.add_argument("--repeat", "-n", type=int, default=5, help="decodes to time (default 5)")
    parser.add_argument("--validate", action="store_true", help="also run the validator")
    parser.add_argument("--collector-paused", action="store_true",
                        help="pause the cyclic garbage collector during each decode (the caller's choice)")
    args = parser.parse_args(argv)
    data = args.module.read_bytes()
    module = decode(data, validate=False)
    instrs = sum(len(f.body) for f in module.funcs)
    times = measure(data, args.repeat, args.validate, args.collector_paused)
    best, mean = min(times), sum(times) / len(times)
    mb = len(data) / 1e6
    what = "decode+validate" if args.validate else "decode"
    if args.collector_paused:
        what += " (collector paused)"
    print(f"{args.module.name}: {mb:.2f} MB, {len(module.funcs)} functions, {instrs} instructions")
    print(f"{what} x{args.repeat}: best {best:.3f} s ({mb / best:.2f} MB/s), mean {mean:.3f} s "
          f"({mb / mean:.2f} MB/s), {instrs / best / 1e6:.2f} M instructions/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
