"""One runner per engine: load a benchmark (timing the compile) and call ``run(n)``.

Engines, in table order:

- ``wasmpool``: our engine, ``wasmpool.wasm.decode`` + ``instantiate`` without
  gas metering; the compile time is split into decode (with validation) and
  instantiate (which includes compiling the functions to Python).
- ``metered``: the same engine with gas metering on (a gas limit no call
  reaches; a fresh instance once half of it is used), to measure what
  metering costs side by side.
- ``canonical``: the same engine (unmetered) with canonical NaNs
  (``canonical_nans=True``: every NaN made by float arithmetic is the
  positive canonical one), to measure what the option costs side by side.
- ``pywasm``: the pure-Python interpreter people use today (2.x API:
  ``Runtime``, ``ModuleDesc.from_reader``, ``invocate``).
- ``wasmtime``: native code from Cranelift, the ceiling.
- ``python``: the hand-written Python versions (nothing to compile).

The optional engines are imported lazily: a missing one reports why (and how
to install it) through ``unavailable()`` instead of failing. Every ``run``
returns the checksum as an unsigned integer, whatever the engine's own
convention for i32/i64 results.
"""

from __future__ import annotations

import importlib
import io
import platform
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from .programs import Benchmark

INSTALL_HINT = "install with: pip install -e '.[bench]'  (or: make bench)"
# The metered runs' gas limit: far more than any call uses, yet below 2**30 like real limits (the
# default call limit is 10**7), so that the counter stays a one-digit int, CPython's fast case.
METERED_GAS_LIMIT = 10**9


@dataclass(frozen=True)
class Loaded:
    """A benchmark ready to run on one engine."""

    run: Callable[[int], int]  # n -> unsigned checksum
    compile_seconds: float | None  # None: the engine has no compile step
    compile_parts: dict[str, float] = field(default_factory=dict)


class Engine(ABC):
    """An engine that can load and run the benchmark programs."""

    name: str = ""
    title: str = ""

    @abstractmethod
    def unavailable(self) -> str | None:
        """Why this engine cannot run here, or None when it can."""

    @abstractmethod
    def version(self) -> str:
        """The engine's version, for the report."""

    @abstractmethod
    def load(self, bench: Benchmark) -> Loaded:
        """Decode/compile/instantiate ``bench`` and return its runner."""


def _distribution_version(name: str) -> str:
    """The installed version of distribution ``name``."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def _import(name: str) -> Any:
    """``import name``, or None if it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


class WasmpoolEngine(Engine):
    """Our engine: decode + validate, instantiate (register-compile to Python), call."""

    name = "wasmpool"
    title = "wasmpool (this engine)"
    gas_limit: int | None = None  # None: the unmetered compile variant
    canonical_nans = False  # the engine's float semantics: the spec's, or canonical NaNs

    def _api(self) -> Any:
        """The ``wasmpool.wasm`` package, or None if it cannot be imported."""
        return _import("wasmpool.wasm")

    def unavailable(self) -> str | None:
        wasm = self._api()
        if wasm is None:
            return "wasmpool.wasm cannot be imported"
        missing = [f for f in ("decode", "instantiate") if not callable(getattr(wasm, f, None))]
        if missing:
            return f"engine not runnable yet: wasmpool.wasm has no {' / '.join(missing)}"
        return None

    def version(self) -> str:
        return _distribution_version("wasmpool")

    def load(self, bench: Benchmark) -> Loaded:
        wasm = self._api()
        data = bench.wasm()
        start = time.perf_counter()
        module = wasm.decode(data)
        decoded = time.perf_counter()
        options = {"canonical_nans": True} if self.canonical_nans else {}
        compiled = wasm.compile(module, metered=self.gas_limit is not None, **options)
        instance = wasm.instantiate(compiled, gas_limit=self.gas_limit, **options)
        done = time.perf_counter()
        func = instance.exports["run"]
        mask = bench.mask
        if self.gas_limit is None:
            def run(n: int) -> int:
                return int(func(n)) & mask
        else:
            limit = self.gas_limit
            current = [instance, func]

            def run(n: int) -> int:
                if current[0].gas_used > limit // 2:  # rare: a fresh meter before it could run out
                    current[0] = wasm.instantiate(compiled, gas_limit=limit, **options)
                    current[1] = current[0].exports["run"]
                return int(current[1](n)) & mask

        parts = {"decode": decoded - start, "instantiate": done - decoded}
        return Loaded(run, done - start, parts)


