"""``wasmpool dump`` and ``wasmpool.wasm.dump``: the -h/-x/-d views, JSON, names, errors.

The expected text in ``tests/fixtures/sections.*.expected`` was produced by
this implementation once and then checked line by line against
``wasm-objdump`` 1.0.32 (``-h``, ``-x``, ``-d``) on the same file. ``-h`` is
identical. The differences in ``-x``/``-d`` are deliberate:

* float constants print as decimal values (``f64=3.14159``, ``f32.const 1.5``)
  where wasm-objdump prints hex floats; NaNs print alike (``nan:0x200000``);
* memory operands print as ``align=BYTES offset=N`` (wasm-objdump: the raw
  alignment exponent and offset, ``i64.store 2 8``);
* local declarations are numbered in the function's local index space, i.e.
  after the parameters (wasm-objdump numbers sum3's one local ``local[0]``,
  it is local 3);
* element segments print their mode and element type (``active table=0
  type=funcref``) instead of the encoding's flag byte;
* initializers that wasm-objdump 1.0.32 misprints (``ref.func`` as an f32)
  print as what they are (``ref.func=2 <bump>``);
* custom sections show their payload size; data segments show at most two
  hex-dump rows (then ``... N more bytes``), addressed from the segment's
  offset (passive ones from 0);
* names come from the name section's module, function and local subsections,
  then (as wasm-objdump does too) from exports and imports; wasm-objdump also
  reads the extended type/table/global/data-segment names, which we do not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES, REPO_ROOT
from tests.wasm.spec_cases import SpecCommand, params
from wasmpool.cli import main
from wasmpool.cli.dump import resolve_function
from wasmpool.wasm import dump
from wasmpool.wasm.decoder import decode
from wasmpool.wasm.errors import WasmError

SECTIONS = FIXTURES / "sections.wasm"


def run_dump(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``wasmpool dump ARGV`` in process: (status, stdout, stderr)."""
    status = main(["dump", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def module_of(path: Path) -> tuple[bytes, Any]:
    data = path.read_bytes()
    return data, decode(data)


# ---------------------------------------------------------------------------
# The three text views against the hand-checked expected text


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        pytest.param("-h", "sections.headers.expected", id="headers"),
        pytest.param("-x", "sections.details.expected", id="details"),
        pytest.param("-d", "sections.disassembly.expected", id="disassembly"),
    ],
)
def test_view_matches_expected_text(capsys: pytest.CaptureFixture[str], flag: str, expected: str) -> None:
    status, out, err = run_dump(capsys, flag, str(SECTIONS))
    assert (status, err) == (0, "")
    assert out == (FIXTURES / expected).read_text()


def test_no_view_flag_prints_headers(capsys: pytest.CaptureFixture[str]) -> None:
    _, default, _ = run_dump(capsys, str(SECTIONS))
    _, headers, _ = run_dump(capsys, "-h", str(SECTIONS))
    assert default == headers


def test_views_combine_in_order_with_one_preamble(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_dump(capsys, "-d", "-h", "-x", str(SECTIONS))
    assert status == 0
    assert out.count("file format wasm 0x1") == 1
    assert out.index("Sections:") < out.index("Section Details:") < out.index("Code Disassembly:")


def test_long_form_flags_are_the_short_ones(capsys: pytest.CaptureFixture[str]) -> None:
    _, short, _ = run_dump(capsys, "-h", "-x", "-d", str(SECTIONS))
    _, long, _ = run_dump(capsys, "--headers", "--details", "--disassemble", str(SECTIONS))
    assert short == long


def test_help_is_still_available_as_long_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["dump", "--help"])
    assert exc.value.code == 0
    assert "--headers" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# Headers


def test_headers_list_every_section_in_file_order() -> None:
    data, module = module_of(SECTIONS)
    titles = [line.split()[0] for line in dump.headers(data, module)[2:]]
    assert titles == ["Custom", "Type", "Import", "Function", "Table", "Memory", "Global", "Export", "Start",
                      "Elem", "DataCount", "Code", "Data", "Custom", "Custom"]


@pytest.mark.parametrize(
    ("title", "extra"),
    [
        pytest.param("Start", "start: 2", id="start-function"),
        pytest.param("DataCount", "count: 2", id="data-count"),
        pytest.param("Export", "count: 8", id="vector-count"),
    ],
)
def test_header_line_tail(title: str, extra: str) -> None:
    data, module = module_of(SECTIONS)
    line = next(line for line in dump.headers(data, module) if line.split()[0:1] == [title])
    assert line.endswith(extra)


def test_header_offsets_cover_the_section_payloads() -> None:
    data, module = module_of(SECTIONS)
    last = module.sections[-1]
    assert last.end == len(data)
    for header in module.sections:
        line = next(x for x in dump.headers(data, module) if f"start={header.start:#010x}" in x)
        assert f"(size={header.end - header.start:#010x})" in line


