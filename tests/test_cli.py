"""The ``wasmpool`` command line: the subcommand list and ``wasmpool run``.

``run`` prints one line per zero-parameter export in wagon's wasm-run format
(``name() i32 => 42 (uint32)``: result types, then each value as Go's
``%v`` prints it, with its Go type). Most tests call ``wasmpool.cli.main`` in
process; a few run the installed ``wasmpool`` console script for real.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, REPO_ROOT
from wasmpool.cli import main
from wasmpool.cli.run import Linker, Width, go_float

EXAMPLE = REPO_ROOT / "examples" / "fib.wasm"
EXAMPLE_OUTPUT = (
    "fib20() i32 => 6765 (uint32)\n"
    "fib90() i64 => 2880067194370816120 (uint64)\n"
    "factorial20() i64 => 2432902008176640000 (uint64)\n"
    "golden() f64 => 1.618033988749895 (float64)\n"
)


def wasmpool(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``wasmpool ARGV`` in process: (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def console_script() -> Path:
    """The installed ``wasmpool`` script beside the running interpreter."""
    return Path(sys.executable).parent / "wasmpool"


# ---------------------------------------------------------------------------
# The command list


def test_help_lists_the_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("run", "dump"):
        assert f"    {name} " in out


def test_no_subcommand_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = wasmpool(capsys)
    assert status == 2
    assert "COMMAND" in out


# ---------------------------------------------------------------------------
# run: output format


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        pytest.param("main.wasm", "three() i32 => 3 (uint32)\n", id="import-from-neighbour"),
        pytest.param("start.wasm", "get() i32 => 42 (uint32)\n", id="start-function-ran"),
        pytest.param("env.wasm", "answer() i32 => 42 (uint32)\n", id="skips-non-functions-and-parameters"),
        pytest.param(
            "imports.wasm",
            "base_plus_one() i32 => 1001 (uint32)\n"
            "hit() i32 => 1 (uint32)\n"
            "first_byte() i32 => 101 (uint32)\n"
            "via_table() i32 => 42 (uint32)\n",
            id="imports-of-every-kind",
        ),
        pytest.param(
            "memory.wasm",
            "size() i32 => 1 (uint32)\n"
            "first() i32 => 72 (uint32)\n"
            "word() i32 => 67305985 (uint32)\n"
            "sum() i32 => 500 (uint32)\n"
            "init_extra() i32 => 119 (uint32)\n"
            "grow() i32 => 1 (uint32)\n",
            id="memory-and-data",
        ),
        pytest.param(
            "values.wasm",
            "nothing() => \n"
            "minus_one() i32 => 4294967295 (uint32)\n"
            "big() i64 => 9223372036854775807 (uint64)\n"
            "half() f32 => 0.5 (float32)\n"
            "third() f32 => 0.33333334 (float32)\n"
            "million() f64 => 1e+06 (float64)\n"
            "pair() i32 i64 => 1 (uint32) 2 (uint64)\n"
            "nan() f64 => NaN (float64)\n",
            id="every-result-shape",
        ),
    ],
)
def test_run_prints_each_zero_parameter_export(capsys: pytest.CaptureFixture[str], fixture: str,
                                               expected: str) -> None:
    status, out, err = wasmpool(capsys, "run", str(FIXTURES / fixture))
    assert (status, err) == (0, "")
    assert out == expected


def test_run_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = wasmpool(capsys, "run", str(EXAMPLE))
    assert (status, err) == (0, "")
    assert out == EXAMPLE_OUTPUT


def test_trapping_exports_are_reported_and_the_run_goes_on(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = wasmpool(capsys, "run", str(FIXTURES / "trap.wasm"))
    assert status == 1
    assert out == (
        "before() i32 => 7 (uint32)\n"
        "unreachable() => \n"
        "div_by_zero() i32 => \n"
        "out_of_bounds() i32 => \n"
        "after() i64 => 8 (uint64)\n"
    )
    assert err.splitlines() == [
        "wasmpool run: err=unreachable: unreachable",
        "wasmpool run: err=div_by_zero: integer divide by zero",
        "wasmpool run: err=out_of_bounds: out of bounds memory access",
    ]


# ---------------------------------------------------------------------------
# run: --invoke


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param(["add", "2", "40"], "add(2, 40) i32 => 42 (uint32)\n", id="i32"),
        pytest.param(["add", "-1", "0x10"], "add(-1, 0x10) i32 => 15 (uint32)\n", id="i32-negative-and-hex"),
        pytest.param(["mul64", "-1", "2"], "mul64(-1, 2) i64 => 18446744073709551614 (uint64)\n", id="i64"),
        pytest.param(["scale", "0.5", "3"], "scale(0.5, 3) f64 => 1.5 (float64)\n", id="f32-and-f64"),
        pytest.param(["scale", "0x1p-1", "inf"], "scale(0x1p-1, inf) f64 => +Inf (float64)\n",
                     id="hex-float-inf"),
        pytest.param(["swap", "1", "2"], "swap(1, 2) i32 i32 => 2 (uint32) 1 (uint32)\n", id="two-results"),
        pytest.param(["half"], "half() f32 => 0.5 (float32)\n", id="no-arguments"),
    ],
)
def test_invoke(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    status, out, err = wasmpool(capsys, "run", str(FIXTURES / "values.wasm"), "--invoke", *argv)
    assert (status, err) == (0, "")
    assert out == expected


def test_invoke_an_export_with_imports(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = wasmpool(capsys, "run", str(FIXTURES / "main.wasm"), "--invoke", "add5", "10")
    assert (status, out) == (0, "add5(10) i32 => 15 (uint32)\n")


def test_invoke_a_trapping_export_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = wasmpool(capsys, "run", str(FIXTURES / "trap.wasm"), "--invoke", "div_by_zero")
    assert (status, out) == (1, "div_by_zero() i32 => \n")
    assert "integer divide by zero" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["add", "1"], "add takes 2 arguments (i32, i32), got 1", id="too-few-arguments"),
        pytest.param(["add", "1", "x"], "not an integer for i32: 'x'", id="not-an-integer"),
        pytest.param(["add", "1", "4294967296"], "4294967296 does not fit in i32", id="too-large"),
        pytest.param(["scale", "1", "pi"], "not a number: 'pi'", id="not-a-float"),
        pytest.param(["nosuch"], 'no export named "nosuch"', id="unknown-export"),
    ],
)
def test_invoke_errors_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    path = FIXTURES / "values.wasm"
    status, out, err = wasmpool(capsys, "run", str(path), "--invoke", *argv)
    assert (status, out) == (2, "")
    assert err == f"wasmpool: {path}: {message}\n"


def test_invoke_a_memory_export_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = wasmpool(capsys, "run", str(FIXTURES / "memory.wasm"), "--invoke", "memory")
    assert status == 2
    assert 'export "memory" is a memory, not a function' in err


# ---------------------------------------------------------------------------
# run: import resolution


def test_preload_resolves_an_import_module_from_another_file(capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    lonely = tmp_path / "main.wasm"  # no env.wasm beside it
    shutil.copy(FIXTURES / "main.wasm", lonely)
    status, _, err = wasmpool(capsys, "run", str(lonely))
    assert status == 2
    assert 'cannot resolve import module "env"' in err
    status, out, err = wasmpool(capsys, "run", str(lonely), "--preload", f"env={FIXTURES / 'env.wasm'}")
    assert (status, out, err) == (0, "three() i32 => 3 (uint32)\n", "")


def test_preload_takes_precedence_over_the_neighbour(capsys: pytest.CaptureFixture[str]) -> None:
    # values.wasm also exports add (i32, i32) -> i32, but no "base": sections.wasm cannot link to it,
    # while it links to the env.wasm beside it.
    status, out, _ = wasmpool(capsys, "run", str(FIXTURES / "sections.wasm"))
    assert (status, out) == (0, "bump() => \n")
    status, out, err = wasmpool(capsys, "run", str(FIXTURES / "sections.wasm"),
                                "--preload", f"env={FIXTURES / 'values.wasm'}")
    assert (status, out) == (2, "")
    assert err.startswith(f"wasmpool: {FIXTURES / 'sections.wasm'}: ")


def test_modules_importing_the_same_module_share_its_instance() -> None:
    linker = Linker({})
    imports = linker.load(FIXTURES / "imports.wasm")
    linker.load(FIXTURES / "main.wasm")
    assert sorted(path.name for path in linker.loaded) == ["env.wasm", "imports.wasm", "main.wasm"]
    env = linker.loaded[(FIXTURES / "env.wasm").resolve()]
    assert imports.instance.exports["hit"]() == 1
    assert imports.instance.exports["hit"]() == 2
    assert env.instance.exports["hits"].value == 2


def test_import_cycle_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = wasmpool(capsys, "run", str(FIXTURES / "cycle_a.wasm"))
    assert (status, out) == (2, "")
    assert "import cycle: cycle_a.wasm -> cycle_b.wasm -> cycle_a.wasm" in err


@pytest.mark.parametrize("spec", ["env", "=x.wasm", "env="])
def test_bad_preload_option(capsys: pytest.CaptureFixture[str], spec: str) -> None:
    status, _, err = wasmpool(capsys, "run", str(FIXTURES / "main.wasm"), "--preload", spec)
    assert status == 2
    assert "--preload wants MODULE=PATH" in err


# ---------------------------------------------------------------------------
# run: errors, gas, verbose


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(None, id="missing-file"),
        pytest.param(b"garbage", id="not-a-module"),
        pytest.param((FIXTURES / "truncated.wasm").read_bytes(), id="truncated"),
    ],
)
def test_bad_module_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                            content: bytes | None) -> None:
    path = tmp_path / "bad.wasm"
    if content is not None:
        path.write_bytes(content)
    status, out, err = wasmpool(capsys, "run", str(path))
    assert (status, out) == (2, "")
    assert err.startswith(f"wasmpool: {path}: ")


def test_link_error_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # main.wasm needs env.add (i32, i32) -> i32; this env exports add with the wrong type.
    shutil.copy(FIXTURES / "main.wasm", tmp_path / "main.wasm")
    shutil.copy(FIXTURES / "start.wasm", tmp_path / "env.wasm")  # exports only "get"
    status, out, err = wasmpool(capsys, "run", str(tmp_path / "main.wasm"))
    assert (status, out) == (2, "")
    assert err.startswith(f"wasmpool: {tmp_path / 'main.wasm'}: ")


def test_missing_file_message(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "missing.wasm"
    status, _, err = wasmpool(capsys, "run", str(path))
    assert (status, err) == (2, f"wasmpool: {path}: No such file or directory\n")


def test_trap_in_start_function_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # (module (func unreachable) (start 0))
    path = tmp_path / "start_traps.wasm"
    path.write_bytes(bytes.fromhex("0061736d01000000" "010401600000" "03020100" "080100" "0a05010300000b"))
    status, out, err = wasmpool(capsys, "run", str(path))
    assert (status, out) == (2, "")
    assert err == f"wasmpool: {path}: start function trapped: unreachable\n"


def test_gas_limit_stops_an_endless_loop(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = wasmpool(capsys, "run", str(FIXTURES / "spin.wasm"), "--gas", "5000")
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == "spin() => "
    assert lines[1].startswith("gas used: ")
    assert int(lines[1].removeprefix("gas used: ")) > 0
    assert "err=spin: " in err


def test_gas_used_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = wasmpool(capsys, "run", str(FIXTURES / "main.wasm"), "--gas", "1000000")
    assert status == 0
    first, gas = out.splitlines()
    assert first == "three() i32 => 3 (uint32)"
    assert 0 < int(gas.removeprefix("gas used: ")) < 1000000


def test_verbose_logs_sections_of_every_module_loaded(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = wasmpool(capsys, "run", "-v", str(FIXTURES / "main.wasm"))
    assert (status, out) == (0, "three() i32 => 3 (uint32)\n")
    assert "wasmpool run: section 2 Import: offset 0x1c, size 11, count 1" in err
    assert 'wasmpool run: section 0 Custom "name": offset 0x55, size 29' in err
    assert "wasmpool run:   - func[0] sig=0 <add> <- env.add" in err
    assert f"decoded {FIXTURES / 'env.wasm'}" in err
    assert "skipping add5: it takes parameters (i32)" in err


# ---------------------------------------------------------------------------
# Go's %v for floats


@pytest.mark.parametrize(
    ("value", "width", "text"),
    [
        pytest.param(1e6, Width.W64, "1e+06", id="million"),
        pytest.param(123456.0, Width.W64, "123456", id="six-digits"),
        pytest.param(1234567.0, Width.W64, "1.234567e+06", id="seven-digits"),
        pytest.param(0.0001, Width.W64, "0.0001", id="small-fixed"),
        pytest.param(0.00001, Width.W64, "1e-05", id="small-exponent"),
        pytest.param(-0.0, Width.W64, "-0", id="negative-zero"),
        pytest.param(100.0, Width.W64, "100", id="integral"),
        pytest.param(1.5e300, Width.W64, "1.5e+300", id="three-digit-exponent"),
        pytest.param(float("-inf"), Width.W64, "-Inf", id="minus-inf"),
        pytest.param(float("nan"), Width.W32, "NaN", id="nan"),
        pytest.param(16777216.0, Width.W32, "1.6777216e+07", id="f32-2-to-24"),
        pytest.param(0.10000000149011612, Width.W32, "0.1", id="f32-shortest"),
        pytest.param(0.1, Width.W64, "0.1", id="f64-shortest"),
    ],
)
def test_go_float(value: float, width: Width, text: str) -> None:
    assert go_float(value, width) == text


# ---------------------------------------------------------------------------
# The real console script


@pytest.mark.timeout(60)
def test_console_script_runs_the_example() -> None:
    done = subprocess.run([str(console_script()), "run", str(EXAMPLE)], capture_output=True, text=True,
                          timeout=50, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == EXAMPLE_OUTPUT


@pytest.mark.timeout(60)
def test_console_script_reports_traps_with_status_1() -> None:
    done = subprocess.run([str(console_script()), "run", str(FIXTURES / "trap.wasm")], capture_output=True,
                          text=True, timeout=50, check=False)
    assert done.returncode == 1
    assert "after() i64 => 8 (uint64)" in done.stdout
    assert "wasmpool run: err=unreachable: unreachable" in done.stderr


@pytest.mark.timeout(60)
def test_console_script_dump_bad_file_exits_2() -> None:
    done = subprocess.run([str(console_script()), "dump", "-x", str(FIXTURES / "truncated.wasm")],
                          capture_output=True, text=True, timeout=50, check=False)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("wasmpool: ")
