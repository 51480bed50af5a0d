"""Hand-built modules for every path of the binary decoder, its reader and the name section.

Modules are assembled from bytes by the small builders below (no wat2wasm
at test time). Most cases decode with ``validate=False``: the validator is
not the point here, and several modules are deliberately ill-typed.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable

import pytest

from wasmpool.wasm import (
    DecodeError,
    DecodeLimits,
    ExternKind,
    FuncType,
    GlobalType,
    LimitError,
    Limits,
    MemType,
    Module,
    TableType,
    UnsupportedFeature,
    ValidationError,
    ValType,
    decode,
)
from wasmpool.wasm.module import Data, Export, Import, Instr, SectionId, SegmentMode
from wasmpool.wasm.opcodes import OPS, Imm, Opcode, OpInfo
from wasmpool.wasm.reader import read_leb, read_s32, read_s64, read_u32
from wasmpool.wasm.types import TypeCode

# ---------------------------------------------------------------------------
# Builders

HEADER = b"\0asm\x01\0\0\0"
I32, I64, F32, F64 = TypeCode.I32, TypeCode.I64, TypeCode.F32, TypeCode.F64
FUNCREF, EXTERNREF, V128 = TypeCode.FUNCREF, TypeCode.EXTERNREF, TypeCode.V128
END, I32_CONST = bytes([Opcode.END]), Opcode.I32_CONST


def u32(n: int) -> bytes:
    """Unsigned LEB128."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sleb(n: int) -> bytes:
    """Signed LEB128."""
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def vec(items: list[bytes]) -> bytes:
    return u32(len(items)) + b"".join(items)


def name(text: str) -> bytes:
    raw = text.encode()
    return u32(len(raw)) + raw


def section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + u32(len(payload)) + payload


def custom(title: str, payload: bytes = b"") -> bytes:
    return section(SectionId.CUSTOM, name(title) + payload)


def module(*sections: bytes) -> bytes:
    return HEADER + b"".join(sections)


def functype(params: bytes = b"", results: bytes = b"") -> bytes:
    return bytes([TypeCode.FUNC]) + u32(len(params)) + params + u32(len(results)) + results


def types(*entries: bytes) -> bytes:
    return section(SectionId.TYPE, vec(list(entries)))


def functions(*type_indices: int) -> bytes:
    return section(SectionId.FUNCTION, vec([u32(i) for i in type_indices]))


def code_entry(body: bytes, local_groups: tuple[tuple[int, int], ...] = ()) -> bytes:
    payload = vec([u32(n) + bytes([t]) for n, t in local_groups]) + body
    return u32(len(payload)) + payload


def code(*entries: bytes) -> bytes:
    return section(SectionId.CODE, vec(list(entries)))


def const_i32(value: int) -> bytes:
    return bytes([I32_CONST]) + sleb(value) + END


def one_func(body: bytes, local_groups: tuple[tuple[int, int], ...] = (), *before_code: bytes) -> bytes:
    """A module with one ``() -> ()`` function whose body (without locals) is ``body``."""
    return module(types(functype()), functions(0), *before_code, code(code_entry(body, local_groups)))


def mem_section(count: int = 1) -> bytes:
    return section(SectionId.MEMORY, vec([b"\x00\x01"] * count))


def decode_raw(data: bytes, limits: DecodeLimits | None = None) -> Module:
    return decode(data, limits, validate=False)


def body_of(data: bytes) -> tuple[Instr, ...]:
    return decode_raw(data).funcs[0].body


# ---------------------------------------------------------------------------
# Header and section framing


def test_empty_module() -> None:
    m = decode(HEADER)
    assert m == Module()