# ---------------------------------------------------------------------------
# Names


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(" - func[0] sig=0 <add> <- env.add", id="import-with-name"),
        pytest.param(" - func[4] sig=4 <mem_ops>", id="function-name"),
        pytest.param(" - func[2] <bump> -> \"bump\"", id="export-name"),
        pytest.param(" - start function: 2 <bump>", id="start-name"),
        pytest.param("  - elem[1] = func[2] <bump>", id="elem-name"),
        pytest.param(" - func[1] local[3] <t>", id="local-name-entry"),
    ],
)
def test_details_use_the_name_section(line: str) -> None:
    data, module = module_of(SECTIONS)
    assert line in dump.details(data, module)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("| local.set 3 <t>", id="local-by-name"),
        pytest.param("| call 0 <add>", id="call-by-name"),
        pytest.param("func[5] <dispatch>:", id="function-header"),
    ],
)
def test_disassembly_uses_the_name_section(text: str) -> None:
    data, module = module_of(SECTIONS)
    assert any(line.endswith(text) for line in dump.disassemble(data, module))


def test_exports_name_functions_without_a_name_section() -> None:
    data, module = module_of(REPO_ROOT / "examples" / "fib.wasm")  # wasm-ld wrote no name section
    assert module.names.functions == {}
    assert " - func[4] sig=4 <fib20>" in dump.details(data, module)


def test_unnamed_imports_are_labelled_by_module_and_field() -> None:
    data, module = module_of(FIXTURES / "imports.wasm")
    lines = dump.details(data, module)
    assert " - global[0] i32 mutable=0 <- env.base" in lines
    code = dump.disassemble(data, module)
    assert any(line.endswith("| global.get 0 <env.base>") for line in code)


def test_without_name_section_functions_take_export_names_and_locals_none() -> None:
    data, module = module_of(FIXTURES / "sections.wasm")
    start = next(h for h in module.sections if h.name == "name")
    size_bytes = 2 if start.size >= 0x80 else 1  # the section size's LEB128 length
    stripped = data[:start.start - 1 - size_bytes] + data[start.end:]
    bare = decode(stripped)
    assert bare.names.module is None
    assert " - func[4] sig=4 <mem_ops>" in dump.details(stripped, bare)
    code = dump.disassemble(stripped, bare)
    assert " 0000fa: 20 00                      | local.get 0" in code
    assert "0000f7 func[1] <sum3>:" in code
    assert not any(line.startswith("module name") for line in dump.preamble("x.wasm", bare))


# ---------------------------------------------------------------------------
# Instruction operands


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("block type[0]", id="blocktype-index"),
        pytest.param("br_table 9 8 7 6 5 4 3 2 1 0 9", id="br-table-with-default"),
        pytest.param("call_indirect 0 (type 0)", id="call-indirect"),
        pytest.param("ref.null extern", id="ref-null"),
        pytest.param("ref.func 0 <f>", id="ref-func"),
        pytest.param("select i32", id="typed-select"),
        pytest.param("table.init 0 0", id="table-init"),
        pytest.param("memory.copy 0 0", id="memory-copy"),
        pytest.param("table.size 0", id="table-size"),
        pytest.param("f32.const nan:0x200000", id="f32-nan-payload"),
        pytest.param("f64.const -nan", id="f64-negative-canonical-nan"),
        pytest.param("f64.const inf", id="f64-inf"),
        pytest.param("f32.const 0.1", id="f32-shortest"),
        pytest.param("f32.const -0.0", id="f32-negative-zero"),
        pytest.param("i64.const -9223372036854775808", id="i64-min"),
        pytest.param("f64.const 1e+300", id="f64-large"),
        pytest.param("i32.trunc_sat_f64_u", id="prefixed-opcode"),
        pytest.param("local[1..2] type=i32", id="local-group"),
    ],
)
def test_operand_formatting(text: str) -> None:
    data, module = module_of(FIXTURES / "instructions.wasm")
    listed = [line.split("|", 1)[1].strip() for line in dump.disassemble(data, module) if "|" in line]
    assert text in listed


def test_raw_bytes_wrap_onto_continuation_lines() -> None:
    data, module = module_of(FIXTURES / "instructions.wasm")
    lines = dump.disassemble(data, module)
    i = next(k for k, line in enumerate(lines) if "br_table" in line)
    assert lines[i].startswith(" 000052: 0e 0a 09 08 07 06 05 04 03 |")
    assert lines[i + 1] == " 00005b: 02 01 00 09                |"


