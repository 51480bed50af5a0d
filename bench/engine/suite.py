"""Measuring: every benchmark on every available engine, side by side.

For one benchmark all engines load the module first (compile timed once),
then the timed samples interleave: round 1 on every engine, round 2 on every
engine, ... so that machine noise (other processes, frequency changes) hits
all engines alike. A sample is the time per call over at least 50 ms of
back-to-back calls (timeit-style; one call for the slow engines), so that an
engine whose call takes microseconds is not measured by a single call on
caches just emptied by another engine. The figure per engine is the median
of its samples.

Every call's checksum is compared with the others: the first round must
agree across engines and every later call must give the same value again.
A disagreement raises :class:`ChecksumMismatch` and ends the run, because a
time measured for a wrong answer means nothing. Before the first benchmark,
``warm_up`` runs one program untimed on every engine so that one-time costs
(lazy imports, first-use tables) are not charged to whichever comes first. An exception inside one
engine is recorded for that engine and benchmark (shown as an error), and
the others go on.

Ratios (each the median of the engine's repeats):

- ``vs_pywasm``  = pywasm / wasmpool: how many times faster we are (goal >= 100);
- ``vs_python``  = wasmpool / python: how many times slower than the
  hand-written Python (goal <= 2);
- ``vs_wasmtime`` = wasmpool / wasmtime: how many times faster native code is;
- ``gas_cost``   = metered / wasmpool: what gas metering costs (goal <= 1.15,
  i.e. at most 15% slower with metering on);
- ``nan_cost``   = canonical / wasmpool: what canonical NaNs cost (goal <= 1.10
  on the float benchmarks ``mandelbrot_f32``/``mandelbrot_f64``).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .programs import Benchmark, code_section_size
from .runners import Engine, Loaded

KIB = 1024
MIN_SAMPLE_SECONDS = 0.05


@dataclass(frozen=True)
class Ratio:
    """A ratio between two engines' median times: numerator / denominator."""

    key: str
    numerator: str
    denominator: str
    header: str
    meaning: str


RATIOS: tuple[Ratio, ...] = (
    Ratio("vs_pywasm", "pywasm", "wasmpool", "pywasm/ours",
          "times faster than pywasm (goal >= 100)"),
    Ratio("vs_python", "wasmpool", "python", "ours/python",
          "times slower than the hand-written Python (goal <= 2)"),
    Ratio("vs_wasmtime", "wasmpool", "wasmtime", "ours/wasmtime",
          "times faster native wasmtime is than ours"),
    Ratio("gas_cost", "metered", "wasmpool", "metered/ours",
          "time with gas metering on / without: what metering costs (goal <= 1.15)"),
    Ratio("nan_cost", "canonical", "wasmpool", "canonical/ours",
          "time with canonical NaNs / without: what the option costs (goal <= 1.10 on floats)"),
)  # fmt: skip


class ChecksumMismatch(Exception):
    """Engines disagree on a benchmark's result: no time is reported for it."""

    def __init__(self, bench: str, size: int, checksums: dict[str, int]) -> None:
        shown = ", ".join(f"{engine}={value:#x}" for engine, value in checksums.items())
        super().__init__(f"{bench}(n={size}): engines disagree on the checksum: {shown}")
        self.bench = bench
        self.checksums = checksums


class _Changed(Exception):
    """Two calls of one engine in one sample returned different checksums."""

    def __init__(self, first: int, later: int) -> None:
        super().__init__(first, later)
        self.first = first
        self.later = later


@dataclass
class EngineResult:
    """One engine on one benchmark."""

    engine: str
    times: list[float] = field(default_factory=list)  # seconds per call
    checksum: int | None = None
    compile_seconds: float | None = None
    compile_parts: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def median(self) -> float | None:
        """Median seconds per call, or None if the engine never completed a call."""
        return statistics.median(self.times) if self.times and self.error is None else None


@dataclass
class BenchResult:
    """One benchmark on every engine that was asked to run it."""

    bench: Benchmark
    size: int
    code_bytes: int
    engines: dict[str, EngineResult]

    @property
    def checksum(self) -> int | None:
        """The value all engines agreed on."""
        values = {r.checksum for r in self.engines.values() if r.checksum is not None}
        return values.pop() if len(values) == 1 else None

    def ratio(self, ratio: Ratio) -> float | None:
        """``ratio`` for this benchmark, None when either engine has no time."""
        top = self._median(ratio.numerator)
        bottom = self._median(ratio.denominator)
        if top is None or bottom is None or bottom <= 0:
            return None
        return top / bottom

    def compile_ms_per_kib(self, engine: str) -> float | None:
        """Milliseconds of compile time per KiB of code section for ``engine``."""
        result = self.engines.get(engine)
        if result is None or result.compile_seconds is None or not self.code_bytes:
            return None
        return result.compile_seconds * 1000 / (self.code_bytes / KIB)

    def _median(self, engine: str) -> float | None:
        """``engine``'s median time, None if it did not run or failed."""
        result = self.engines.get(engine)
        return result.median if result is not None else None


