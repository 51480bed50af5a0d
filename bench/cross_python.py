"""Does another CPython compute the same results and gas? The engine's determinism checks per interpreter.

A validator may run a different CPython build than the one the tests ran
on. The engine depends on nothing but the standard library, so this script
runs its checks under every interpreter given on the command line (and the
one running it), each in a child process, and compares what they computed:

- the float determinism digest (``tests/wasm/float_digest.py``: every float
  instruction and conversion on fixed inputs), with canonical NaNs, metered
  and unmetered, against the digest stored in ``tests/wasm/float_digest.json``;
- every engine benchmark program (``bench/engine/programs.py``) at two small
  sizes, metered with canonical NaNs: its result and the gas it used, hashed.

Usage (``make layout`` first: the children import the package from
``build/layout``, since the editable install belongs to one interpreter)::

    python bench/cross_python.py /usr/bin/python3.12 ~/.pyenv/versions/3.13.0/bin/python

It prints one line per interpreter and exits 1 if any line differs from the
first or a digest differs from the stored one. Not a test: the tests run on
one interpreter and need no other.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LAYOUT = REPO / "build" / "layout"
GAS_LIMIT = 10**12  # no benchmark at these sizes comes near it
CHILD_TIMEOUT = 1800.0  # seconds one interpreter gets for all checks


def measure() -> dict[str, Any]:
    """This interpreter's figures (run in the child)."""
    sys.path[:0] = [str(LAYOUT), str(REPO)]
    import wasmpool.wasm as wasm
    from bench.engine.programs import BENCHMARKS
    from tests.wasm import float_digest as fd

    wasm.prepare_process()
    expected = fd.load_expected()
    figures: dict[str, Any] = {"python": sys.version.split()[0]}
    for metered in (False, True):
        found = fd.digest(fd.run(fd.ours(metered=metered, canonical_nans=True)))
        name = "metered" if metered else "unmetered"
        figures[f"float digest, {name}"] = "stored" if found.overall == expected.overall else \
            f"differs in {', '.join(fd.mismatches(expected, found))}"
    rows = []
    for bench in BENCHMARKS:
        compiled = wasm.compile(wasm.decode(bench.path.read_bytes()), metered=True, canonical_nans=True)
        for n in (bench.quick_size, 3 * bench.quick_size + 1):
            instance = wasm.instantiate(compiled, gas_limit=GAS_LIMIT, canonical_nans=True)
            rows.append(f"{bench.name} {n} {instance.exports['run'](n)} {instance.gas_used}")
    digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    figures["benchmarks"] = f"{len(rows)} runs, sha256 {digest}"
    return figures


def child(python: str) -> dict[str, Any]:
    """The figures of interpreter ``python`` (an error entry when it cannot run the checks)."""
    done = subprocess.run([python, __file__, "--child"], capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT, cwd=REPO)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"python": python, "error": last}
    figures: dict[str, Any] = json.loads(done.stdout)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pythons", nargs="*", help="other interpreters to compare with this one")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure()))
        return 0
    if not LAYOUT.is_dir():
        print("build/layout is missing: run `make layout` first")
        return 2
    results = [child(python) for python in [sys.executable, *args.pythons]]
    reference = {k: v for k, v in results[0].items() if k != "python"}
    differ = unable = False
    for figures in results:
        print("  ".join(f"{name}: {value}" for name, value in figures.items()))
        comparable = {k: v for k, v in figures.items() if k != "python"}
        unable |= "error" in comparable
        differ |= "error" not in comparable and (
            comparable != reference or any(str(v).startswith("differs") for v in comparable.values()))
    print("DIFFERENT" if differ else "the same on every interpreter that could run the checks"
          if unable else "the same on every interpreter")
    return 1 if differ or unable else 0


if __name__ == "__main__":
    sys.exit(main())
