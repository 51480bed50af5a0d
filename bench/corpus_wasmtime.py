"""The corpus (``tests/corpus``) on our engine and on wasmtime, call by call.

Runs ``tests/wasm/test_corpus.py`` with every corpus instance doubled: each
export call and memory write goes to our engine and to a wasmtime instance of
the same module, and after every call the two must agree on the result (or
both trap) and on the whole linear memory (compared by digest). The tests'
own checks against the independently computed values run as usual, so a
failing case shows whether the engine, wasmtime or the expectation is off.

By default a NaN's sign and payload may differ (the spec leaves them open):
float results compare as "a NaN", and memory that differs only in NaN words
is counted, not reported. ``--canonical`` runs our engine with
``canonical_nans=True`` and wasmtime with Cranelift's NaN canonicalization;
then nothing is open: float results compare bit for bit, NaNs included, and
memory must be identical after every call.

wasmtime is a cross-check for this script only, never a test dependency:
``pip install wasmtime`` (or ``pip install -e '.[bench]'``). Pytest options
after ``--`` narrow the run, e.g. ``-k "rust and unmetered"``.

    python bench/corpus_wasmtime.py [--canonical] [-- PYTEST_ARGS...]
"""

from __future__ import annotations

import functools
import hashlib
import math
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

import wasmpool.wasm as wasm  # noqa: E402
from tests.wasm import test_corpus  # noqa: E402

try:
    import wasmtime
except ImportError:  # pragma: no cover - depends on the environment
    wasmtime = None

STATS: Counter[str] = Counter()
DISAGREEMENTS: list[str] = []
CANONICAL = False  # set by --canonical: both sides canonicalize NaNs, and NaN bits are compared too


def _canonical(value: Any) -> Any:
    """Results as comparable values: floats by their bits (any NaN as one unless CANONICAL), tuples."""
    if isinstance(value, list | tuple):
        return tuple(_canonical(v) for v in value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) and not CANONICAL else struct.pack("<d", value)
    return value


def _argument(value: Any, kind: Any) -> Any:
    """A public argument of our engine as wasmtime takes it: signed integers, floats for floats."""
    name = getattr(kind, "name", str(kind)).lower()
    if name in ("f32", "f64"):
        return float(value)
    if name not in ("i32", "i64") or not isinstance(value, int):
        return value
    bits = 32 if name == "i32" else 64
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _only_nans_differ(a: bytes, b: bytes) -> bool:
    """True when every aligned word where a and b differ holds a NaN (f64, else f32) in both."""
    for start in range(0, min(len(a), len(b)), 4096):
        if a[start:start + 4096] == b[start:start + 4096]:
            continue
        for at in range(start, start + 4096, 4):
            if a[at:at + 4] == b[at:at + 4]:
                continue
            word = at - at % 8
            if not (_is_nan(a[word:word + 8], 8) and _is_nan(b[word:word + 8], 8)) and not (
                    _is_nan(a[at:at + 4], 4) and _is_nan(b[at:at + 4], 4)):
                return False
    return len(a) == len(b)


def _is_nan(word: bytes, size: int) -> bool:
    return len(word) == size and math.isnan(struct.unpack("<d" if size == 8 else "<f", word)[0])


class _Twin:
    """Our engine's instance and a wasmtime instance of the same module, driven together."""

    def __init__(self, relpath: str, module_bytes: bytes) -> None:
        self.relpath = relpath
        config = wasmtime.Config()
        config.cranelift_nan_canonicalization = CANONICAL
        engine = wasmtime.Engine(config)
        self.store = wasmtime.Store(engine)
        self.instance = wasmtime.Instance(self.store, wasmtime.Module(engine, module_bytes), [])
        self.exports = self.instance.exports(self.store)
        self.memory = self.exports["memory"]

    def write(self, addr: int, data: bytes) -> None:
        self.memory.write(self.store, data, addr)

    def digest(self) -> bytes:
        return hashlib.sha256(self.memory.read(self.store, 0, self.memory.data_len(self.store))).digest()


class _TwinMemory:
    def __init__(self, ours: Any, twin: _Twin) -> None:
        self.ours, self.twin = ours, twin

    def __getattr__(self, name: str) -> Any:  # size and the rest: our engine's, compared after each call
        return getattr(self.ours, name)

    def write(self, addr: int, data: bytes) -> None:
        self.ours.write(addr, data)
        self.twin.write(addr, bytes(data))

    def read(self, addr: int, size: int) -> bytes:
        return bytes(self.ours.read(addr, size))