class MeteredEngine(WasmpoolEngine):
    """Our engine with gas metering: the metered compile variant, a limit no benchmark reaches."""

    name = "metered"
    title = "wasmpool with gas metering (gas_limit=10**9)"
    gas_limit = METERED_GAS_LIMIT


class CanonicalEngine(WasmpoolEngine):
    """Our engine with canonical NaNs (unmetered, like ``wasmpool``, so the ratio is the option's cost)."""

    name = "canonical"
    title = "wasmpool with canonical NaNs (canonical_nans=True)"
    canonical_nans = True


class PywasmEngine(Engine):
    """pywasm 2.x, a pure-Python interpreter."""

    name = "pywasm"
    title = "pywasm (pure-Python interpreter)"

    def unavailable(self) -> str | None:
        pywasm = _import("pywasm")
        if pywasm is None:
            return f"pywasm is not installed; {INSTALL_HINT}"
        core = getattr(pywasm, "core", None)
        if not (hasattr(core, "Runtime") and hasattr(core, "ModuleDesc")):
            return f"pywasm {self.version()} has the 1.x API; the runner needs pywasm 2.x"
        return None

    def version(self) -> str:
        return _distribution_version("pywasm")

    def load(self, bench: Benchmark) -> Loaded:
        core = importlib.import_module("pywasm").core
        data = bench.wasm()
        start = time.perf_counter()
        runtime = core.Runtime()
        module = runtime.instance(core.ModuleDesc.from_reader(io.BytesIO(data)))
        done = time.perf_counter()
        mask = bench.mask

        def run(n: int) -> int:
            (result,) = runtime.invocate(module, "run", [n])
            return int(result) & mask

        return Loaded(run, done - start)


class WasmtimeEngine(Engine):
    """wasmtime: compiled to native code by Cranelift."""

    name = "wasmtime"
    title = "wasmtime (native)"

    def unavailable(self) -> str | None:
        if _import("wasmtime") is None:
            return f"wasmtime is not installed; {INSTALL_HINT}"
        return None

    def version(self) -> str:
        return _distribution_version("wasmtime")

    def load(self, bench: Benchmark) -> Loaded:
        wasmtime = importlib.import_module("wasmtime")
        data = bench.wasm()
        start = time.perf_counter()
        engine = wasmtime.Engine()
        store = wasmtime.Store(engine)
        module = wasmtime.Module(engine, data)
        instance = wasmtime.Instance(store, module, [])
        done = time.perf_counter()
        func = instance.exports(store)["run"]
        mask = bench.mask

        def run(n: int) -> int:
            return int(func(store, n)) & mask

        return Loaded(run, done - start)


class PythonEngine(Engine):
    """The hand-written pure-Python versions: always available, nothing to compile."""

    name = "python"
    title = "hand-written Python"

    def unavailable(self) -> str | None:
        return None

    def version(self) -> str:
        return f"{platform.python_implementation()} {platform.python_version()}"

    def load(self, bench: Benchmark) -> Loaded:
        return Loaded(bench.python, None)


ENGINES: tuple[Engine, ...] = (
    WasmpoolEngine(), MeteredEngine(), CanonicalEngine(), PywasmEngine(), WasmtimeEngine(), PythonEngine(),
)
"""Every engine, in table order."""

ENGINE_NAMES: tuple[str, ...] = tuple(e.name for e in ENGINES)