def median_ratios(results: Sequence[BenchResult]) -> dict[str, float | None]:
    """Each ratio's median over the benchmarks that have it."""
    out: dict[str, float | None] = {}
    for ratio in RATIOS:
        values = [v for r in results if (v := r.ratio(ratio)) is not None]
        out[ratio.key] = statistics.median(values) if values else None
    return out


Progress = Callable[[str], None]


def _load_all(
    bench: Benchmark, engines: Sequence[Engine]
) -> tuple[dict[str, Loaded], dict[str, EngineResult]]:
    """Load ``bench`` on every engine; a failing engine gets an error result instead."""
    loaded: dict[str, Loaded] = {}
    results: dict[str, EngineResult] = {}
    for engine in engines:
        result = results[engine.name] = EngineResult(engine.name)
        try:
            ready = engine.load(bench)
        except Exception as exc:  # an engine's failure is reported, not fatal
            result.error = f"load failed: {type(exc).__name__}: {exc}"
            continue
        loaded[engine.name] = ready
        result.compile_seconds = ready.compile_seconds
        result.compile_parts = dict(ready.compile_parts)
    return loaded, results


def _timed_sample(run: Callable[[int], int], size: int, min_seconds: float) -> tuple[int, float]:
    """Call ``run(size)`` until ``min_seconds`` have passed (at least once): (checksum, seconds per call).

    Every call must return the first call's checksum, else :class:`_Changed`.
    """
    start = time.perf_counter()
    value = run(size)
    calls = 1
    elapsed = time.perf_counter() - start
    while elapsed < min_seconds:
        again = run(size)
        if again != value:
            raise _Changed(value, again)
        calls += 1
        elapsed = time.perf_counter() - start
    return value, elapsed / calls


def warm_up(bench: Benchmark, engines: Sequence[Engine]) -> None:
    """Load and run ``bench`` once, untimed, on every engine.

    One-time costs (lazy imports, first-use tables, the wasmtime engine's
    first compile) then fall here rather than on whichever benchmark happens
    to be timed first. Failures are ignored: the timed run reports them.
    """
    for engine in engines:
        try:
            engine.load(bench).run(bench.quick_size)
        except Exception:  # reported by the timed run
            continue


def run_benchmark(bench: Benchmark, engines: Sequence[Engine], repeat: int, size: int | None = None,
                  progress: Progress | None = None, min_sample: float = MIN_SAMPLE_SECONDS) -> BenchResult:
    """Time ``bench`` at ``size`` (default: its own) on ``engines``, ``repeat`` interleaved rounds.

    Each round gives one sample per engine: the time per call over at least ``min_sample``
    seconds of calls (a single call for engines slower than that).
    """
    n = bench.size if size is None else size
    loaded, results = _load_all(bench, engines)
    for round_no in range(repeat):
        for name, ready in loaded.items():
            result = results[name]
            if result.error is not None:
                continue
            if progress is not None:
                progress(f"{bench.name} n={n}: {name} {round_no + 1}/{repeat}")
            try:
                value, seconds = _timed_sample(ready.run, n, min_sample)
            except _Changed as exc:
                raise ChecksumMismatch(bench.name, n, {f"{name} (earlier)": exc.first, name: exc.later})
            except Exception as exc:  # reported per engine; the others go on
                result.error = f"{type(exc).__name__}: {exc}"
                continue
            if result.checksum is not None and value != result.checksum:
                raise ChecksumMismatch(bench.name, n, {f"{name} (earlier)": result.checksum, name: value})
            result.checksum = value
            result.times.append(seconds)
        if round_no == 0:
            _check_agreement(bench, n, results)
    return BenchResult(bench, n, code_section_size(bench.wasm()), results)


def _check_agreement(bench: Benchmark, size: int, results: dict[str, EngineResult]) -> None:
    """Raise ChecksumMismatch unless every engine that ran got the same checksum."""
    checksums = {name: r.checksum for name, r in results.items() if r.checksum is not None}
    if len(set(checksums.values())) > 1:
        raise ChecksumMismatch(bench.name, size, checksums)
