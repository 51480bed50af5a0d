"""The benchmark suite, checked for correctness (never for speed).

Every program runs on our engine at its tiny ``quick_size`` and must give
the hand-written Python version's checksum; the Python versions are checked
against the standard library where it has the same algorithm (hashlib,
zlib); the optional engines (pywasm, wasmtime) are checked the same way when
they are installed. The ``wasmpool bench`` command runs end to end in
``--quick`` mode, and the suite must stop on a checksum disagreement.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zlib
from types import ModuleType
from typing import Any

import pytest

from wasmpool.cli import bench as command
from wasmpool.cli import main

suite: ModuleType = command.load_suite()
pyversions: ModuleType = sys.modules[f"{command.SUITE_PACKAGE}.pyversions"]
ENGINES = {engine.name: engine for engine in suite.ENGINES}
BENCH_PARAMS = [pytest.param(b, id=b.name) for b in suite.BENCHMARKS]


def engine_or_skip(name: str) -> Any:
    """The named engine, skipping the test when it cannot run here."""
    engine = ENGINES[name]
    reason = engine.unavailable()
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    return engine


def wasmpool(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``wasmpool ARGV`` in process: (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# ---------------------------------------------------------------------------
# The programs on each engine


@pytest.mark.parametrize("engine", ["wasmpool", "canonical"])
@pytest.mark.parametrize("bench", BENCH_PARAMS)
def test_our_engine_matches_the_python_version(bench: Any, engine: str) -> None:
    loaded = engine_or_skip(engine).load(bench)
    expected = bench.python(bench.quick_size)
    assert loaded.run(bench.quick_size) == expected
    assert loaded.run(bench.quick_size) == expected, "run(n) must not depend on an earlier call"
    assert loaded.compile_seconds is not None and loaded.compile_seconds > 0


@pytest.mark.parametrize("engine", ["pywasm", "wasmtime"])
@pytest.mark.parametrize("bench", BENCH_PARAMS)
def test_optional_engines_match_the_python_version(bench: Any, engine: str) -> None:
    loaded = engine_or_skip(engine).load(bench)
    assert loaded.run(bench.quick_size) == bench.python(bench.quick_size)


@pytest.mark.parametrize(
    ("bench_name", "n", "expected"),
    [
        pytest.param("fib", 0, 0, id="fib-0"),
        pytest.param("fib", 1, 1, id="fib-1"),
        pytest.param("fib", 20, 6765, id="fib-20"),
        pytest.param("mandelbrot_f64", 0, 0, id="mandelbrot-empty-grid"),
        pytest.param("mandelbrot_f64", 1, (1 - 2000) & 0xFFFF_FFFF, id="mandelbrot-one-point"),
        pytest.param("sort", 0, 0, id="sort-nothing"),
        pytest.param("interp", 0, 0, id="interp-no-steps"),
    ],
)
def test_python_versions_on_known_values(bench_name: str, n: int, expected: int) -> None:
    assert suite.BY_NAME[bench_name].python(n) == expected


@pytest.mark.parametrize("length", [0, 1, 55, 56, 63, 64, 65, 119, 120, 200])
def test_python_sha256_is_fips_180_4(length: int) -> None:
    message = bytes(pyversions.lcg_bytes(9, length))
    digest = hashlib.sha256(message).digest()
    words = [int.from_bytes(digest[i : i + 4], "big") for i in range(0, 32, 4)]
    assert pyversions.sha256_words(message) == words


@pytest.mark.parametrize("length", [0, 1, 300])
def test_python_crc32_is_zlibs(length: int) -> None:
    data = pyversions.lcg_bytes(2, length)
    assert pyversions.crc32(data) == zlib.crc32(data)


def test_python_sort_sorts() -> None:
    items = pyversions.signed_lcg_items(3, 500)
    pyversions.quicksort(items, 0, len(items) - 1)
    assert items == sorted(pyversions.signed_lcg_items(3, 500))
    assert min(items) < 0 < max(items), "the generator must give both signs"


def test_f32_and_f64_mandelbrot_differ_at_the_timed_size() -> None:
    # Guards against a program that silently computes in one precision only.
    f32 = suite.BY_NAME["mandelbrot_f32"]
    assert f32.python(f32.size) != suite.BY_NAME["mandelbrot_f64"].python(f32.size)


@pytest.mark.parametrize("bench", BENCH_PARAMS)
def test_built_module_is_beside_its_source(bench: Any) -> None:
    assert bench.source.is_file()
    assert bench.path.parent == bench.source.parent
    data = bench.wasm()
    assert 0 < suite.code_section_size(data) < len(data)


# ---------------------------------------------------------------------------
# The suite's checks


class WrongEngine(suite.Engine):  # type: ignore[misc]
    """An engine that answers one more than the truth."""

    name = "wrong"
    title = "off by one"

    def unavailable(self) -> str | None:
        return None

    def version(self) -> str:
        return "0"

    def load(self, bench: Any) -> Any:
        return suite.Loaded(lambda n: bench.python(n) + 1, None)


class BrokenEngine(WrongEngine):
    """An engine whose every call fails."""

    name = "broken"

    def load(self, bench: Any) -> Any:
        def fail(n: int) -> int:
            raise RuntimeError(f"cannot run {n}")

        return suite.Loaded(fail, 0.5)


class FlakyEngine(WrongEngine):
    """An engine that is right on its first call only."""

    name = "flaky"

    def load(self, bench: Any) -> Any:
        calls = iter(range(1_000_000))
        return suite.Loaded(lambda n: bench.python(n) + (next(calls) > 0), None)


def test_checksum_disagreement_stops_the_suite() -> None:
    fib = suite.BY_NAME["fib"]
    with pytest.raises(suite.ChecksumMismatch, match=r"fib\(n=10\).*python=0x37, wrong=0x38"):
        suite.run_benchmark(fib, [ENGINES["python"], WrongEngine()], 1, fib.quick_size, min_sample=0)


def test_every_call_of_a_sample_is_checked() -> None:
    fib = suite.BY_NAME["fib"]
    with pytest.raises(suite.ChecksumMismatch, match=r"flaky \(earlier\)=0x37, flaky=0x38"):
        suite.run_benchmark(fib, [FlakyEngine()], 1, fib.quick_size, min_sample=0.01)


def test_a_failing_engine_is_reported_and_the_others_go_on() -> None:
    fib = suite.BY_NAME["fib"]
    result = suite.run_benchmark(fib, [BrokenEngine(), ENGINES["python"]], 2, fib.quick_size, min_sample=0)
    assert result.engines["broken"].error == "RuntimeError: cannot run 10"
    assert result.engines["broken"].median is None
    assert result.engines["python"].times and result.checksum == 55


# ---------------------------------------------------------------------------
# The command


def test_bench_quick_json_has_every_benchmark(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = wasmpool(capsys, "bench", "--quick", "--json", "--engines", "python,wasmpool")
    report = json.loads(out)
    assert (status, err) == (0, "")
    assert [b["name"] for b in report["benchmarks"]] == [b.name for b in suite.BENCHMARKS]
    for bench in report["benchmarks"]:
        python = suite.BY_NAME[bench["name"]].python
        assert bench["checksum"] == python(bench["n"])
    assert report["engines"]["pywasm"] == {
        "title": ENGINES["pywasm"].title, "available": False, "version": None, "note": command.NOT_SELECTED,
    }  # fmt: skip


def test_bench_table_marks_missing_engines_with_an_install_hint(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pywasm", None)  # import pywasm now raises ImportError
    status, out, _ = wasmpool(capsys, "bench", "--quick", "--only", "fib", "--engines", "pywasm,python")
    assert status == 0
    header, _, row, *_ = out.splitlines()
    assert header.split()[:4] == ["benchmark", "n", "wasmpool", "compile"]
    assert row.split()[:4] == ["fib", "10", "n/a", "n/a"]
    assert "pywasm: n/a: pywasm is not installed; install with: pip install -e '.[bench]'" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--only", "nosuch"], "unknown benchmark nosuch", id="unknown-benchmark"),
        pytest.param(["--engines", "v8"], "unknown engine v8", id="unknown-engine"),
    ],
)
def test_bench_rejects_unknown_names(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = wasmpool(capsys, "bench", *argv)
    assert (status, out) == (2, "")
    assert message in err


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        pytest.param(2.5, "2.5 s", id="seconds"),
        pytest.param(0.1234, "123 ms", id="milliseconds"),
        pytest.param(0.0000456, "45.6 us", id="microseconds"),
        pytest.param(None, "n/a", id="missing"),
    ],
)
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert command.format_seconds(seconds) == text


@pytest.mark.parametrize(
    ("ratio", "text"),
    [pytest.param(250.4, "250x", id="large"), pytest.param(1.234, "1.23x", id="small"),
     pytest.param(None, "n/a", id="missing")],
)  # fmt: skip
def test_format_ratio(ratio: float | None, text: str) -> None:
    assert command.format_ratio(ratio) == text
