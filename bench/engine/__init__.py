"""The engine benchmark suite: the same programs on wasmpool, pywasm, wasmtime and in plain Python.

Theory of operation. Each benchmark is a small freestanding C program
(``NAME.c``, built by ``build.sh`` into ``NAME.wasm`` beside it) exporting
``run(n) -> checksum``, plus a hand-written Python version of the same
algorithm in ``pyversions``. ``programs`` lists them with one size ``n`` per
benchmark that every engine runs; ``runners`` wraps each engine behind one
interface (load with the compile timed, then ``run(n)`` returning the
unsigned checksum); ``suite`` interleaves the timed calls across engines,
takes medians, checks that every engine computed the same checksum, and
derives the ratios the engine team is measured by. The ``wasmpool bench``
command (``worker/commands/bench.py``) loads this package from the source
tree and prints the table.

This package is not installed with wasmpool: it lives in the repository
beside the committed ``.wasm`` files, and is imported by path.
"""

from .programs import BENCHMARKS, BY_NAME, Benchmark, code_section_size
from .runners import ENGINE_NAMES, ENGINES, INSTALL_HINT, Engine, Loaded
from .suite import (
    MIN_SAMPLE_SECONDS,
    RATIOS,
    BenchResult,
    ChecksumMismatch,
    EngineResult,
    Ratio,
    median_ratios,
    run_benchmark,
    warm_up,
)

__all__ = [
    "BENCHMARKS",
    "BY_NAME",
    "ENGINES",
    "ENGINE_NAMES",
    "INSTALL_HINT",
    "MIN_SAMPLE_SECONDS",
    "RATIOS",
    "BenchResult",
    "Benchmark",
    "ChecksumMismatch",
    "Engine",
    "EngineResult",
    "Loaded",
    "Ratio",
    "code_section_size",
    "median_ratios",
    "run_benchmark",
    "warm_up",
]