def test_indentation_follows_block_depth() -> None:
    data, module = module_of(SECTIONS)
    lines = dump.disassemble(data, module)
    texts = [line.split("| ", 1)[1] for line in lines if line.startswith(" 000") and "| " in line]
    start = texts.index("if i32")
    assert texts[start:start + 4] == ["if i32", "  i32.const 0", "else", "  loop i32"]


def test_every_instruction_byte_is_shown_once() -> None:
    data, module = module_of(SECTIONS)
    dumper = dump.Dumper(data, module)
    for i, func in enumerate(module.funcs):
        rows = dumper.code_rows(module.num_imported_funcs + i, func)
        shown = b"".join(bytes.fromhex(row["bytes"]) for row in rows)
        first = rows[0]["offset"]
        assert shown == data[first:func.offset + func.size]


# ---------------------------------------------------------------------------
# Number formatting


@pytest.mark.parametrize(
    ("bits", "fmt", "text"),
    [
        pytest.param(0x3DCCCCCD, dump.F32, "0.1", id="f32-0.1"),
        pytest.param(0x7FC00000, dump.F32, "nan", id="f32-canonical-nan"),
        pytest.param(0xFFC00000, dump.F32, "-nan", id="f32-negative-nan"),
        pytest.param(0x7FA00000, dump.F32, "nan:0x200000", id="f32-signalling-nan"),
        pytest.param(0x7F800001, dump.F32, "nan:0x1", id="f32-smallest-payload"),
        pytest.param(0xFF800000, dump.F32, "-inf", id="f32-minus-inf"),
        pytest.param(0x7F7FFFFF, dump.F32, "3.4028235e+38", id="f32-max"),
        pytest.param(0x00000001, dump.F32, "1e-45", id="f32-smallest-subnormal"),
        pytest.param(0x4B800000, dump.F32, "16777216.0", id="f32-2-to-24"),
        pytest.param(0x3FF8000000000000, dump.F64, "1.5", id="f64-1.5"),
        pytest.param(0x7FF8000000000000, dump.F64, "nan", id="f64-canonical-nan"),
        pytest.param(0x7FF0000000000001, dump.F64, "nan:0x1", id="f64-nan-payload"),
        pytest.param(0x7FF4000000000000, dump.F64, "nan:0x4000000000000", id="f64-signalling-nan"),
        pytest.param(0x8000000000000000, dump.F64, "-0.0", id="f64-negative-zero"),
        pytest.param(0x3FB999999999999A, dump.F64, "0.1", id="f64-0.1"),
    ],
)
def test_float_text(bits: int, fmt: dump.FloatFormat, text: str) -> None:
    assert dump.float_text(bits, fmt) == text


def test_hex_rows_pad_short_rows_and_escape_unprintables() -> None:
    rows = dump.hex_rows(b"hi\x00\xff", 0x10)
    assert rows == ["0000010: 6869 00ff" + " " * 30 + "  hi.."]


@pytest.mark.parametrize(
    ("params", "results", "text"),
    [
        pytest.param((), (), "() -> nil", id="empty"),
        pytest.param(("i32", "i32"), ("i32",), "(i32, i32) -> i32", id="one-result"),
        pytest.param(("f64",), ("i32", "i64"), "(f64) -> (i32, i64)", id="multi-value"),
    ],
)
def test_functype_text(params: tuple[str, ...], results: tuple[str, ...], text: str) -> None:
    from wasmpool.wasm.types import FuncType, ValType

    ft = FuncType(tuple(ValType(p) for p in params), tuple(ValType(r) for r in results))
    assert dump.functype_text(ft) == text


# ---------------------------------------------------------------------------
# JSON


