"""The float determinism digest on wasmtime with NaN canonicalization, against the stored one.

``tests/wasm/float_digest.py`` runs every float instruction of WebAssembly
2.0 on fixed seeded inputs and hashes the outcomes; the test compares our
engine (``canonical_nans=True``) and the reference interpreter with the
digest stored in ``tests/wasm/float_digest.json``. This script checks that
stored digest against a third party: wasmtime with Cranelift's NaN
canonicalization (``Config.cranelift_nan_canonicalization``), which is what
CosmWasm-style chains run. It prints, per operation, whether wasmtime's
digest equals the stored one, whether the overall digest does, and, for the
record, how many operations and results of our engine differ from
wasmtime's canonical results, metered and unmetered, with canonical NaNs
and without them (the spec's default, where only NaN bits may differ).

wasmtime is needed by this script only, never by the tests:
``pip install wasmtime`` (or ``pip install -e '.[bench]'``).

    python bench/float_digest_wasmtime.py [--all]

``--all`` prints every operation, not only those that differ. Exit status 0
when wasmtime's digest equals the stored one, 1 when it does not.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import wasmpool.wasm as wasm  # noqa: E402
from tests.wasm import float_digest as fd  # noqa: E402

try:
    import wasmtime
except ImportError:  # pragma: no cover - depends on the environment
    wasmtime = None

WASMTIME_TRAPS: dict[str, fd.TrapCode] = {
    "INTEGER_OVERFLOW": fd.TrapCode.INTEGER_OVERFLOW,
    "BAD_CONVERSION_TO_INTEGER": fd.TrapCode.INVALID_CONVERSION,
}


def _signed(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) else value


def _wasmtime_caller(store: Any, function: Any, params: Sequence[int], result: int) -> fd.Caller:
    """An exported wasmtime function as a caller over unsigned bit patterns (wasmtime takes signed ints)."""
    def call(args: Sequence[int]) -> fd.Outcome:
        try:
            value = function(store, *(_signed(a, w) for a, w in zip(args, params, strict=True)))
        except wasmtime.Trap as trap:
            code = trap.trap_code
            return fd.Trapped(WASMTIME_TRAPS.get(code.name if code else "", fd.TrapCode.OTHER))
        return int(value) & ((1 << result) - 1)
    return call


def wasmtime_engine(data: bytes) -> Mapping[str, fd.Caller]:
    """wasmtime with Cranelift's NaN canonicalization, one instance of the module."""
    config = wasmtime.Config()
    config.cranelift_nan_canonicalization = True
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    instance = wasmtime.Instance(store, wasmtime.Module(engine, data), [])
    exports = instance.exports(store)
    callers = {}
    for op in fd.FLOAT_OPS:
        params = [fd.WIDTH[t] for t in op.params]
        callers[op.name] = _wasmtime_caller(store, exports[op.name], params, fd.WIDTH[op.result])
    return callers


Results = Mapping[str, Sequence[fd.Outcome]]


def differences(a: Results, b: Results) -> dict[str, int]:
    """Per op name, how many outcomes differ between two runs (only ops with differences)."""
    counts = {name: sum(x != y for x, y in zip(a[name], b[name], strict=True)) for name in a}
    return {name: n for name, n in counts.items() if n}


def _is_nan(outcome: fd.Outcome, result: Any) -> bool:
    return not isinstance(outcome, fd.Trapped) and result in fd.FORMATS and fd.FORMATS[result].is_nan(outcome)


def nan_only(a: Results, b: Results) -> bool:
    """True when every outcome that differs between two runs is a NaN in both (only NaN bits differ)."""
    for op in fd.FLOAT_OPS:
        for x, y in zip(a[op.name], b[op.name], strict=True):
            if x != y and not (_is_nan(x, op.result) and _is_nan(y, op.result)):
                return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="print every operation, not only those differing")
    args = parser.parse_args(argv)
    if wasmtime is None:
        print("wasmtime is not installed: pip install wasmtime", file=sys.stderr)
        return 2
    wasm.prepare_process()
    total = sum(len(fd.inputs(op)) for op in fd.FLOAT_OPS)
    print(f"{len(fd.FLOAT_OPS)} float operations, {total} inputs (seed {fd.SEED:#x}, quarter {fd.QUARTER})")

    theirs = fd.run(wasmtime_engine)
    found = fd.digest(theirs)
    stored = fd.load_expected()
    changed = set(fd.mismatches(stored, found))
    print(f"\nwasmtime (cranelift_nan_canonicalization) against {fd.DIGEST_FILE.relative_to(ROOT)}:")
    for op in fd.FLOAT_OPS:
        if args.all or op.name in changed:
            verdict = "differs" if op.name in changed else "agrees"
            print(f"  {op.name:22} {len(fd.inputs(op)):5} inputs  {verdict}")
    print(f"  {len(fd.FLOAT_OPS) - len(changed)} of {len(fd.FLOAT_OPS)} operations agree")
    print(f"  wasmtime overall {found.overall}")
    print(f"  stored overall   {stored.overall}")
    print(f"  overall digest equal: {'yes' if found.overall == stored.overall else 'NO'}")

    for canonical in (True, False):
        for metered in (False, True):
            ours = fd.run(fd.ours(metered=metered, canonical_nans=canonical))
            diff = differences(ours, theirs)
            mode = "on" if canonical else "off (the spec default)"
            print(f"\nour engine, {'metered' if metered else 'unmetered'}, canonical NaNs {mode}, "
                  "against wasmtime canonical:")
            print(f"  {len(diff)} of {len(fd.FLOAT_OPS)} operations differ, "
                  f"{sum(diff.values())} of {total} results")
            for name, n in diff.items():
                print(f"  {name:22} {n:5} results differ")
            if diff:
                only = "yes" if nan_only(ours, theirs) else "NO"
                print(f"  every difference is a NaN in both (NaN bits only): {only}")
    return 0 if found.overall == stored.overall else 1


if __name__ == "__main__":
    sys.exit(main())
