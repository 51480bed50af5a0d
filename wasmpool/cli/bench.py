"""``wasmpool bench``: the engine benchmark suite as one table of times and ratios.

Theory of operation: the suite (programs, their built ``.wasm``, the
hand-written Python versions and one runner per engine) lives in the source
repository under ``bench/engine`` and is not installed with the package, so
this command imports it by path (``--suite`` points elsewhere). Each
benchmark runs on every available engine in this one process, the engines'
calls interleaved round by round so that noise hits all alike; each time is
the median of ``--repeat`` samples (each at least 50 ms of calls, or one
slow call), and every engine must compute the same checksum or the run stops
(exit status 1). Every engine runs the same ``n``: no time in the table is
scaled.

The table shows, per benchmark, wasmpool's execution and compile time
(decode + validate + instantiate, also per KiB of code section), wasmpool
with gas metering on (``metered``), wasmpool with canonical NaNs
(``canonical``), pywasm, wasmtime and the hand-written Python, then the ratios (see
``bench/engine/suite.py``) with their medians on the last row. Optional
engines that are not installed appear as ``n/a`` with a note on how to
install them. ``--json`` prints the same data as one JSON document instead.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import platform
import statistics
import sys
from collections.abc import Sequence
from enum import IntEnum
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

import wasmpool.wasm as wasm

PROG = "wasmpool bench"
SUITE_DIR = Path(__file__).resolve().parents[2] / "bench" / "engine"
SUITE_PACKAGE = "wasmpool_bench_engine"
DEFAULT_REPEAT = 3
JSON_FORMAT_VERSION = 1
MISSING = "n/a"
FAILED = "error"
NOT_SELECTED = "not selected (--engines)"
TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"))
ENGINE_COLUMNS = ("wasmpool", "metered", "canonical", "pywasm", "wasmtime", "python")  # time columns


class Exit(IntEnum):
    """Exit statuses of the command."""

    OK = 0
    FAILED = 1  # an engine failed or the engines disagreed on a checksum
    USAGE = 2  # unknown benchmark or engine, or no suite


class SuiteNotFound(Exception):
    """``bench/engine`` is not where the command looked."""


# ---------------------------------------------------------------------------
# Loading the suite


def load_suite(directory: Path = SUITE_DIR) -> ModuleType:
    """Import the benchmark package in ``directory`` (once per directory) and return it."""
    directory = directory.resolve()
    init = directory / "__init__.py"
    if not init.is_file():
        raise SuiteNotFound(f"benchmark suite not found in {directory} (it ships with the source repository)")
    loaded = sys.modules.get(SUITE_PACKAGE)
    if loaded is not None and Path(loaded.__file__ or "").resolve() == init:
        return loaded
    spec = importlib.util.spec_from_file_location(
        SUITE_PACKAGE, init, submodule_search_locations=[str(directory)]
    )
    if spec is None or spec.loader is None:
        raise SuiteNotFound(f"cannot import the benchmark suite from {directory}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[SUITE_PACKAGE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[SUITE_PACKAGE]
        raise
    return module


# ---------------------------------------------------------------------------
# Command line


def _positive(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _names(values: Sequence[str] | None) -> list[str]:
    """Repeated and comma-separated names, flattened in order."""
    return [name for value in values or () for name in value.split(",") if name]


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``bench`` options to ``parser``."""
    parser.add_argument("--only", metavar="NAME", action="append",
                        help="run only this benchmark (repeatable, or comma-separated)")
    parser.add_argument("--repeat", metavar="N", type=_positive, default=DEFAULT_REPEAT,
                        help=f"samples per engine and benchmark; shows the median (default {DEFAULT_REPEAT})")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--engines", metavar="LIST", action="append",
                        help="run only these engines "
                             "(comma-separated: wasmpool,metered,canonical,pywasm,wasmtime,python)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, one call: checks that all engines agree; the times mean nothing")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and engines, then exit")
    parser.add_argument("--suite", metavar="DIR", type=Path, default=SUITE_DIR,
                        help="bench/engine directory of a wasmpool source tree (default: this checkout's)")
    parser.epilog = "Optional engines: pip install -e '.[bench]'  (or: make bench)."