def test_json_document_structure(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_dump(capsys, "--json", str(SECTIONS))
    assert (status, err) == (0, "")
    doc = json.loads(out)
    assert set(doc) == {"version", "module_name", "sections", "types", "imports", "functions", "tables",
                        "memories", "globals", "exports", "start", "elements", "data_count", "data",
                        "customs", "names", "code"}
    assert doc["module_name"] == "sections"
    assert [s["kind"] for s in doc["sections"]][:3] == ["custom", "type", "import"]
    assert [c["name"] for c in doc["customs"]] == ["note", "name", "wasmpool"]
    assert doc["types"][0] == {"index": 0, "params": ["i32", "i32"], "results": ["i32"]}
    assert doc["imports"][1] == {"module": "env", "name": "base", "kind": "global", "index": 0,
                                 "valtype": "i32", "mutable": False}
    assert doc["exports"][5] == {"name": "mem", "kind": "memory", "index": 0}
    assert (doc["start"], doc["data_count"]) == (2, 2)
    assert [f["name"] for f in doc["functions"]] == ["add", "sum3", "bump", "clamp", "mem_ops", "dispatch"]
    assert doc["functions"][0]["imported"] is True
    assert doc["names"]["locals"]["1"] == {"0": "a", "1": "b", "2": "c", "3": "t"}
    assert doc["elements"][1]["mode"] == "passive"
    assert doc["data"][0]["offset"][0]["immediates"] == 16
    assert bytes.fromhex(doc["data"][1]["hex"]) == b"hi there"


def test_json_code_matches_the_disassembly(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_dump(capsys, "--json", str(SECTIONS))
    sum3 = json.loads(out)["code"][0]
    assert (sum3["index"], sum3["name"]) == (1, "sum3")
    assert sum3["locals"] == [{"first": 3, "count": 1, "type": "i32"}]
    first = sum3["instructions"][0]
    assert first == {"offset": 0xFA, "opcode": 0x20, "name": "local.get", "immediates": 0,
                     "text": "local.get 0 <a>", "bytes": "2000", "depth": 0}
    assert sum3["instructions"][-1]["name"] == "end"


def test_json_float_immediates_are_bit_patterns(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run_dump(capsys, "--json", str(FIXTURES / "instructions.wasm"))
    instrs = json.loads(out)["code"][0]["instructions"]
    nan = next(i for i in instrs if i["name"] == "f32.const")
    assert (nan["immediates"], nan["text"]) == (0x7FA00000, "f32.const nan:0x200000")


# ---------------------------------------------------------------------------
# Errors


def test_truncated_module_exits_2_with_the_decoder_message(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "truncated.wasm"
    status, out, err = run_dump(capsys, "-x", str(path))
    assert (status, out) == (2, "")
    assert err.startswith(f"wasmpool: {path}: ")
    assert len(err.strip()) > len(f"wasmpool: {path}: ")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"not a wasm module at all", id="text"),
        pytest.param(b"\x00asm\x02\x00\x00\x00", id="bad-version"),
    ],
)
def test_bad_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.wasm"
    path.write_bytes(content)
    status, out, err = run_dump(capsys, "-h", str(path))
    assert (status, out) == (2, "")
    assert err.startswith(f"wasmpool: {path}: ")


def test_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "missing.wasm"
    status, _, err = run_dump(capsys, str(path))
    assert status == 2
    assert err == f"wasmpool: {path}: No such file or directory\n"


def test_invalid_module_exits_2_unless_told_not_to_validate(capsys: pytest.CaptureFixture[str],
                                                             tmp_path: Path) -> None:
    # (func (result i32)) with an empty body: well-formed, but the body leaves no i32.
    path = tmp_path / "invalid.wasm"
    path.write_bytes(bytes.fromhex("0061736d01000000" "0105016000017f" "03020100" "0a040102000b"))
    status, _, err = run_dump(capsys, "-d", str(path))
    assert status == 2
    assert err.startswith(f"wasmpool: {path}: ")
    status, out, _ = run_dump(capsys, "-d", "--no-validate", str(path))
    assert status == 0
    assert "| end" in out


# ---------------------------------------------------------------------------
# --ir / --python


@pytest.mark.parametrize("spec", ["1", "sum3"], ids=["by-index", "by-name"])
def test_compiler_views(capsys: pytest.CaptureFixture[str], spec: str) -> None:
    status, python, err = run_dump(capsys, "--python", spec, str(SECTIONS))
    assert (status, err) == (0, "")
    compile(python, "<dump --python>", "exec")  # the generated source, as Python
    status, ir, err = run_dump(capsys, "--ir", spec, str(SECTIONS))
    assert (status, err) == (0, "")
    assert ir.strip()
    assert ir != python


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("0", "imported", id="imported-function"),
        pytest.param("99", "out of range", id="index-out-of-range"),
        pytest.param("nosuch", "no function 'nosuch'", id="unknown-name"),
    ],
)
def test_compiler_view_bad_function(capsys: pytest.CaptureFixture[str], spec: str, message: str) -> None:
    status, _, err = run_dump(capsys, "--ir", spec, str(SECTIONS))
    assert status == 2
    assert message in err


def test_export_name_selects_the_function() -> None:
    _, module = module_of(FIXTURES / "main.wasm")  # anonymous functions, exported as three/add5
    assert resolve_function(module, "add5") == 2
    assert resolve_function(module, "0x1") == 1


# ---------------------------------------------------------------------------
# Every module of the spec suite


@pytest.mark.spec
@pytest.mark.parametrize("case", params("module"))
def test_every_view_of_every_spec_module(case: SpecCommand) -> None:
    data = case.module_bytes()
    try:
        module = decode(data)
    except WasmError:
        pytest.skip("not a valid module for this engine (covered by the decoder and validator tests)")
    lines = dump.headers(data, module) + dump.details(data, module) + dump.disassemble(data, module)
    assert len(lines) >= 2 + len(module.sections)
    doc = json.loads(json.dumps(dump.to_json(data, module)))
    assert len(doc["code"]) == len(module.funcs)