class _TwinExport:
    def __init__(self, name: str, ours: Any, twin: _Twin) -> None:
        self.name, self.ours, self.twin = name, ours, twin
        self.type = ours.type

    def __call__(self, *args: Any) -> Any:
        STATS["calls"] += 1
        theirs_args = [_argument(a, t) for a, t in zip(args, self.type.params, strict=True)]
        start = time.perf_counter()
        try:
            theirs: Any = self.twin.exports[self.name](self.twin.store, *theirs_args)
        except wasmtime.Trap as exc:
            theirs = ("trap", str(exc).splitlines()[0])
        except wasmtime.WasmtimeError as exc:
            theirs = ("trap", str(exc).splitlines()[0])
        STATS["wasmtime seconds"] += time.perf_counter() - start
        start = time.perf_counter()
        try:
            ours = self.ours(*args)
        except wasm.Trap as exc:
            STATS["engine seconds"] += time.perf_counter() - start
            self._compare(args, ("trap", str(exc)), theirs)
            raise
        STATS["engine seconds"] += time.perf_counter() - start
        self._compare(args, ours, theirs)
        return ours

    def _compare(self, args: tuple[Any, ...], ours: Any, theirs: Any) -> None:
        where = f"{self.twin.relpath}: {self.name}{args}"
        ours_trap = isinstance(ours, tuple) and ours[:1] == ("trap",)
        theirs_trap = isinstance(theirs, tuple) and theirs[:1] == ("trap",)
        if ours_trap or theirs_trap:
            if ours_trap != theirs_trap:
                DISAGREEMENTS.append(f"{where}: engine {ours!r}, wasmtime {theirs!r}")
            return
        if _canonical(ours) != _canonical(theirs if theirs is not None else None):
            DISAGREEMENTS.append(f"{where}: engine returned {ours!r}, wasmtime {theirs!r}")
            return
        ours_memory = bytes(self.ours.instance.memory.data)
        if hashlib.sha256(ours_memory).digest() != self.twin.digest():
            store = self.twin.store
            theirs_memory = self.twin.memory.read(store, 0, self.twin.memory.data_len(store))
            if not CANONICAL and _only_nans_differ(ours_memory, theirs_memory):  # NaN bits are open
                STATS["calls whose stored NaNs differ"] += 1
            else:
                DISAGREEMENTS.append(f"{where}: same result, different memory afterwards")
            self.twin.write(0, ours_memory)  # start the next call from the same state
        STATS["calls compared"] += 1


@functools.cache
def _canonical_compiled(relpath: str, metered: bool) -> wasm.CompiledModule:
    """A corpus module compiled with ``canonical_nans=True``, once per variant."""
    module = wasm.decode((test_corpus.CORPUS / relpath).read_bytes())
    return wasm.compile(module, metered=metered, canonical_nans=True)


class TwinProgram(test_corpus.Program):
    """A corpus Program whose every export call and memory write also goes to wasmtime."""

    def __init__(self, relpath: str, gas_limit: int | None) -> None:
        super().__init__(relpath, gas_limit)
        if CANONICAL:  # the same program on our engine with canonical NaNs
            self.instance = wasm.instantiate(_canonical_compiled(relpath, gas_limit is not None), {},
                                             gas_limit=gas_limit, canonical_nans=True)
            self.exports = self.instance.exports
            self.memory = self.exports["memory"]
        twin = _Twin(relpath, (test_corpus.CORPUS / relpath).read_bytes())
        self.exports = {name: _TwinExport(name, value, twin) if isinstance(value, wasm.Function) else value
                        for name, value in self.instance.exports.items()}
        self.memory = _TwinMemory(self.instance.exports["memory"], twin)
        STATS["instances"] += 1


class _Plugin:
    def pytest_configure(self, config: pytest.Config) -> None:
        test_corpus.Program = TwinProgram  # type: ignore[misc]

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        write = terminalreporter.write_line
        write("")
        write("mode: canonical NaNs on both sides, NaN bits compared" if CANONICAL
              else "mode: the spec's NaNs (NaN bits not compared)")
        write(f"instances: {STATS['instances']}, export calls: {STATS['calls']}, "
              f"compared with wasmtime: {STATS['calls compared']} (the rest trapped on both or disagreed)")
        nans = STATS["calls whose stored NaNs differ"]
        write(f"calls after which only NaN bits in memory differ (allowed): {nans}")
        write(f"time in calls: engine {STATS['engine seconds']:.1f} s, "
              f"wasmtime {STATS['wasmtime seconds']:.2f} s")
        write(f"disagreements with wasmtime: {len(DISAGREEMENTS)}")
        for line in DISAGREEMENTS[:50]:
            write("  " + line)


def main(argv: list[str]) -> int:
    global CANONICAL
    own = argv[:argv.index("--")] if "--" in argv else argv
    CANONICAL = "--canonical" in own
    if wasmtime is None:
        print("wasmtime is not installed: pip install wasmtime (or pip install -e '.[bench]')",
              file=sys.stderr)
        return 2
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    code = pytest.main([str(ROOT / "tests/wasm/test_corpus.py"), "-q", "-p", "no:cacheprovider", *extra],
                       plugins=[_Plugin()])
    return int(code) or (1 if DISAGREEMENTS else 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
