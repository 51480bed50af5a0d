"""Tests of the spec-suite harness itself, so that a harness bug cannot hide an engine bug.

The value parsing, NaN matching, result comparison and trap-text table are
checked on their own; the interpreter is checked on tiny hand-written
wast2json-style scripts whose modules are assembled here from bytes — every
assertion kind both where it must pass and where it must fail.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import wasmpool.wasm as wasm
from tests.conftest import SPEC_ENV
from tests.wasm import spec_runner
from tests.wasm.spec_cases import iter_commands, script_names
from tests.wasm.spec_runner import (
    CommandTimeout,
    ExactBits,
    ExternRef,
    NanKind,
    NanPattern,
    Outcome,
    RefResult,
    ScriptRunner,
    SpecFormatError,
    Variant,
    check_results,
    cpu_limit,
    format_value,
    parse_arg,
    parse_expected,
    results_of,
    trap_kind_for,
)
from wasmpool.wasm import TrapKind
from wasmpool.wasm.module import SectionId
from wasmpool.wasm.opcodes import Opcode
from wasmpool.wasm.types import CODE_BY_VALTYPE, ExternKind, TypeCode, ValType

needs_engine = pytest.mark.skipif(
    not hasattr(wasm, "instantiate"), reason="the engine has no instantiate yet"
)

# ---------------------------------------------------------------- NaN matching

F32_CANON, F64_CANON = 0x7FC0_0000, 0x7FF8_0000_0000_0000
F32_SIGN, F64_SIGN = 1 << 31, 1 << 63

NAN_CASES = [
    # (type, pattern, bits, matches)
    ("f32", "nan:canonical", F32_CANON, True),
    ("f32", "nan:canonical", F32_SIGN | F32_CANON, True),
    ("f32", "nan:canonical", F32_CANON | 1, False),  # payload beyond the quiet bit
    ("f32", "nan:canonical", 0x7FA0_0000, False),  # signalling
    ("f32", "nan:canonical", 0x7F80_0000, False),  # +inf
    ("f32", "nan:canonical", 0x3F80_0000, False),  # 1.0
    ("f32", "nan:canonical", F64_CANON, False),  # an f64 pattern
    ("f32", "nan:arithmetic", F32_CANON, True),
    ("f32", "nan:arithmetic", F32_SIGN | F32_CANON | 0x12345, True),
    ("f32", "nan:arithmetic", 0x7FFF_FFFF, True),
    ("f32", "nan:arithmetic", 0x7FA0_0000, False),  # signalling: quiet bit clear
    ("f32", "nan:arithmetic", 0xFF80_0001, False),  # signalling, negative
    ("f32", "nan:arithmetic", 0x7F80_0000, False),  # +inf
    ("f32", "nan:arithmetic", 0x0040_0000, False),  # quiet bit set but not a NaN
    ("f64", "nan:canonical", F64_CANON, True),
    ("f64", "nan:canonical", F64_SIGN | F64_CANON, True),
    ("f64", "nan:canonical", F64_CANON | 1, False),
    ("f64", "nan:canonical", 0x7FF4_0000_0000_0000, False),  # signalling
    ("f64", "nan:canonical", F32_CANON, False),  # an f32 pattern
    ("f64", "nan:arithmetic", F64_CANON, True),
    ("f64", "nan:arithmetic", F64_SIGN | F64_CANON | 0xABCDEF, True),
    ("f64", "nan:arithmetic", 0x7FF0_0000_0000_0001, False),  # signalling
    ("f64", "nan:arithmetic", 0xFFF4_0000_0000_0000, False),  # signalling, negative
    ("f64", "nan:arithmetic", 0x7FF0_0000_0000_0000, False),  # +inf
    ("f64", "nan:arithmetic", 1 << 64 | F64_CANON, False),  # out of range
]


@pytest.mark.parametrize(
    ("vtype", "pattern", "bits", "matches"),
    NAN_CASES,
    ids=[f"{t}-{p.split(':')[1]}-{b:#x}-{'yes' if m else 'no'}" for t, p, b, m in NAN_CASES],
)
def test_nan_patterns(vtype: str, pattern: str, bits: int, matches: bool) -> None:
    expected = parse_expected({"type": vtype, "value": pattern})
    assert expected == NanPattern(vtype, NanKind(pattern))
    assert expected.matches(bits) is matches


@pytest.mark.parametrize("vtype", ["f32", "f64"])
def test_exact_nan_is_bit_exact(vtype: str) -> None:
    quiet = F32_CANON if vtype == "f32" else F64_CANON
    expected = parse_expected({"type": vtype, "value": str(quiet | 1)})
    assert expected.matches(quiet | 1)
    assert not expected.matches(quiet)
    assert not expected.matches(float("nan"))


@pytest.mark.parametrize("actual", [None, 2143289344.0, "2143289344", True], ids=repr)
def test_nan_patterns_reject_non_integers(actual: object) -> None:
    assert not NanPattern("f32", NanKind.ARITHMETIC).matches(actual)
    assert not NanPattern("f32", NanKind.CANONICAL).matches(actual)


# ---------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("value", "raw"),
    [
        ({"type": "i32", "value": "0"}, 0),
        ({"type": "i32", "value": "4294967295"}, 0xFFFF_FFFF),
        ({"type": "i64", "value": "18446744073709551615"}, 0xFFFF_FFFF_FFFF_FFFF),
        ({"type": "f32", "value": "2141192192"}, 0x7FA0_0000),
        ({"type": "f64", "value": "9221120237041090560"}, F64_CANON),
        ({"type": "externref", "value": "null"}, None),
        ({"type": "funcref", "value": "null"}, None),
        ({"type": "externref", "value": "7"}, ExternRef(7)),
    ],
    ids=["i32-0", "i32-max", "i64-max", "f32-snan", "f64-nan", "externref-null", "funcref-null",
         "externref-7"],
)
def test_parse_arg(value: dict[str, str], raw: object) -> None:
    parsed = parse_arg(value)
    assert parsed == raw
    assert type(parsed) is type(raw)


@pytest.mark.parametrize(
    "value",
    [
        {"type": "i32", "value": "4294967296"},
        {"type": "i64", "value": "-1"},
        {"type": "f32", "value": "1.5"},
        {"type": "f32", "value": "nan:canonical"},
        {"type": "funcref", "value": "3"},
        {"type": "v128", "value": "0"},
        {"type": "i32"},
    ],
    ids=["i32-too-big", "i64-negative", "f32-decimal", "nan-as-argument", "funcref-nonnull", "v128",
         "no-value"],
)
def test_parse_arg_rejects(value: dict[str, str]) -> None:
    with pytest.raises(SpecFormatError):
        parse_arg(value)


def test_externref_equality_is_by_number() -> None:
    assert ExternRef(1) == ExternRef(1)
    assert ExternRef(1) != ExternRef(2)
    assert hash(ExternRef(3)) == hash(ExternRef(3))
    number: object = 1
    assert ExternRef(1) != number


@pytest.mark.parametrize(
    ("value", "matcher"),
    [
        ({"type": "i32", "value": "4294967295"}, ExactBits("i32", 0xFFFF_FFFF)),
        ({"type": "f32", "value": "nan:arithmetic"}, NanPattern("f32", NanKind.ARITHMETIC)),
        ({"type": "externref", "value": "null"}, RefResult("externref", None)),
        ({"type": "externref", "value": "4"}, RefResult("externref", ExternRef(4))),
        ({"type": "funcref", "value": "null"}, RefResult("funcref", None)),
        ({"type": "funcref", "value": "0"}, RefResult("funcref", None, nonnull=True)),
    ],
    ids=["i32", "f32-arithmetic", "externref-null", "externref-4", "funcref-null", "funcref-nonnull"],
)
def test_parse_expected(value: dict[str, str], matcher: object) -> None:
    assert parse_expected(value) == matcher


@pytest.mark.parametrize(
    "value",
    [{"type": "i32", "value": "nan:canonical"}, {"type": "i64"}, {"type": "exnref", "value": "null"}],
    ids=["nan-for-int", "no-value", "unknown-type"],
)
def test_parse_expected_rejects(value: dict[str, str]) -> None:
    with pytest.raises(SpecFormatError):
        parse_expected(value)


@pytest.mark.parametrize(
    ("matcher", "actual", "matches"),
    [
        (ExactBits("i32", 5), 5, True),
        (ExactBits("i32", 5), 6, False),
        (ExactBits("i32", 0xFFFF_FFFF), -1, False),  # signed where bits are required
        (ExactBits("i32", 1), True, False),
        (ExactBits("f64", 0x3FF0_0000_0000_0000), 1.0, False),  # a float where bits are required
        (RefResult("externref", None), None, True),
        (RefResult("externref", None), ExternRef(0), False),
        (RefResult("externref", ExternRef(2)), ExternRef(2), True),
        (RefResult("externref", ExternRef(2)), ExternRef(3), False),
        (RefResult("externref", ExternRef(2)), 2, False),
        (RefResult("funcref", None, nonnull=True), object(), True),
        (RefResult("funcref", None, nonnull=True), None, False),
    ],
    ids=["i32-equal", "i32-differs", "i32-signed", "i32-bool", "f64-float", "null-null", "null-ref",
         "ref-equal", "ref-differs", "ref-int", "nonnull-object", "nonnull-null"],
)
def test_matchers(matcher: spec_runner.Expected, actual: object, matches: bool) -> None:
    assert matcher.matches(actual) is matches


@pytest.mark.parametrize(
    ("vtype", "value", "text"),
    [
        ("i32", 0xFFFF_FFFF, "i32:-1 (0xffffffff)"),
        ("i64", 5, "i64:5 (0x0000000000000005)"),
        ("f32", 0x3FC0_0000, "f32:0x3fc00000 (1.5)"),
        ("f64", 0xFFF0_0000_0000_0000, "f64:0xfff0000000000000 (-inf)"),
        ("externref", None, "externref:null"),
        ("externref", ExternRef(9), "externref:ref.extern 9"),
        ("i32", -1, "-1 (not a i32 bit pattern)"),
    ],
    ids=["i32", "i64", "f32", "f64", "null", "externref", "bad"],
)
def test_format_value(vtype: str, value: object, text: str) -> None:
    assert format_value(vtype, value) == text


def test_check_results_reports_every_mismatch() -> None:
    expected = [ExactBits("i32", 1), NanPattern("f64", NanKind.CANONICAL), ExactBits("i64", 3)]
    assert check_results(expected, [1, F64_CANON, 3]) == []
    problems = check_results(expected, [2, F64_CANON | 1, 3])
    assert len(problems) == 2
    assert "result 0: expected i32:1" in problems[0] and "i32:2" in problems[0]
    assert "result 1: expected f64:nan:canonical" in problems[1]
    assert check_results(expected, [1]) == ["expected 3 results, got 1: [1]"]


@pytest.mark.parametrize(
    ("raw", "count", "results"),
    [
        (None, 0, []),
        ([], 0, []),
        (7, 1, [7]),
        ([7], 1, [7]),
        (None, 1, [None]),  # a single null reference
        ((1, 2), 2, [1, 2]),
        ([1, 2], 2, [1, 2]),
    ],
    ids=["none", "empty", "bare", "list-of-one", "null-ref", "tuple", "list"],
)
def test_results_of(raw: object, count: int, results: list[object]) -> None:
    assert results_of(raw, count) == results


@pytest.mark.parametrize(
    ("raw", "count"), [(5, 0), ((1,), 2), ([1, 2, 3], 2)], ids=["extra", "short", "long"]
)
def test_results_of_rejects_wrong_counts(raw: object, count: int) -> None:
    with pytest.raises(spec_runner.CommandFailure):
        results_of(raw, count)


# ---------------------------------------------------------------- trap texts


@pytest.mark.parametrize(
    ("text", "kind"), list(spec_runner.TRAP_TEXTS.items()), ids=list(spec_runner.TRAP_TEXTS)
)
def test_trap_texts_map_exactly(text: str, kind: TrapKind) -> None:
    assert trap_kind_for(text) is kind


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("uninitialized element 2", TrapKind.UNINITIALIZED_ELEMENT),
        ("out of bounds memory access at 65536", TrapKind.OUT_OF_BOUNDS_MEMORY),
        ("unknown import", None),
        ("out of bounds", None),
        ("", None),
    ],
    ids=["detail-suffix", "detail-suffix-2", "link-text", "truncated", "empty"],
)
def test_trap_text_prefixes(text: str, kind: TrapKind | None) -> None:
    assert trap_kind_for(text) is kind


TRAPPING_COMMANDS = ("assert_trap", "assert_exhaustion", "assert_uninstantiable")


def test_every_trap_text_of_the_suite_maps(spec_data: Path) -> None:
    texts: dict[str, set[str]] = {kind: set() for kind in TRAPPING_COMMANDS}
    for name in script_names():
        for command in json.loads((spec_data / name / f"{name}.json").read_text())["commands"]:
            if command["type"] in texts:
                texts[command["type"]].add(command["text"])
    every = set().union(*texts.values())
    assert len(every) >= 10  # the suite has at least one text per kind it tests
    assert sorted(t for t in every if trap_kind_for(t) is None) == []
    assert {trap_kind_for(t) for t in texts["assert_exhaustion"]} == {TrapKind.STACK_EXHAUSTED}


# ---------------------------------------------------------------- CPU limit


def _spin(*_: object) -> bytes:
    while True:
        pass


def test_cpu_limit_interrupts_a_busy_loop() -> None:
    with pytest.raises(CommandTimeout), cpu_limit(0.05):
        _spin()


def test_cpu_limit_is_disarmed_after_the_body() -> None:
    with cpu_limit(0.05):
        pass
    total = 0
    for i in range(3_000_000):  # well past 0.05 s of CPU: the timer must not fire here
        total += i
    assert total > 0


# ---------------------------------------------------------------- scripts without an engine


def _run(commands: Sequence[dict[str, Any]], modules: dict[str, bytes] | None = None,
         cpu_seconds: float | None = 10.0) -> list[Outcome | None]:
    table = modules or {}
    runner = ScriptRunner(lambda name: table[name], cpu_seconds)
    return list(runner.run(commands))


def _invoke(field_: str, *args: dict[str, str], module: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "invoke", "field": field_, "args": list(args)}
    if module is not None:
        action["module"] = module
    return action


def _get(field_: str, module: str | None = None) -> dict[str, Any]:
    action: dict[str, Any] = {"type": "get", "field": field_}
    if module is not None:
        action["module"] = module
    return action


def _val(vtype: str, value: int | str) -> dict[str, str]:
    return {"type": vtype, "value": str(value)}


def _ret(line: int, action: dict[str, Any], *expected: dict[str, str]) -> dict[str, Any]:
    return {"type": "assert_return", "line": line, "action": action, "expected": list(expected)}


def _trap(line: int, action: dict[str, Any], text: str, kind: str = "assert_trap") -> dict[str, Any]:
    return {"type": kind, "line": line, "action": action, "text": text, "expected": []}


def _module(line: int, filename: str, name: str | None = None) -> dict[str, Any]:
    command = {"type": "module", "line": line, "filename": filename}
    if name is not None:
        command["name"] = name
    return command


def _assert_module(kind: str, line: int, filename: str, text: str) -> dict[str, Any]:
    return {"type": kind, "line": line, "filename": filename, "text": text, "module_type": "binary"}


def test_decoder_and_validator_commands_are_not_executed() -> None:
    outcomes = _run([
        {"type": "assert_malformed", "line": 1, "filename": "x.wat", "text": "x", "module_type": "text"},
        {"type": "assert_invalid", "line": 2, "filename": "y.wasm", "text": "y", "module_type": "binary"},
    ])
    assert outcomes == [None, None]


def test_actions_before_any_module_fail_clearly() -> None:
    outcomes = _run([_ret(1, _invoke("f")), {"type": "register", "line": 2, "as": "m"}])
    assert [o.passed if o else None for o in outcomes] == [False, False]
    assert all(o is not None and "no module has been instantiated yet" in o.message for o in outcomes)


def test_a_failed_module_is_named_by_every_command_that_depends_on_it() -> None:
    commands = [
        _module(1, "bad.wasm", name="$bad"),
        _ret(2, _invoke("f"), _val("i32", 0)),
        _trap(3, _invoke("f"), "unreachable"),
        _trap(4, _invoke("f"), "call stack exhausted", kind="assert_exhaustion"),
        {"type": "action", "line": 5, "action": _get("g", module="$bad"), "expected": []},
        {"type": "register", "line": 6, "name": "$bad", "as": "bad"},
        _ret(7, _invoke("f", module="bad")),
    ]
    outcomes = _run(commands, {"bad.wasm": b"\0asm\x07\0\0\0 not a module"})
    assert all(o is not None and not o.passed for o in outcomes)
    for outcome in outcomes[1:]:
        assert outcome is not None
        assert "the module of line 1 (bad.wasm) failed" in outcome.message, outcome.message


def test_unknown_module_names_fail() -> None:
    outcome = _run([_ret(1, _invoke("f", module="$nowhere"))])[0]
    assert outcome is not None and not outcome.passed
    assert "no module named '$nowhere'" in outcome.message


def test_a_hanging_command_fails_alone_and_names_itself() -> None:
    runner = ScriptRunner(_spin, cpu_seconds=0.1)
    outcomes = list(runner.run([_module(1, "spin.wasm"), _ret(2, _invoke("f"))]))
    first, second = outcomes
    assert first is not None and not first.passed and first.message.startswith("timeout")
    assert second is not None
    assert "the module of line 1 (spin.wasm) failed: it did not finish" in second.message


def test_each_script_runs_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Later cases read the verdicts of the first run: the module file is gone by then."""
    script = tmp_path / "tiny"
    script.mkdir()
    commands = [_module(1, "tiny.0.wasm"), _ret(2, _invoke("f"), i32(1))]
    (script / "tiny.json").write_text(json.dumps({"source_filename": "tiny.wast", "commands": commands}))
    (script / "tiny.0.wasm").write_bytes(b"\0asm\x01\0\0\0\x01\xff")  # a truncated section
    monkeypatch.setenv(SPEC_ENV, str(tmp_path))
    cases = list(iter_commands(*spec_runner.EXEC_COMMANDS))
    assert [c.id for c in cases] == ["tiny:1:module", "tiny:2:assert_return"]
    results = spec_runner.SuiteResults(cpu_seconds=30.0)
    first = results.outcome(cases[0])
    (script / "tiny.0.wasm").unlink()
    second = results.outcome(cases[1])
    assert not first.passed and not second.passed
    assert "FileNotFoundError" not in first.message + second.message
    assert "the module of line 1 (tiny.0.wasm) failed" in second.message
    assert results.outcome(cases[0]) == first