@pytest.mark.parametrize(("data", "reason"), [
    pytest.param(b"", "unexpected end", id="empty"),
    pytest.param(b"\0as", "unexpected end", id="short-magic"),
    pytest.param(b"\0asn\x01\0\0\0", "magic header not detected", id="bad-magic"),
    pytest.param(b"wasm\x01\0\0\0", "magic header not detected", id="text-magic"),
    pytest.param(b"\0asm\x01\0", "unexpected end", id="short-version"),
    pytest.param(b"\0asm\x02\0\0\0", "unknown binary version", id="version-2"),
    pytest.param(b"\0asm\x0d\0\x01\0", "unknown binary version", id="component-layer"),
])
def test_header(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode(data)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("data", "reason"), [
    pytest.param(module(b"\x01"), "unexpected end", id="missing-size"),
    pytest.param(module(b"\x01\x80"), "unexpected end", id="truncated-size"),
    pytest.param(module(b"\x01\x05\x01\x60"), "length out of bounds", id="size-beyond-file"),
    pytest.param(module(b"\x0d\x00"), "malformed section id", id="id-13"),
    pytest.param(module(b"\xff\x00"), "malformed section id", id="id-255"),
    pytest.param(module(section(SectionId.TYPE, vec([functype()]) + b"\x00")), "section size mismatch",
                 id="type-extra-byte"),
    pytest.param(module(section(SectionId.TYPE, b"\x02" + functype())),
                 "unexpected end of section or function", id="type-count-too-big"),
    pytest.param(module(section(SectionId.START, b"")), "unexpected end of section or function",
                 id="start-empty"),
    pytest.param(module(section(SectionId.CUSTOM, b"")), "unexpected end of section or function",
                 id="custom-without-name"),
    pytest.param(module(section(SectionId.CUSTOM, b"\x05ab")), "length out of bounds", id="custom-name-cut"),
])
def test_section_framing(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_raw(data)
    assert caught.value.reason == reason


@pytest.mark.parametrize("sections", [
    pytest.param((functions(), types()), id="function-before-type"),
    pytest.param((types(), types()), id="duplicate-type"),
    pytest.param((mem_section(), section(SectionId.TABLE, vec([]))), id="memory-before-table"),
    pytest.param((code(), section(SectionId.DATA_COUNT, u32(0))), id="datacount-after-code"),
    pytest.param((section(SectionId.DATA, vec([])), code()), id="data-before-code"),
    pytest.param((section(SectionId.START, u32(0)), section(SectionId.START, u32(0))), id="duplicate-start"),
    pytest.param((section(SectionId.DATA_COUNT, u32(0)), section(SectionId.ELEMENT, vec([]))),
                 id="element-after-datacount"),
])
def test_section_order(sections: tuple[bytes, ...]) -> None:
    with pytest.raises(DecodeError, match="unexpected content after last section"):
        decode_raw(module(*sections))


def test_section_order_allows_datacount_between_element_and_code() -> None:
    m = decode_raw(module(section(SectionId.ELEMENT, vec([])), section(SectionId.DATA_COUNT, u32(0)), code(),
                          section(SectionId.DATA, vec([]))))
    assert [h.id for h in m.sections] == [SectionId.ELEMENT, SectionId.DATA_COUNT, SectionId.CODE,
                                          SectionId.DATA]
    assert m.data_count == 0


def test_section_headers_record_positions_and_counts() -> None:
    data = module(types(functype(), functype(bytes([I32]))), functions(0, 1, 0),
                  code(*[code_entry(END)] * 3), custom("meta", b"xyz"))
    m = decode_raw(data)
    assert [(h.id, h.count, h.name) for h in m.sections] == [
        (SectionId.TYPE, 2, None), (SectionId.FUNCTION, 3, None), (SectionId.CODE, 3, None),
        (SectionId.CUSTOM, None, "meta")]
    last = m.sections[-1]
    assert last.end == len(data) and last.size == len(name("meta")) + 3
    assert data[m.sections[0].start - 2] == SectionId.TYPE


# ---------------------------------------------------------------------------
# LEB128 and names


@pytest.mark.parametrize(("raw", "value"), [
    pytest.param(b"\x00", 0, id="zero"),
    pytest.param(b"\x7f", 127, id="127"),
    pytest.param(b"\x80\x01", 128, id="128"),
    pytest.param(b"\x80\x00", 0, id="padded-zero"),
    pytest.param(b"\x80\x80\x80\x80\x00", 0, id="five-byte-zero"),
    pytest.param(b"\xff\xff\xff\xff\x0f", 0xFFFFFFFF, id="max"),
])
def test_u32_valid(raw: bytes, value: int) -> None:
    assert read_u32(raw + b"\xaa", 0, len(raw) + 1) == (value, len(raw))


@pytest.mark.parametrize(("reader", "raw", "value"), [
    pytest.param(read_s32, b"\x7f", -1, id="s32-minus-one"),
    pytest.param(read_s32, b"\x40", -64, id="s32-minus-64"),
    pytest.param(read_s32, b"\xc0\x00", 64, id="s32-64"),
    pytest.param(read_s32, b"\x80\x80\x80\x80\x78", -(1 << 31), id="s32-min"),
    pytest.param(read_s32, b"\xff\xff\xff\xff\x07", (1 << 31) - 1, id="s32-max"),
    pytest.param(read_s32, b"\xff\xff\xff\xff\x7f", -1, id="s32-padded-minus-one"),
    pytest.param(read_s64, b"\x80" * 9 + b"\x7f", -(1 << 63), id="s64-min"),
    pytest.param(read_s64, b"\xff" * 9 + b"\x00", (1 << 63) - 1, id="s64-max"),
    pytest.param(read_s64, b"\xff" * 9 + b"\x7f", -1, id="s64-padded-minus-one"),
])
def test_signed_valid(reader: Callable[[bytes, int, int], tuple[int, int]], raw: bytes, value: int) -> None:
    assert reader(raw, 0, len(raw)) == (value, len(raw))


@pytest.mark.parametrize(("bits", "signed", "raw", "reason"), [
    pytest.param(32, False, b"\x80\x80\x80\x80\x80\x00", "integer representation too long",
                 id="u32-six-bytes"),
    pytest.param(32, False, b"\xff\xff\xff\xff\x1f", "integer too large", id="u32-bit-32"),
    pytest.param(32, False, b"\x82\x80\x80\x80\x70", "integer too large", id="u32-high-bits"),
    pytest.param(32, True, b"\x80\x80\x80\x80\x70", "integer too large", id="s32-unsigned-padding"),
    pytest.param(32, True, b"\xff\xff\xff\xff\x0f", "integer too large", id="s32-2pow32-minus-1"),
    pytest.param(32, True, b"\xff\xff\xff\xff\x4f", "integer too large", id="s32-mixed-padding"),
    pytest.param(33, True, b"\x80\x80\x80\x80\x60", "integer too large", id="s33-bad-padding"),
    pytest.param(64, True, b"\x80" * 9 + b"\x7e", "integer too large", id="s64-bad-padding"),
    pytest.param(64, True, b"\xff" * 9 + b"\x01", "integer too large", id="s64-positive-overflow"),
    pytest.param(64, True, b"\x80" * 10 + b"\x00", "integer representation too long", id="s64-eleven-bytes"),
    pytest.param(1, False, b"\x02", "integer too large", id="flag-2"),
    pytest.param(1, False, b"\x81\x00", "integer representation too long", id="flag-padded"),
    pytest.param(32, False, b"\x80\x80", "unexpected end of section or function", id="u32-truncated"),
    pytest.param(64, True, b"", "unexpected end of section or function", id="s64-empty"),
])
def test_leb_malformed(bits: int, signed: bool, raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        read_leb(raw, 0, len(raw), bits, signed)
    assert caught.value.reason == reason
    assert caught.value.offset is not None


def test_leb_never_reads_past_end() -> None:
    data = b"\x80\x80\x01"
    with pytest.raises(DecodeError):
        read_u32(data, 0, 2)  # the terminating byte lies beyond the bound


def test_bad_leb_in_module_names_section_and_offset() -> None:
    data = module(section(SectionId.MEMORY, vec([b"\x00" + b"\x81\x80\x80\x80\x80\x00"])))
    with pytest.raises(DecodeError) as caught:
        decode_raw(data)
    err = caught.value
    assert (err.reason, err.section, err.offset) == ("integer representation too long", "memory", 12)
    assert str(err) == "memory section, offset 0xc: integer representation too long"


@pytest.mark.parametrize("raw", [
    pytest.param(b"\xff", id="ff"),
    pytest.param(b"\xc0\x80", id="overlong-nul"),
    pytest.param(b"\xe0\x80\x80", id="overlong-3"),
    pytest.param(b"\xed\xa0\x80", id="surrogate"),
    pytest.param(b"\xf4\x90\x80\x80", id="above-10ffff"),
    pytest.param(b"\xe2\x82", id="truncated"),
    pytest.param(b"\x80", id="lone-continuation"),
])
@pytest.mark.parametrize("where", ["export", "import-module", "import-field", "custom-name"])
def test_malformed_utf8(raw: bytes, where: str) -> None:
    bad = u32(len(raw)) + raw
    sections = {
        "export": (functions(), section(SectionId.EXPORT, vec([bad + b"\x00\x00"]))),
        "import-module": (section(SectionId.IMPORT, vec([bad + name("f") + b"\x00\x00"])),),
        "import-field": (section(SectionId.IMPORT, vec([name("m") + bad + b"\x00\x00"])),),
        "custom-name": (section(SectionId.CUSTOM, bad),),
    }[where]
    with pytest.raises(DecodeError, match="malformed UTF-8 encoding"):
        decode_raw(module(*sections))


def test_utf8_names_decode() -> None:
    m = decode_raw(module(types(functype()), section(SectionId.IMPORT, vec([name("env") + name("ƒ→\U0001f600")
                                                                            + b"\x00\x00"]))))
    assert m.imports == (Import("env", "ƒ→\U0001f600", ExternKind.FUNC, 0),)


# ---------------------------------------------------------------------------
# Module-level sections


def test_every_section_decodes() -> None:
    data = module(
        types(functype(bytes([I32, I64]), bytes([F32])), functype()),
        section(SectionId.IMPORT, vec([
            name("env") + name("f") + b"\x00" + u32(1),
            name("env") + name("t") + b"\x01" + bytes([EXTERNREF]) + b"\x01\x02\x05",
            name("env") + name("m") + b"\x02\x00\x01",
            name("env") + name("g") + b"\x03" + bytes([F64]) + b"\x00",
        ])),
        functions(0),
        section(SectionId.TABLE, vec([bytes([FUNCREF]) + b"\x00\x03"])),
        section(SectionId.GLOBAL, vec([bytes([I32]) + b"\x01" + const_i32(-7)])),
        section(SectionId.EXPORT, vec([name("run") + b"\x00\x01", name("mem") + b"\x02\x00"])),
        section(SectionId.START, u32(0)),
        section(SectionId.DATA_COUNT, u32(1)),
        code(code_entry(bytes([Opcode.F32_CONST]) + struct.pack("<f", 1.5) + END, ((2, I32), (1, F64)))),
        section(SectionId.DATA, vec([b"\x00" + const_i32(8) + name("hi")])),
    )
    m = decode_raw(data)
    assert m.types == (FuncType((ValType.I32, ValType.I64), (ValType.F32,)), FuncType((), ()))
    assert m.imports == (
        Import("env", "f", ExternKind.FUNC, 1),
        Import("env", "t", ExternKind.TABLE, TableType(ValType.EXTERNREF, Limits(2, 5))),
        Import("env", "m", ExternKind.MEMORY, MemType(Limits(1))),
        Import("env", "g", ExternKind.GLOBAL, GlobalType(ValType.F64, False)),
    )
    assert m.tables == (TableType(ValType.FUNCREF, Limits(3)),)
    assert m.globals[0].type == GlobalType(ValType.I32, True)
    assert [(i.op, i.imm) for i in m.globals[0].init] == [(Opcode.I32_CONST, -7), (Opcode.END, None)]
    assert m.exports == (Export("run", ExternKind.FUNC, 1), Export("mem", ExternKind.MEMORY, 0))
    assert m.start == 0 and m.data_count == 1
    func = m.funcs[0]
    assert func.type_index == 0
    assert func.locals == (ValType.I32, ValType.I32, ValType.F64)
    assert [(i.op, i.imm) for i in func.body] == [(Opcode.F32_CONST, 0x3FC00000), (Opcode.END, None)]
    assert data[func.offset - 1] == func.size and func.offset + func.size == m.sections[8].end
    assert m.datas == (Data(b"hi", SegmentMode.ACTIVE, 0, m.datas[0].offset),)
    assert m.num_imported_funcs == 1 and m.func_types[1] == m.types[0]


@pytest.mark.parametrize(("payload", "reason"), [
    pytest.param(section(SectionId.IMPORT, vec([name("a") + name("b") + b"\x04\x00"])),
                 "malformed import kind", id="import-kind-4"),
    pytest.param(section(SectionId.EXPORT, vec([name("a") + b"\x04\x00"])), "malformed export kind",
                 id="export-kind-4"),
    pytest.param(section(SectionId.GLOBAL, vec([bytes([I32]) + b"\x02" + const_i32(0)])),
                 "malformed mutability", id="mutability-2"),
    pytest.param(section(SectionId.TABLE, vec([bytes([I32]) + b"\x00\x00"])), "malformed reference type",
                 id="table-i32"),
    pytest.param(section(SectionId.TABLE, vec([bytes([FUNCREF]) + b"\x02\x00"])), "integer too large",
                 id="limits-flag-2"),
    pytest.param(section(SectionId.MEMORY, vec([b"\x03\x00\x00"])), "integer too large",
                 id="shared-memory-flag"),
    pytest.param(types(b"\x5f\x00\x00"), "malformed function type", id="functype-form"),
    pytest.param(types(b"\xe0\x7f\x00\x00"), "integer representation too long", id="functype-form-leb"),
    pytest.param(types(functype(b"\x7a")), "malformed value type", id="valtype-7a"),
    pytest.param(section(SectionId.GLOBAL, vec([bytes([I32]) + b"\x00\x41\x00"])),
                 "unexpected end of section or function", id="global-init-without-end"),
])
def test_malformed_section_contents(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_raw(module(payload))
    assert caught.value.reason == reason


@pytest.mark.parametrize(("sections", "reason"), [
    pytest.param((types(functype()), functions(0)), "function and code section have inconsistent lengths",
                 id="functions-without-code"),
    pytest.param((code(code_entry(END)),), "function and code section have inconsistent lengths",
                 id="code-without-functions"),
    pytest.param((types(functype()), functions(0, 0), code(code_entry(END))),
                 "function and code section have inconsistent lengths", id="fewer-bodies"),
    pytest.param((section(SectionId.DATA_COUNT, u32(2)), section(SectionId.DATA, vec([b"\x01" + name("x")]))),
                 "data count and data section have inconsistent lengths", id="datacount-2-data-1"),
    pytest.param((section(SectionId.DATA_COUNT, u32(1)),),
                 "data count and data section have inconsistent lengths", id="datacount-without-data"),
    pytest.param((section(SectionId.DATA, vec([b"\x03" + name("x")])),), "malformed data segment kind",
                 id="data-flag-3"),
    pytest.param((section(SectionId.DATA, vec([b"\x01" + u32(5) + b"abc"])),),
                 "unexpected end of section or function", id="data-bytes-cut"),
])
def test_cross_section_rules(sections: tuple[bytes, ...], reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_raw(module(*sections))
    assert caught.value.reason == reason


def test_empty_function_section_needs_no_code_and_zero_datacount_no_data() -> None:
    m = decode_raw(module(functions(), section(SectionId.DATA_COUNT, u32(0))))
    assert m.funcs == () and m.data_count == 0


@pytest.mark.parametrize(("flags", "payload"), [
    pytest.param(0, b"", id="active"),
    pytest.param(1, b"", id="passive"),
    pytest.param(2, u32(0), id="active-explicit-memory"),
])
def test_data_segment_encodings(flags: int, payload: bytes) -> None:
    seg = u32(flags) + payload + (b"" if flags == 1 else const_i32(16)) + name("abc")
    (data,) = decode_raw(module(section(SectionId.DATA, vec([seg])))).datas
    assert data.init == b"abc"
    assert data.mode == (SegmentMode.PASSIVE if flags == 1 else SegmentMode.ACTIVE)
    assert data.offset is None if flags == 1 else [i.imm for i in data.offset] == [16, None]


# ---------------------------------------------------------------------------
# Element segments: all eight encodings

FUNC_INDICES = vec([u32(0), u32(1)])
EXPR_ITEMS = vec([bytes([Opcode.REF_FUNC]) + u32(0) + END, bytes([Opcode.REF_NULL, FUNCREF]) + END])
OFFSET = const_i32(4)

ELEM_CASES = [
    # flags, encoded segment after the flags, mode, table, type, item opcodes
    (0, OFFSET + FUNC_INDICES, SegmentMode.ACTIVE, 0, ValType.FUNCREF, "funcs"),
    (1, b"\x00" + FUNC_INDICES, SegmentMode.PASSIVE, 0, ValType.FUNCREF, "funcs"),
    (2, u32(3) + OFFSET + b"\x00" + FUNC_INDICES, SegmentMode.ACTIVE, 3, ValType.FUNCREF, "funcs"),
    (3, b"\x00" + FUNC_INDICES, SegmentMode.DECLARATIVE, 0, ValType.FUNCREF, "funcs"),
    (4, OFFSET + EXPR_ITEMS, SegmentMode.ACTIVE, 0, ValType.FUNCREF, "exprs"),
    (5, bytes([EXTERNREF]) + EXPR_ITEMS, SegmentMode.PASSIVE, 0, ValType.EXTERNREF, "exprs"),
    (6, u32(2) + OFFSET + bytes([FUNCREF]) + EXPR_ITEMS, SegmentMode.ACTIVE, 2, ValType.FUNCREF, "exprs"),
    (7, bytes([FUNCREF]) + EXPR_ITEMS, SegmentMode.DECLARATIVE, 0, ValType.FUNCREF, "exprs"),
]


@pytest.mark.parametrize(("flags", "payload", "mode", "table", "elem_type", "items"),
                         [pytest.param(*case, id=f"flags-{case[0]}") for case in ELEM_CASES])
def test_element_encodings(flags: int, payload: bytes, mode: SegmentMode, table: int, elem_type: ValType,
                           items: str) -> None:
    (elem,) = decode_raw(module(section(SectionId.ELEMENT, vec([u32(flags) + payload])))).elems
    assert (elem.mode, elem.table, elem.type) == (mode, table, elem_type)
    if mode == SegmentMode.ACTIVE:
        assert elem.offset is not None
        assert [(i.op, i.imm) for i in elem.offset] == [(Opcode.I32_CONST, 4), (Opcode.END, None)]
    else:
        assert elem.offset is None
    decoded = [[(i.op, i.imm) for i in expr] for expr in elem.init]
    if items == "funcs":
        assert decoded == [[(Opcode.REF_FUNC, 0), (Opcode.END, None)],
                           [(Opcode.REF_FUNC, 1), (Opcode.END, None)]]
    else:
        assert decoded == [[(Opcode.REF_FUNC, 0), (Opcode.END, None)],
                           [(Opcode.REF_NULL, ValType.FUNCREF), (Opcode.END, None)]]


def test_element_function_index_offsets_point_at_the_index() -> None:
    data = module(section(SectionId.ELEMENT, vec([b"\x00" + OFFSET + vec([u32(300)])])))
    (elem,) = decode_raw(data).elems
    ref = elem.init[0][0]
    assert ref == Instr(Opcode.REF_FUNC, 300, ref.offset) and data[ref.offset:ref.offset + 2] == u32(300)


@pytest.mark.parametrize(("segment", "reason"), [
    pytest.param(u32(8) + OFFSET + FUNC_INDICES, "malformed elements segment kind", id="flags-8"),
    pytest.param(u32(1) + b"\x01" + FUNC_INDICES, "malformed element kind", id="elemkind-1"),
    pytest.param(u32(5) + bytes([I32]) + EXPR_ITEMS, "malformed reference type", id="reftype-i32"),
    pytest.param(u32(5) + bytes([FUNCREF]) + vec([b"\xf3\x00" + END]), "illegal opcode 0xf3",
                 id="illegal-opcode-in-item"),
])
def test_element_malformed(segment: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_raw(module(section(SectionId.ELEMENT, vec([segment]))))
    assert caught.value.reason == reason and caught.value.section == "element"


# ---------------------------------------------------------------------------
# Custom sections and the name section


def _full_module_sections() -> list[bytes]:
    return [
        types(functype()),
        section(SectionId.IMPORT, vec([name("env") + name("f") + b"\x00\x00"])),
        functions(0),
        section(SectionId.TABLE, vec([bytes([FUNCREF]) + b"\x00\x01"])),
        mem_section(),
        section(SectionId.GLOBAL, vec([bytes([I32]) + b"\x00" + const_i32(1)])),
        section(SectionId.EXPORT, vec([name("f") + b"\x00\x01"])),
        section(SectionId.START, u32(1)),
        section(SectionId.ELEMENT, vec([b"\x00" + OFFSET + vec([u32(1)])])),
        section(SectionId.DATA_COUNT, u32(1)),
        code(code_entry(END)),
        section(SectionId.DATA, vec([b"\x01" + name("d")])),
    ]


@pytest.mark.parametrize("position", range(13))
def test_custom_section_in_every_position(position: int) -> None:
    sections = _full_module_sections()
    sections.insert(position, custom("probe", b"\x01\x02\x03"))
    data = module(custom("first"), *sections, custom("last", b"!"))
    m = decode(data)
    assert [(c.name, c.data) for c in m.customs] == [
        ("first", b""), ("probe", b"\x01\x02\x03"), ("last", b"!")]
    probe = m.customs[1]
    assert data[probe.offset:probe.offset + 3] == b"\x01\x02\x03"
    assert [h.id for h in m.sections].count(SectionId.CUSTOM) == 3
    assert len(m.sections) == 15


def _name_section(*subsections: tuple[int, bytes]) -> bytes:
    return custom("name", b"".join(bytes([sid]) + u32(len(body)) + body for sid, body in subsections))


def _name_map(entries: dict[int, str]) -> bytes:
    return vec([u32(i) + name(n) for i, n in entries.items()])


NAMED_MODULE_SECTIONS = (
    types(functype(bytes([I32]))),
    section(SectionId.IMPORT, vec([name("env") + name("imp") + b"\x00\x00"])),
    functions(0, 0),
    code(code_entry(END, ((1, I64),)), code_entry(END)),
)


def test_name_section() -> None:
    names = _name_section(
        (0, name("mod")),
        (1, _name_map({0: "imported", 1: "first", 2: "second"})),
        (2, vec([u32(1) + _name_map({0: "param", 1: "local"})])),
        (7, vec([u32(0) + name("a global")])),  # extended-name subsection: skipped
    )
    m = decode(module(*NAMED_MODULE_SECTIONS, names))
    assert m.names.module == "mod"
    assert m.names.functions == {0: "imported", 1: "first", 2: "second"}
    assert m.names.locals == {1: {0: "param", 1: "local"}}
    assert [f.name for f in m.funcs] == ["first", "second"]
    assert m.funcs[0].local_names == {0: "param", 1: "local"} and m.funcs[1].local_names == {}
    assert m.func_name(0) == "imported"


@pytest.mark.parametrize("names", [
    pytest.param(custom("name", b"\x01\x05\x01\x00"), id="subsection-cut"),
    pytest.param(_name_section((1, vec([u32(0) + u32(1) + b"\xff"]))), id="bad-utf8"),
    pytest.param(_name_section((1, _name_map({0: "f"}) + b"\x00")), id="subsection-size-mismatch"),
    pytest.param(_name_section((1, _name_map({0: "f"})), (0, name("late"))), id="out-of-order"),
    pytest.param(_name_section((1, u32(1000))), id="count-too-big"),
])
def test_malformed_name_section_is_ignored(names: bytes) -> None:
    m = decode(module(*NAMED_MODULE_SECTIONS, names))
    assert m.names.module is None and m.names.functions == {} and m.funcs[0].name is None
    assert m.customs[0].name == "name"


# ---------------------------------------------------------------------------
# Function bodies


def _imm_bytes(imm: Imm) -> tuple[bytes, object]:
    """Encoded immediates for one instruction of each kind, and their decoded value."""
    table: dict[Imm, tuple[bytes, object]] = {
        Imm.NONE: (b"", None),
        Imm.BLOCKTYPE: (bytes([I64]), ValType.I64),
        Imm.LABEL: (u32(2), 2),
        Imm.LABELS: (vec([u32(0), u32(300)]) + u32(1), ((0, 300), 1)),
        Imm.FUNC: (u32(129), 129),
        Imm.CALL_INDIRECT: (u32(3) + u32(1), (3, 1)),
        Imm.LOCAL: (u32(70000), 70000),
        Imm.GLOBAL: (u32(5), 5),
        Imm.TABLE: (u32(2), 2),
        Imm.MEMARG: (u32(2) + u32(1 << 20), (2, 1 << 20)),
        Imm.MEMIDX: (b"\x00", 0),
        Imm.I32: (sleb(-(1 << 31)), -(1 << 31)),
        Imm.I64: (sleb(-(1 << 40)), -(1 << 40)),
        Imm.F32: (struct.pack("<I", 0x7FA00001), 0x7FA00001),
        Imm.F64: (struct.pack("<Q", 0xFFF0000000000001), 0xFFF0000000000001),
        Imm.REFTYPE: (bytes([EXTERNREF]), ValType.EXTERNREF),
        Imm.VALTYPES: (vec([bytes([F64])]), (ValType.F64,)),
        Imm.MEMORY_INIT: (u32(4) + b"\x00", 4),
        Imm.DATA: (u32(6), 6),
        Imm.MEMORY_COPY: (b"\x00\x00", None),
        Imm.TABLE_INIT: (u32(7) + u32(1), (7, 1)),
        Imm.ELEM: (u32(8), 8),
        Imm.TABLE_COPY: (u32(1) + u32(2), (1, 2)),
    }
    return table[imm]


def _opcode_bytes(op: int) -> bytes:
    return bytes([op]) if op < 0x100 else bytes([op >> 8]) + u32(op & 0xFF)


@pytest.mark.parametrize("info", [
    pytest.param(info, id=info.name + ("_t" if info.op == Opcode.SELECT_T else "")) for info in OPS.values()])
def test_every_opcode_decodes(info: OpInfo) -> None:
    op = info.op
    raw, expected = _imm_bytes(info.imm)
    closing = {Opcode.BLOCK: END, Opcode.LOOP: END, Opcode.IF: END, Opcode.ELSE: END}.get(op, b"")
    prefix = bytes([Opcode.IF, 0x40]) if op == Opcode.ELSE else b""
    final = b"" if op == Opcode.END else END  # the function's own end
    body = prefix + _opcode_bytes(op) + raw + closing + final
    data = one_func(body, (), section(SectionId.DATA_COUNT, u32(0)))
    instrs = body_of(data)
    instr = instrs[1 if prefix else 0]
    assert (instr.op, instr.imm) == (op, expected)
    assert type(instr.op) is Opcode
    assert data[instr.offset:instr.offset + len(_opcode_bytes(op))] == _opcode_bytes(op)
    assert instrs[-1].op == Opcode.END
    assert len(instrs) == (len(prefix) > 0) + 1 + (len(closing) > 0) + (len(final) > 0)


@pytest.mark.parametrize(("blocktype", "expected"), [
    pytest.param(b"\x40", None, id="empty"),
    pytest.param(bytes([I32]), ValType.I32, id="i32"),
    pytest.param(bytes([EXTERNREF]), ValType.EXTERNREF, id="externref"),
    pytest.param(b"\x00", 0, id="type-0"),
    pytest.param(b"\x81\x01", 129, id="type-129"),
    pytest.param(b"\xff\xff\xff\xff\x0f", 0xFFFFFFFF, id="type-max"),
])
def test_block_types(blocktype: bytes, expected: object) -> None:
    instrs = body_of(one_func(bytes([Opcode.BLOCK]) + blocktype + END + END))
    assert instrs[0].imm == expected


@pytest.mark.parametrize(("body", "reason"), [
    pytest.param(bytes([Opcode.NOP]), "END opcode expected", id="no-end"),
    pytest.param(bytes([Opcode.BLOCK, 0x40]) + END, "END opcode expected", id="block-not-closed"),
    pytest.param(END + bytes([Opcode.NOP]), "section size mismatch", id="bytes-after-end"),
    pytest.param(bytes([Opcode.ELSE]) + END, "END opcode expected", id="else-in-function"),
    pytest.param(bytes([Opcode.BLOCK, 0x40, Opcode.ELSE]) + END + END, "END opcode expected",
                 id="else-in-block"),
    pytest.param(bytes([Opcode.IF, 0x40, Opcode.ELSE, Opcode.ELSE]) + END + END, "END opcode expected",
                 id="two-elses"),
    pytest.param(b"\xff" + END, "illegal opcode 0xff", id="opcode-ff"),
    pytest.param(b"\x06" + END, "illegal opcode 0x06", id="opcode-06-try"),
    pytest.param(b"\xfc\x12" + END, "illegal opcode 0xfc 0x12", id="fc-18"),
    pytest.param(b"\xfc\x80\x02" + END, "illegal opcode 0xfc 0x100", id="fc-256"),
    pytest.param(bytes([Opcode.MEMORY_SIZE, 0x01]) + END, "zero byte expected", id="memory-size-1"),
    pytest.param(bytes([Opcode.MEMORY_GROW, 0x80, 0x00]) + END, "zero byte expected",
                 id="memory-grow-padded"),
    pytest.param(b"\xfc\x0a\x00\x01" + END, "zero byte expected", id="memory-copy-src-1"),
    pytest.param(b"\xfc\x0b\x01" + END, "zero byte expected", id="memory-fill-1"),
    pytest.param(bytes([Opcode.BLOCK, 0x80, 0x7F]) + END + END, "malformed block type",
                 id="negative-type-index"),
    pytest.param(bytes([Opcode.BLOCK, 0x50]) + END + END, "malformed value type", id="blocktype-50"),
    pytest.param(bytes([Opcode.REF_NULL, I32]) + END, "malformed reference type", id="ref-null-i32"),
    pytest.param(bytes([Opcode.I32_CONST]) + b"\x80\x80\x80\x80\x80\x00" + END,
                 "integer representation too long", id="i32-const-too-long"),
    pytest.param(bytes([Opcode.F64_CONST]) + b"\x00" * 7, "unexpected end of section or function",
                 id="f64-const-cut"),
])
def test_malformed_body(body: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_raw(one_func(body))
    assert caught.value.reason == reason
    assert (caught.value.section, caught.value.func) == ("code", 0)


def test_error_names_section_function_and_offset() -> None:
    data = module(types(functype()), section(SectionId.IMPORT, vec([name("m") + name("f") + b"\x00\x00"])),
                  functions(0, 0, 0), code(code_entry(END), code_entry(END), code_entry(b"\x01\xff" + END)))
    with pytest.raises(DecodeError) as caught:
        decode_raw(data)
    offset = len(data) - 2
    assert data[offset] == 0xFF
    assert str(caught.value) == f"code section, func 3, offset {offset:#x}: illegal opcode 0xff"


DATA_USES = [pytest.param(b"\xfc\x09\x00", id="data.drop"),
             pytest.param(b"\x41\x00\x41\x00\x41\x00\xfc\x08\x00\x00", id="memory.init")]
PASSIVE_DATA = section(SectionId.DATA, vec([b"\x01" + vec([b"\x00"])]))


@pytest.mark.parametrize("instr", DATA_USES)
def test_data_count_required_for_memory_init_and_data_drop(instr: bytes) -> None:
    with pytest.raises(DecodeError, match="data count section required") as caught:
        decode_raw(one_func(instr + END, (), mem_section()) + PASSIVE_DATA)
    assert (caught.value.section, caught.value.func) == ("code", 0)
    count = section(SectionId.DATA_COUNT, u32(1))
    assert decode_raw(one_func(instr + END, (), mem_section(), count) + PASSIVE_DATA)


@pytest.mark.parametrize("instr", DATA_USES)
def test_data_index_without_any_data_section_is_invalid_not_malformed(instr: bytes) -> None:
    data = one_func(instr + END, (), mem_section())
    assert decode_raw(data)
    with pytest.raises(ValidationError, match="unknown data segment"):
        decode(data)


def test_nested_blocks_and_else() -> None:
    body = bytes([Opcode.BLOCK, 0x40, Opcode.LOOP, 0x40, Opcode.I32_CONST, 1, Opcode.IF, 0x40, Opcode.NOP,
                  Opcode.ELSE, Opcode.NOP]) + END + END + END + END
    ops = [i.op for i in body_of(one_func(body))]
    assert ops == [Opcode.BLOCK, Opcode.LOOP, Opcode.I32_CONST, Opcode.IF, Opcode.NOP, Opcode.ELSE,
                   Opcode.NOP, Opcode.END, Opcode.END, Opcode.END, Opcode.END]


def test_locals_are_expanded_in_order() -> None:
    (func,) = decode_raw(one_func(END, ((2, I64), (0, F32), (1, EXTERNREF), (3, F64)))).funcs
    assert func.locals == (ValType.I64,) * 2 + (ValType.EXTERNREF,) + (ValType.F64,) * 3


@pytest.mark.parametrize(("groups", "reason"), [
    pytest.param(((0xFFFFFFFF, I32), (1, I32)), "too many locals", id="sum-2pow32"),
    pytest.param(((1 << 30, I32),) * 4, "too many locals", id="four-2pow30"),
    pytest.param(((1, 0x7A),), "malformed value type", id="bad-type"),
])
def test_malformed_locals(groups: tuple[tuple[int, int], ...], reason: str) -> None:
    with pytest.raises(DecodeError) as caught:
        decode_raw(one_func(END, groups))
    assert caught.value.reason == reason


# ---------------------------------------------------------------------------
# SIMD is refused as an unsupported feature

SIMD_MODULES = {
    "prefix-fd": one_func(b"\xfd\x0c" + b"\x00" * 16 + b"\x1a" + END),
    "v128-param": module(types(functype(bytes([V128])))),
    "v128-local": one_func(END, ((1, V128),)),
    "v128-blocktype": one_func(bytes([Opcode.BLOCK, V128]) + END + END),
    "v128-global": module(section(SectionId.GLOBAL, vec([bytes([V128]) + b"\x00" + END]))),
    "v128-select-t": one_func(bytes([Opcode.SELECT_T]) + vec([bytes([V128])]) + END),
}


@pytest.mark.parametrize("data", [pytest.param(d, id=k) for k, d in SIMD_MODULES.items()])
def test_simd_is_unsupported(data: bytes) -> None:
    with pytest.raises(UnsupportedFeature, match="unsupported feature: simd"):
        decode_raw(data)


# ---------------------------------------------------------------------------
# Limits


def _many(n: int, item: bytes) -> list[bytes]:
    return [item] * n


PASSIVE_TWO_ITEMS = b"\x01\x00" + vec(_many(2, u32(0)))
LIMIT_CASES: dict[str, tuple[int, bytes]] = {
    # limit name: (maximum used, module exceeding it by one)
    "module_size": (20, module(custom("pad", b"\x00" * 20))),
    "types": (2, module(types(*_many(3, functype())))),
    "functions": (2, module(types(functype()), functions(0, 0, 0), code(*_many(3, code_entry(END))))),
    "imports": (1, module(types(functype()),
                          section(SectionId.IMPORT, vec(_many(2, name("m") + name("f") + b"\x00\x00"))))),
    "exports": (1, module(section(SectionId.EXPORT, vec([name(n) + b"\x00\x00" for n in "ab"])))),
    "globals": (1, module(section(SectionId.GLOBAL, vec(_many(2, bytes([I32]) + b"\x00" + const_i32(0)))))),
    "tables": (1, module(section(SectionId.TABLE, vec(_many(2, bytes([FUNCREF]) + b"\x00\x00"))))),
    "memories": (1, module(mem_section(2))),
    "data_segments": (1, module(section(SectionId.DATA, vec(_many(2, b"\x01" + name("x")))))),
    "elem_segments": (1, module(section(SectionId.ELEMENT, vec(_many(2, b"\x01\x00" + vec([u32(0)])))))),
    "elem_items": (3, module(section(SectionId.ELEMENT, vec(_many(2, PASSIVE_TWO_ITEMS))))),
    "params": (2, module(types(functype(bytes([I32] * 3))))),
    "results": (0, module(types(functype(b"", bytes([I32]))))),
    "locals": (10, one_func(END, ((5, I32), (6, I64)))),
    "body_size": (3, one_func(bytes([Opcode.NOP, Opcode.NOP]) + END)),
    "nesting_depth": (2, one_func(bytes([Opcode.BLOCK, 0x40] * 3) + END * 4)),
    "br_table_size": (2, one_func(bytes([Opcode.I32_CONST, 0, Opcode.BR_TABLE]) + vec(_many(3, u32(0)))
                                  + u32(0) + END)),
    "name_length": (3, module(section(SectionId.EXPORT, vec([name("abcd") + b"\x00\x00"])))),
    "carried_values": (0, one_func(bytes([Opcode.BLOCK, I32, Opcode.I32_CONST, 0, Opcode.BR, 0, Opcode.END,
                                          Opcode.DROP]) + END)),
}


@pytest.mark.parametrize(("limit", "maximum", "data"),
                         [pytest.param(k, m, d, id=k) for k, (m, d) in LIMIT_CASES.items()])
def test_limit_exceeded(limit: str, maximum: int, data: bytes) -> None:
    limits = DecodeLimits(**{limit: maximum})
    with pytest.raises(LimitError) as caught:
        decode_raw(data, limits)
    err = caught.value
    assert (err.limit, err.maximum) == (limit, maximum) and err.value > maximum
    assert str(err).endswith(f"limit exceeded: {limit} ({err.value} > {maximum})")
    decode_raw(data, DecodeLimits(**{limit: err.value}))  # one more and it decodes


def test_all_limits_are_covered() -> None:
    assert set(LIMIT_CASES) == {f.name for f in dataclasses.fields(DecodeLimits)}


@pytest.mark.parametrize(("limit", "kind"), [
    pytest.param("functions", b"\x00\x00", id="functions"),
    pytest.param("memories", b"\x02\x00\x00", id="memories"),
    pytest.param("globals", bytes([3, I32, 0]), id="globals"),
    pytest.param("tables", bytes([1, FUNCREF, 0, 0]), id="tables"),
])
def test_limits_count_imports(limit: str, kind: bytes) -> None:
    imports = section(SectionId.IMPORT, vec(_many(2, name("m") + name("x") + kind)))
    with pytest.raises(LimitError) as caught:
        decode_raw(module(types(functype()), imports), DecodeLimits(**{limit: 1}))
    assert (caught.value.limit, caught.value.value, caught.value.section) == (limit, 2, "import")


def test_huge_declared_count_fails_before_allocating() -> None:
    data = module(section(SectionId.TYPE, u32(0xFFFFFFFF)))
    with pytest.raises(DecodeError):
        decode_raw(data, DecodeLimits(types=1 << 40))
    data = one_func(END, ((0xFFFFFFF0, I32),))
    with pytest.raises(LimitError):
        decode_raw(data, DecodeLimits())


def test_bytearray_and_memoryview_inputs() -> None:
    data = one_func(END)
    assert decode_raw(bytearray(data)) == decode_raw(data) == decode(memoryview(data), validate=False)


def test_decode_restores_the_garbage_collector_setting() -> None:
    import gc

    gc.enable()  # the process-wide setting, which a broker thread of an earlier test may have changed
    decode_raw(one_func(END))
    assert gc.isenabled()
    with pytest.raises(DecodeError):
        decode(b"\0asm\x01\0\0\0\x01\xff")
    assert gc.isenabled()
    gc.disable()
    try:
        decode_raw(one_func(END))
        assert not gc.isenabled()
    finally:
        gc.enable()