def run(args: argparse.Namespace) -> int:
    """Run the suite as ``args`` asks; print the table (or JSON) on stdout."""
    wasm.prepare_process()  # this process runs wasm: it owns the recursion limit the engine needs
    try:
        suite = load_suite(args.suite)
    except SuiteNotFound as exc:
        return _fail(Exit.USAGE, str(exc))
    if args.list:
        _print_list(suite, sys.stdout)
        return Exit.OK
    benches = _select(suite.BY_NAME, _names(args.only), "benchmark")
    chosen = _select({e.name: e for e in suite.ENGINES}, _names(args.engines), "engine")
    if benches is None or chosen is None:
        return Exit.USAGE
    states = {e.name: _engine_state(e, e in chosen) for e in suite.ENGINES}
    engines = [e for e in suite.ENGINES if states[e.name]["available"]]
    repeat = 1 if args.quick else args.repeat
    try:
        results = _measure(suite, benches, engines, repeat, args.quick)
    except suite.ChecksumMismatch as exc:
        return _fail(Exit.FAILED, f"checksum mismatch, stopping: {exc}")
    report = build_report(suite, results, states, repeat, args.quick)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render_table(suite, report))
    return Exit.FAILED if report["errors"] else Exit.OK


def _measure(suite: ModuleType, benches: Sequence[Any], engines: Sequence[Any], repeat: int,
             quick: bool) -> list[Any]:
    """Warm the engines up, then run every benchmark on all of them, showing progress on a terminal."""
    progress = _Progress(sys.stderr)
    min_sample = 0.0 if quick else suite.MIN_SAMPLE_SECONDS
    suite.warm_up(benches[0], engines)
    try:
        return [
            suite.run_benchmark(bench, engines, repeat, bench.quick_size if quick else bench.size,
                                progress, min_sample)
            for bench in benches
        ]  # fmt: skip
    finally:
        progress.clear()


def _fail(status: Exit, message: str) -> int:
    """Print ``wasmpool bench: message`` on stderr and return ``status``."""
    print(f"{PROG}: {message}", file=sys.stderr)
    return status


def _select(table: dict[str, Any], wanted: list[str], what: str) -> list[Any] | None:
    """The entries named in ``wanted`` (all if none), in table order; None after reporting unknown ones."""
    unknown = [name for name in wanted if name not in table]
    if unknown:
        _fail(Exit.USAGE, f"unknown {what} {', '.join(unknown)} (choose from: {', '.join(table)})")
        return None
    return [value for name, value in table.items() if not wanted or name in wanted]


def _engine_state(engine: Any, selected: bool) -> dict[str, Any]:
    """Availability, version and a note for one engine."""
    if not selected:
        return {"title": engine.title, "available": False, "version": None, "note": NOT_SELECTED}
    reason = engine.unavailable()
    return {
        "title": engine.title,
        "available": reason is None,
        "version": engine.version() if reason is None else None,
        "note": reason,
    }


def _print_list(suite: ModuleType, out: TextIO) -> None:
    """The ``--list`` output: benchmarks with their sizes, engines with their availability."""
    width = max(len(b.name) for b in suite.BENCHMARKS)
    out.write("benchmarks (n = size every engine runs):\n")
    for bench in suite.BENCHMARKS:
        out.write(f"  {bench.name:<{width}}  n={bench.size:<6} {bench.description}\n")
    out.write("engines:\n")
    for engine in suite.ENGINES:
        reason = engine.unavailable()
        status = "" if reason is None else f"  [{MISSING}: {reason}]"
        out.write(f"  {engine.name:<{width}}  {engine.title}{status}\n")


class _Progress:
    """A one-line progress display on a terminal's stderr; silent when stderr is not a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.live = stream.isatty()
        self.width = 0

    def __call__(self, message: str) -> None:
        """Show ``message`` in place of the previous one."""
        if self.live:
            self.stream.write("\r" + message.ljust(self.width))
            self.stream.flush()
            self.width = len(message)

    def clear(self) -> None:
        """Erase the progress line."""
        if self.live and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


# ---------------------------------------------------------------------------
# The report: one JSON-able dict, rendered as a table or dumped as JSON


def build_report(suite: ModuleType, results: Sequence[Any], states: dict[str, dict[str, Any]],
                 repeat: int, quick: bool) -> dict[str, Any]:
    """Everything measured, as plain data (the ``--json`` output)."""
    benchmarks = [_bench_report(suite, r) for r in results]
    errors = [
        {"benchmark": r.bench.name, "engine": name, "error": e.error}
        for r in results for name, e in r.engines.items() if e.error is not None
    ]  # fmt: skip
    compile_rates = [rate for b in benchmarks if (rate := b["compile_ms_per_kib"]) is not None]
    return {
        "format": JSON_FORMAT_VERSION,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": platform.machine(),
        "repeat": repeat,
        "quick": quick,
        "scaled": False,
        "engines": states,
        "ratios": {r.key: {"numerator": r.numerator, "denominator": r.denominator, "meaning": r.meaning}
                   for r in suite.RATIOS},
        "benchmarks": benchmarks,
        "medians": {
            **suite.median_ratios(results),
            "compile_ms_per_kib": statistics.median(compile_rates) if compile_rates else None,
        },
        "errors": errors,
    }


def _bench_report(suite: ModuleType, result: Any) -> dict[str, Any]:
    """One benchmark's part of the report."""
    engines = {
        name: {
            "median_seconds": e.median,
            "times": e.times,
            "compile_seconds": e.compile_seconds,
            "compile_parts": e.compile_parts,
            "checksum": e.checksum,
            "error": e.error,
        }
        for name, e in result.engines.items()
    }
    return {
        "name": result.bench.name,
        "description": result.bench.description,
        "n": result.size,
        "code_bytes": result.code_bytes,
        "checksum": result.checksum,
        "engines": engines,
        "compile_ms_per_kib": result.compile_ms_per_kib("wasmpool"),
        "ratios": {ratio.key: result.ratio(ratio) for ratio in suite.RATIOS},
    }