def test_text_modules_are_refused() -> None:
    command = {"type": "module", "line": 1, "filename": "m.wat", "module_type": "text"}
    outcome = _run([command])[0]
    assert outcome is not None and not outcome.passed and "text modules are not supported" in outcome.message


# ---------------------------------------------------------------- modules assembled from bytes


def _uleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        done = (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


def _vec(items: Sequence[bytes]) -> bytes:
    return _uleb(len(items)) + b"".join(items)


def _name(text: str) -> bytes:
    return _vec([bytes([b]) for b in text.encode()])


def _types(types: Sequence[ValType]) -> bytes:
    return _vec([bytes([CODE_BY_VALTYPE[t]]) for t in types])


def _op(code: Opcode, imm: bytes = b"") -> bytes:
    return bytes([code]) + imm


I32, I64, F32, F64, EXTERNREF = ValType.I32, ValType.I64, ValType.F32, ValType.F64, ValType.EXTERNREF


@dataclass
class Asm:
    """A module under construction: each list holds encoded entries of one section."""

    types: list[bytes] = field(default_factory=list)
    imports: list[bytes] = field(default_factory=list)
    imported_funcs: int = 0
    funcs: list[int] = field(default_factory=list)
    memories: list[bytes] = field(default_factory=list)
    globals: list[bytes] = field(default_factory=list)
    exports: list[bytes] = field(default_factory=list)
    start: int | None = None
    code: list[bytes] = field(default_factory=list)
    datas: list[bytes] = field(default_factory=list)

    def type(self, params: Sequence[ValType], results: Sequence[ValType]) -> int:
        self.types.append(bytes([TypeCode.FUNC]) + _types(params) + _types(results))
        return len(self.types) - 1

    def import_func(self, module: str, name: str, type_index: int) -> None:
        self.imports.append(_name(module) + _name(name) + bytes([ExternKind.FUNC]) + _uleb(type_index))
        self.imported_funcs += 1

    @property
    def next_func(self) -> int:
        """The index the next defined function gets."""
        return self.imported_funcs + len(self.funcs)

    def import_global(self, module: str, name: str, vtype: ValType) -> None:
        desc = bytes([ExternKind.GLOBAL, CODE_BY_VALTYPE[vtype], 0])  # immutable
        self.imports.append(_name(module) + _name(name) + desc)

    def func(self, type_index: int, *body: bytes, export: str | None = None) -> int:
        index = self.next_func
        self.funcs.append(type_index)
        code = _vec([]) + b"".join(body) + _op(Opcode.END)  # no locals
        self.code.append(_uleb(len(code)) + code)
        if export is not None:
            self.export(export, ExternKind.FUNC, index)
        return index

    def export(self, name: str, kind: ExternKind, index: int) -> None:
        self.exports.append(_name(name) + bytes([kind]) + _uleb(index))

    def bytes(self) -> bytes:
        sections = [
            (SectionId.TYPE, self.types),
            (SectionId.IMPORT, self.imports),
            (SectionId.FUNCTION, [_uleb(t) for t in self.funcs]),
            (SectionId.MEMORY, self.memories),
            (SectionId.GLOBAL, self.globals),
            (SectionId.EXPORT, self.exports),
            (SectionId.START, None if self.start is None else _uleb(self.start)),
            (SectionId.CODE, self.code),
            (SectionId.DATA, self.datas),
        ]
        body = b""
        for sid, content in sections:
            if content:
                payload = content if isinstance(content, bytes) else _vec(content)
                body += bytes([sid]) + _uleb(len(payload)) + payload
        return b"\0asm\x01\0\0\0" + body


def _main_module() -> bytes:
    """Exports one function per behaviour the runner must judge, a global, and uses spectest."""
    asm = Asm()
    binary = asm.type([I32, I32], [I32])
    unary_f32 = asm.type([F32], [F32])
    nothing = asm.type([], [])
    ref_id = asm.type([EXTERNREF], [EXTERNREF])
    answer = asm.type([], [I32])
    print_i32 = asm.type([I32], [])
    pair = asm.type([I64], [I64, F64])
    asm.import_func("spectest", "print_i32", print_i32)
    asm.import_global("spectest", "global_i32", I32)
    get0, get1 = _op(Opcode.LOCAL_GET, _uleb(0)), _op(Opcode.LOCAL_GET, _uleb(1))
    asm.func(binary, get0, get1, _op(Opcode.I32_ADD), export="add")
    asm.func(binary, get0, get1, _op(Opcode.I32_DIV_S), export="div_s")
    asm.func(unary_f32, get0, export="id_f32")
    asm.func(nothing, _op(Opcode.UNREACHABLE), export="unreachable")
    asm.func(nothing, _op(Opcode.CALL, _uleb(asm.next_func)), export="recurse")
    asm.func(ref_id, get0, export="id_ref")
    asm.func(answer, _op(Opcode.I32_CONST, _sleb(7)), _op(Opcode.CALL, _uleb(0)),
             _op(Opcode.GLOBAL_GET, _uleb(0)), export="spectest_global")
    asm.func(pair, get0, _op(Opcode.F64_CONST, struct.pack("<d", -0.5)), export="pair")
    asm.globals.append(bytes([CODE_BY_VALTYPE[I32], 0]) + _op(Opcode.I32_CONST, _sleb(42)) + _op(Opcode.END))
    asm.export("answer", ExternKind.GLOBAL, 1)
    return asm.bytes()


def _reexport_module() -> bytes:
    """Imports ``main.add`` and exports it again as ``plus``."""
    asm = Asm()
    asm.import_func("main", "add", asm.type([I32, I32], [I32]))
    asm.export("plus", ExternKind.FUNC, 0)
    return asm.bytes()


def _unlinkable_module() -> bytes:
    asm = Asm()
    asm.import_func("nowhere", "f", asm.type([], []))
    return asm.bytes()


def _start_traps_module() -> bytes:
    asm = Asm()
    asm.start = asm.func(asm.type([], []), _op(Opcode.UNREACHABLE))
    return asm.bytes()


def _data_out_of_bounds_module() -> bytes:
    """One page of memory and an active data segment one byte past its end."""
    asm = Asm()
    asm.memories.append(b"\0" + _uleb(1))
    offset = _op(Opcode.I32_CONST, _sleb(65536)) + _op(Opcode.END)
    asm.datas.append(b"\0" + offset + _vec([b"x"]))
    return asm.bytes()


MODULES = {
    "main.wasm": _main_module(),
    "reexport.wasm": _reexport_module(),
    "unlinkable.wasm": _unlinkable_module(),
    "start_traps.wasm": _start_traps_module(),
    "data_oob.wasm": _data_out_of_bounds_module(),
}

SNAN_F32 = 0x7FA0_0000


def i32(value: int | str) -> dict[str, str]:
    return _val("i32", value)


def i64(value: int | str) -> dict[str, str]:
    return _val("i64", value)


def f32(value: int | str) -> dict[str, str]:
    return _val("f32", value)


def f64(value: int | str) -> dict[str, str]:
    return _val("f64", value)


def ext(value: int | str) -> dict[str, str]:
    return _val("externref", value)


# Commands that must pass against a correct engine, after ``main.wasm`` is current.
PASSING = [
    _ret(10, _invoke("add", i32(1), i32(2)), i32(3)),
    _ret(11, _invoke("add", i32(0xFFFF_FFFF), i32(1)), i32(0)),
    {"type": "action", "line": 12, "action": _invoke("add", i32(1), i32(1)), "expected": [{"type": "i32"}]},
    _trap(13, _invoke("div_s", i32(1), i32(0)), "integer divide by zero"),
    _trap(14, _invoke("div_s", i32(0x8000_0000), i32(0xFFFF_FFFF)), "integer overflow"),
    _ret(15, _invoke("id_f32", f32(SNAN_F32)), f32(SNAN_F32)),
    _ret(16, _invoke("id_f32", f32(0xFFC0_0000)), f32("nan:canonical")),
    _ret(17, _invoke("id_f32", f32(0x7FE0_0001)), f32("nan:arithmetic")),
    _trap(18, _invoke("unreachable"), "unreachable"),
    _trap(19, _invoke("recurse"), "call stack exhausted", kind="assert_exhaustion"),
    _ret(20, _invoke("id_ref", ext(1)), ext(1)),
    _ret(21, _invoke("id_ref", ext("null")), ext("null")),
    _ret(22, _invoke("spectest_global"), i32(666)),
    _ret(23, _get("answer"), i32(42)),
    _ret(24, _invoke("pair", i64(2**64 - 1)), i64(2**64 - 1), f64(0xBFE0_0000_0000_0000)),
    _assert_module("assert_unlinkable", 25, "unlinkable.wasm", "unknown import"),
    _assert_module("assert_uninstantiable", 26, "start_traps.wasm", "unreachable"),
    _assert_module("assert_uninstantiable", 27, "data_oob.wasm", "out of bounds memory access"),
    _assert_module("assert_trap", 28, "start_traps.wasm", "unreachable"),
]

# Commands that must fail against a correct engine, with a word the message must contain.
FAILING = [
    (_ret(40, _invoke("add", i32(1), i32(2)), i32(4)), "i32:3"),
    (_ret(41, _invoke("add", i32(1), i32(2))), "expected 0 results"),
    (_ret(42, _invoke("id_f32", f32(SNAN_F32)), f32("nan:arithmetic")), "f32:0x7fa00000"),
    (_ret(43, _invoke("id_f32", f32(SNAN_F32)), f32("nan:canonical")), "f32:0x7fa00000"),
    (_ret(44, _invoke("id_f32", f32(0x7FC0_0001)), f32("nan:canonical")), "f32:0x7fc00001"),
    (_ret(45, _invoke("id_f32", f32(0x7FC0_0000)), f32(0xFFC0_0000)), "f32:0x7fc00000"),
    (_ret(46, _invoke("div_s", i32(1), i32(0)), i32(0)), "INTEGER_DIVIDE_BY_ZERO"),
    (_trap(47, _invoke("div_s", i32(1), i32(0)), "integer overflow"), "INTEGER_DIVIDE_BY_ZERO"),
    (_trap(48, _invoke("add", i32(1), i32(2)), "unreachable"), "returned"),
    (_trap(49, _invoke("unreachable"), "call stack exhausted", kind="assert_exhaustion"), "UNREACHABLE"),
    (_trap(50, _invoke("recurse"), "unreachable"), "STACK_EXHAUSTED"),
    (_trap(51, _invoke("div_s", i32(1), i32(0)), "no such trap"), "unknown trap text"),
    (_ret(52, _invoke("id_ref", ext(1)), ext(2)), "ref.extern 2"),
    (_ret(53, _invoke("id_ref", ext(1)), ext("null")), "ref.extern 1"),
    (_ret(54, _invoke("id_ref", ext("null")), ext(1)), "externref:null"),
    (_ret(55, _get("answer"), i32(41)), "i32:42"),
    (_ret(56, _invoke("missing")), "no export named 'missing'"),
    (_ret(57, _invoke("pair", i64(1)), i64(1), f64(0x3FE0_0000_0000_0000)), "f64:0xbfe0000000000000"),
    (_assert_module("assert_unlinkable", 58, "main.wasm", "unknown import"), "module instantiated"),
    (_assert_module("assert_uninstantiable", 59, "main.wasm", "unreachable"), "module instantiated"),
    (_assert_module("assert_uninstantiable", 60, "unlinkable.wasm", "unreachable"), "LinkError"),
    (_assert_module("assert_unlinkable", 61, "start_traps.wasm", "unknown import"), "Trap"),
    (_assert_module("assert_uninstantiable", 62, "data_oob.wasm", "unreachable"), "OUT_OF_BOUNDS_MEMORY"),
]


def _ids(commands: Sequence[dict[str, Any]]) -> list[str]:
    return [f"{c['line']}-{c['type']}-{c['action']['field'] if 'action' in c else c['filename']}"
            for c in commands]


@pytest.fixture(params=list(Variant), ids=str)
def main_runner(request: pytest.FixtureRequest) -> Iterator[ScriptRunner]:
    """A runner with ``main.wasm`` current, on each variant: the verdicts must not depend on it."""
    runner = ScriptRunner(lambda name: MODULES[name], cpu_seconds=30.0, variant=request.param)
    outcome = runner.execute(_module(1, "main.wasm"))
    assert outcome == Outcome(True), outcome
    yield runner


@needs_engine
def test_the_metered_variant_runs_metered_code() -> None:
    exhaustion = _trap(2, _invoke("recurse"), "call stack exhausted", kind="assert_exhaustion")
    plain = ScriptRunner(lambda name: MODULES[name], cpu_seconds=30.0, variant=Variant.PLAIN)
    metered = ScriptRunner(lambda name: MODULES[name], cpu_seconds=30.0, variant=Variant.METERED)
    assert plain.gas_limit is None and metered.gas_limit == spec_runner.SPEC_GAS
    metered.gas_limit = 10_000  # a limit the recursion reaches, so that the meter shows
    for runner in (plain, metered):
        assert runner.execute(_module(1, "main.wasm")) == Outcome(True)
    assert plain.execute(exhaustion) == Outcome(True)
    outcome = metered.execute(exhaustion)
    assert outcome is not None and not outcome.passed
    assert "GasExhausted" in outcome.message, outcome.message


@needs_engine
@pytest.mark.parametrize("command", PASSING, ids=_ids(PASSING))
def test_commands_that_must_pass(main_runner: ScriptRunner, command: dict[str, Any]) -> None:
    assert main_runner.execute(command) == Outcome(True)


@needs_engine
@pytest.mark.parametrize(("command", "word"), FAILING, ids=_ids([c for c, _ in FAILING]))
def test_commands_that_must_fail(main_runner: ScriptRunner, command: dict[str, Any], word: str) -> None:
    outcome = main_runner.execute(command)
    assert outcome is not None and not outcome.passed
    assert word in outcome.message, outcome.message


@needs_engine
def test_trap_kind_mismatch_shows_both_texts(main_runner: ScriptRunner) -> None:
    outcome = main_runner.execute(_trap(1, _invoke("div_s", i32(1), i32(0)), "integer overflow"))
    assert outcome is not None and not outcome.passed
    assert "'integer overflow' (INTEGER_OVERFLOW)" in outcome.message
    assert "Trap[INTEGER_DIVIDE_BY_ZERO]" in outcome.message


@needs_engine
def test_a_script_end_to_end() -> None:
    """Modules, names, registration and imports between modules, as one script."""
    script = json.loads(json.dumps([
        _module(1, "main.wasm", name="$main"),
        {"type": "register", "line": 2, "as": "main"},
        _module(3, "reexport.wasm", name="$re"),
        _ret(4, _invoke("plus", i32(2), i32(3)), i32(5)),
        _ret(5, _invoke("add", i32(2), i32(2), module="$main"), i32(4)),
        _ret(6, _invoke("add", i32(2), i32(5), module="main"), i32(7)),
        {"type": "assert_malformed", "line": 7, "filename": "x.wat", "text": "x", "module_type": "text"},
        _module(8, "main.wasm"),
        _ret(9, _get("answer"), i32(42)),
        _ret(10, _invoke("plus", i32(1), i32(1), module="$re"), i32(2)),
        {"type": "register", "line": 11, "name": "$re", "as": "re"},
        _ret(12, _invoke("plus", i32(4), i32(4), module="re"), i32(8)),
    ]))
    outcomes = _run(script, MODULES, cpu_seconds=30.0)
    assert outcomes[6] is None
    assert [o for o in outcomes if o is not None] == [Outcome(True)] * 11


@needs_engine
def test_imports_from_a_failed_registration_name_the_cause() -> None:
    modules = {**MODULES, "bad.wasm": b"\0asm\x01\0\0\0\x01\xff"}
    outcomes = _run([
        _module(1, "bad.wasm"),
        {"type": "register", "line": 2, "as": "main"},
        _module(3, "reexport.wasm"),
        _assert_module("assert_unlinkable", 4, "reexport.wasm", "unknown import"),
    ], modules)
    assert [o.passed if o else None for o in outcomes] == [False, False, False, False]
    for outcome in outcomes[2:]:
        assert outcome is not None
        assert "imports main.add, but the module of line 1 (bad.wasm) failed" in outcome.message


@needs_engine
def test_spectest_host_module() -> None:
    exports = spec_runner.spectest_exports()
    assert exports["global_i32"].raw == 666
    assert exports["global_i64"].raw == 666
    assert exports["global_f32"].raw == 0x4426A666
    assert exports["global_f64"].raw == 0x4084D4CCCCCCCCCD
    assert exports["table"].size == 10
    assert exports["memory"].size == 1
    assert exports["memory"].grow(1) == 1
    assert exports["memory"].grow(1) == -1  # max 2 pages
    assert exports["print_f64_f64"](1.0, 2.0) is None