# ---------------------------------------------------------------------------
# Rendering


def format_seconds(seconds: float | None) -> str:
    """A duration with three significant digits in s, ms or us."""
    if seconds is None:
        return MISSING
    scale, unit = next(((s, u) for s, u in TIME_UNITS if seconds >= s), TIME_UNITS[-1])
    value = seconds / scale
    return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"


def format_ratio(ratio: float | None) -> str:
    """A ratio as ``123x``, ``12.3x`` or ``1.23x``."""
    if ratio is None:
        return MISSING
    return f"{ratio:.0f}x" if ratio >= 100 else f"{ratio:.3g}x"


def format_rate(rate: float | None) -> str:
    """Milliseconds per KiB."""
    return MISSING if rate is None else f"{rate:.3g}"


def _engine_cell(bench: dict[str, Any], engine: str) -> str:
    """The table cell of ``engine``'s median time."""
    data = bench["engines"].get(engine)
    if data is None:
        return MISSING
    if data["error"] is not None:
        return FAILED
    return format_seconds(data["median_seconds"])


def _compile_cell(bench: dict[str, Any]) -> str:
    """The table cell of wasmpool's compile time."""
    data = bench["engines"].get("wasmpool")
    if data is None:
        return MISSING
    if data["compile_seconds"] is None and data["error"] is not None:
        return FAILED
    return format_seconds(data["compile_seconds"])


def _rows(suite: ModuleType, report: dict[str, Any]) -> list[list[str]]:
    """The table's cells: one row per benchmark, then the medians."""
    keys = [r.key for r in suite.RATIOS]
    rows = []
    for bench in report["benchmarks"]:
        rows.append([
            bench["name"], str(bench["n"]),
            _engine_cell(bench, "wasmpool"), _compile_cell(bench), format_rate(bench["compile_ms_per_kib"]),
            *(_engine_cell(bench, name) for name in ENGINE_COLUMNS[1:]),
            *(format_ratio(bench["ratios"][key]) for key in keys),
        ])  # fmt: skip
    medians = report["medians"]
    rows.append(["median", "", "", "", format_rate(medians["compile_ms_per_kib"]),
                 *("" for _ in ENGINE_COLUMNS[1:]),
                 *(format_ratio(medians[key]) for key in keys)])  # fmt: skip
    return rows


def render_table(suite: ModuleType, report: dict[str, Any]) -> str:
    """The report as an aligned text table followed by its legend and notes."""
    header = ["benchmark", "n", "wasmpool", "compile", "ms/KiB", *ENGINE_COLUMNS[1:],
              *(r.header for r in suite.RATIOS)]  # fmt: skip
    rows = _rows(suite, report)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        """One aligned row: names left, numbers right."""
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))]).rstrip()

    rule = "-" * len(line(header))
    out = [line(header), rule, *(line(r) for r in rows[:-1]), rule, line(rows[-1]), ""]
    out.extend(_legend(suite, report))
    return "\n".join(out) + "\n"


def _legend(suite: ModuleType, report: dict[str, Any]) -> list[str]:
    """The lines under the table: how it was measured, the ratios, the engines, the errors."""
    if report["quick"]:
        timing = "Times: --quick: tiny sizes, one call each; the times mean nothing."
    else:
        timing = (f"Times: median of {report['repeat']} interleaved samples per engine "
                  "(a sample: >= 50 ms of back-to-back calls, or one call).")
    notes = [
        timing,
        "Every engine runs the same n: no time is scaled.",
        "compile: wasmpool's decode + validate + instantiate (compile to Python); "
        "ms/KiB: per KiB of code section.",
    ]
    notes += [f"{r.header}: {r.meaning}." for r in suite.RATIOS]
    for name, state in report["engines"].items():
        if state["available"]:
            notes.append(f"{name}: {state['title']}, {state['version']}")
        else:
            notes.append(f"{name}: {MISSING}: {state['note']}")
    notes += [f"error: {e['engine']} on {e['benchmark']}: {e['error']}" for e in report["errors"]]
    return notes
