"""The binary decoder: ``bytes`` -> :class:`Module` (spec chapter 5, WebAssembly 2.0).

Theory of operation
-------------------
After the magic and version, a module is a sequence of sections, each an id
byte, a u32 size and a payload of exactly that size. :func:`decode` walks
them once: every section gets a :class:`Reader` bounded by its own end, so
no read can run into the next section, and a payload that is not consumed
exactly is "section size mismatch". Known sections must appear at most once
and in the spec's order (data count sits between element and code); custom
sections may appear anywhere and are kept verbatim. Cross-section rules
(function vs code counts, data count vs data segments, data count required
by ``memory.init``/``data.drop``) are checked where the second section is
met, or after the last section.

Untrusted input cannot make the decoder allocate or loop beyond what the
bytes justify: every vector length is checked against its
:class:`DecodeLimits` entry and against the bytes remaining (each element
takes at least one byte) before anything is built, local declarations are
summed before they are expanded, and everything is linear in the input.

Instructions
------------
Function bodies and constant expressions decode into tuples of
:class:`Instr` by one iterative loop (:func:`decode_expr`, deliberately a
single longer function: it is the hot path). A per-byte dispatch table,
derived from the opcode table ``OPS``, sorts each opcode into a few
immediate shapes; the common shapes (none, one u32 index, an i32 constant,
a memarg) are read inline with a single-byte fast path, the rest by small
reader functions. A stack of open ``block``/``loop``/``if`` opcodes makes
the expression end exactly at its final ``end``, places ``else`` only in an
``if``, and bounds the nesting depth. SIMD (``0xFD`` prefix, ``v128``) is
refused as :class:`UnsupportedFeature`.

Errors are :class:`DecodeError` (spec: malformed) with the spec's message,
wrapped with the section name and function index where they occurred.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import IntEnum, IntFlag
from typing import Any

from .carried import carried_values, widest
from .errors import DecodeError, LimitError, UnsupportedFeature
from .limits import DEFAULT_LIMITS, DecodeLimits
from .module import (
    SECTION_NAMES,
    CodeInfo,
    CustomSection,
    Data,
    Elem,
    Export,
    Expr,
    Func,
    Global,
    Import,
    Instr,
    Module,
    Names,
    SectionHeader,
    SectionId,
    SegmentMode,
)
from .names import NAME_SECTION, parse_names
from .opcodes import OPS, PREFIX_MISC, PREFIX_SIMD, Imm, Opcode
from .reader import (
    LebBits,
    Malformed,
    Reader,
    read_byte,
    read_fixed,
    read_leb,
    read_s32,
    read_s64,
    read_u32,
    read_zero_byte,
    reftype_of,
    valtype_of,
)
from .types import ExternKind, FuncType, GlobalType, Limits, MemType, Mut, TableType, TypeCode, ValType
from .validator import validate as validate_module

MAGIC = b"\0asm"
VERSION = b"\x01\x00\x00\x00"
HEADER_SIZE = len(MAGIC) + len(VERSION)

SECTION_ORDER: dict[int, int] = {
    SectionId.TYPE: 1,
    SectionId.IMPORT: 2,
    SectionId.FUNCTION: 3,
    SectionId.TABLE: 4,
    SectionId.MEMORY: 5,
    SectionId.GLOBAL: 6,
    SectionId.EXPORT: 7,
    SectionId.START: 8,
    SectionId.ELEMENT: 9,
    SectionId.DATA_COUNT: 10,
    SectionId.CODE: 11,
    SectionId.DATA: 12,
}
"""Where each non-custom section must appear relative to the others."""

U32_LIMIT = 1 << 32


class ElemFlag(IntFlag):
    """Bits of an element segment's flags field (encodings 0..7)."""

    PASSIVE = 1  # not active: passive, or declarative with DECLARATIVE_OR_TABLE
    DECLARATIVE_OR_TABLE = 2  # active: explicit table index; otherwise: declarative
    EXPRESSIONS = 4  # items are constant expressions, not function indices


ELEM_FLAGS_MAX = 7
ELEM_KIND_FUNCREF = 0x00


class DataFlag(IntEnum):
    """Data segment encodings."""

    ACTIVE = 0
    PASSIVE = 1
    ACTIVE_EXPLICIT = 2


# ---------------------------------------------------------------------------
# Instruction decoding


class _Shape(IntEnum):
    """How the expression loop reads an opcode's immediates."""

    NONE = 0
    U32 = 1  # one u32 index: label, function, local, global, table, elem, data
    BLOCK = 2
    I32 = 3
    MEMARG = 4
    OTHER = 5  # read by a function of _READERS
    PREFIX = 6  # 0xFC: a u32 sub-opcode follows
    SIMD = 7
    ILLEGAL = 8
    END = 9  # closes a block or the expression
    ELSE = 10


_ImmReader = Callable[[bytes, int, int], tuple[Any, int]]


def _read_blocktype(data: bytes, pos: int, end: int) -> tuple[ValType | int | None, int]:
    """0x40 (empty), a one-byte value type, or a non-negative s33 type index."""
    byte, nxt = read_byte(data, pos, end)
    if byte == TypeCode.EMPTY_BLOCK:
        return None, nxt
    if byte & 0xC0 == 0x40:  # a negative one-byte s33: only value types live there
        return valtype_of(byte, pos), nxt
    index, nxt = read_leb(data, pos, end, LebBits.S33, True)
    if index < 0:
        raise DecodeError(Malformed.BLOCK_TYPE, pos)
    return index, nxt


def _carry_check(types: list[FuncType], imports: list[Import], func_types: list[int],
                 limits: DecodeLimits) -> list[int] | None:
    """Every function's type index, when some type passes more values than the limit allows per byte.

    Otherwise no instruction can pass more values than its own size allows,
    and the bodies need no counting (see :mod:`.carried`).
    """
    if widest(types) <= limits.carried_values:
        return None
    imported = [i.desc for i in imports if i.kind is ExternKind.FUNC and isinstance(i.desc, int)]
    return [*imported, *func_types]


def _read_labels(data: bytes, pos: int, end: int, maximum: int) -> tuple[tuple[tuple[int, ...], int], int]:
    """br_table's label vector and default label."""
    offset = pos
    count, pos = read_u32(data, pos, end)
    if count > maximum:
        raise LimitError("br_table_size", count, maximum, offset)
    if count > end - pos:
        raise DecodeError(Malformed.UNEXPECTED_END_OF_SECTION, offset)
    labels = []
    for _ in range(count):
        label, pos = read_u32(data, pos, end)
        labels.append(label)
    default, pos = read_u32(data, pos, end)
    return (tuple(labels), default), pos


def _read_u32_pair(data: bytes, pos: int, end: int) -> tuple[tuple[int, int], int]:
    """Two u32s: call_indirect (type, table), table.init (elem, table), table.copy (dst, src)."""
    first, pos = read_u32(data, pos, end)
    second, pos = read_u32(data, pos, end)
    return (first, second), pos


_read_memarg = _read_u32_pair  # (align exponent, offset)


def _read_f32(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """An f32 constant's raw bits (floats stay bit patterns: NaN payloads must survive)."""
    return read_fixed(data, pos, end, 4)


def _read_f64(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """An f64 constant's raw bits."""
    return read_fixed(data, pos, end, 8)


def _read_memidx(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """memory.size/grow/fill: the reserved memory index, always 0 in WebAssembly 2.0."""
    return 0, read_zero_byte(data, pos, end)


def _read_reftype(data: bytes, pos: int, end: int) -> tuple[ValType, int]:
    byte, nxt = read_byte(data, pos, end)
    return reftype_of(byte, pos), nxt


def _read_valtypes(data: bytes, pos: int, end: int) -> tuple[tuple[ValType, ...], int]:
    """Typed select's vector of value types."""
    offset = pos
    count, pos = read_u32(data, pos, end)
    if count > end - pos:
        raise DecodeError(Malformed.UNEXPECTED_END_OF_SECTION, offset)
    types = tuple(valtype_of(data[pos + i], pos + i) for i in range(count))
    return types, pos + count


def _read_memory_init(data: bytes, pos: int, end: int) -> tuple[int, int]:
    index, pos = read_u32(data, pos, end)
    return index, read_zero_byte(data, pos, end)


def _read_memory_copy(data: bytes, pos: int, end: int) -> tuple[None, int]:
    return None, read_zero_byte(data, read_zero_byte(data, pos, end), end)


_READER_BY_IMM: dict[Imm, _ImmReader] = {
    Imm.CALL_INDIRECT: _read_u32_pair,
    Imm.I64: read_s64,
    Imm.F32: _read_f32,
    Imm.F64: _read_f64,
    Imm.MEMIDX: _read_memidx,
    Imm.REFTYPE: _read_reftype,
    Imm.VALTYPES: _read_valtypes,
    Imm.MEMORY_INIT: _read_memory_init,
    Imm.MEMORY_COPY: _read_memory_copy,
    Imm.TABLE_INIT: _read_u32_pair,
    Imm.TABLE_COPY: _read_u32_pair,
}

_SHAPE_BY_IMM: dict[Imm, _Shape] = {
    Imm.NONE: _Shape.NONE,
    Imm.BLOCKTYPE: _Shape.BLOCK,
    Imm.LABEL: _Shape.U32,
    Imm.LABELS: _Shape.OTHER,
    Imm.FUNC: _Shape.U32,
    Imm.LOCAL: _Shape.U32,
    Imm.GLOBAL: _Shape.U32,
    Imm.TABLE: _Shape.U32,
    Imm.ELEM: _Shape.U32,
    Imm.DATA: _Shape.U32,
    Imm.I32: _Shape.I32,
    Imm.MEMARG: _Shape.MEMARG,
    **{imm: _Shape.OTHER for imm in _READER_BY_IMM},
}


def _unreachable_reader(data: bytes, pos: int, end: int) -> tuple[None, int]:
    raise AssertionError("no reader for this opcode")  # invariant: only OTHER-shaped opcodes get here


def _build_tables() -> tuple[list[_Shape], list[Opcode], list[_ImmReader], dict[int, tuple[_Shape, Opcode]]]:
    shapes = [_Shape.ILLEGAL] * 256
    opcodes = [Opcode.UNREACHABLE] * 256
    readers: list[_ImmReader] = [_unreachable_reader] * 256
    prefixed: dict[int, tuple[_Shape, Opcode]] = {}
    for code, info in OPS.items():
        shape = _SHAPE_BY_IMM[info.imm]
        if code > 0xFF:
            prefixed[code & 0xFF] = (shape, info.op)
            continue
        shapes[code], opcodes[code] = shape, info.op
        readers[code] = _READER_BY_IMM.get(info.imm, _unreachable_reader)
    shapes[PREFIX_MISC], shapes[PREFIX_SIMD] = _Shape.PREFIX, _Shape.SIMD
    shapes[Opcode.END], shapes[Opcode.ELSE] = _Shape.END, _Shape.ELSE
    return shapes, opcodes, readers, prefixed


_SHAPES, _OPCODES, _READERS, _PREFIXED = _build_tables()
_PREFIXED_READERS: dict[int, _ImmReader] = {
    sub: _READER_BY_IMM.get(OPS[(PREFIX_MISC << 8) | sub].imm, _unreachable_reader) for sub in _PREFIXED
}
_USES_DATA_INDEX = frozenset({Opcode.MEMORY_INIT, Opcode.DATA_DROP})
_new_instr = tuple.__new__


def decode_expr(data: bytes, pos: int, end: int, limits: DecodeLimits,
                eof: str = Malformed.UNEXPECTED_END_OF_SECTION) -> tuple[list[Instr], int, int]:
    """Decode instructions from ``pos`` through the ``end`` that closes the expression.

    Returns ``(instructions, next position, offset of the first data-index
    instruction or -1)``; running out of bytes before the final ``end`` is
    ``eof``. One flat loop with locals cached: this is the decoder's hot path.
    """
    shapes, opcodes, readers = _SHAPES, _OPCODES, _READERS
    s_none, s_u32, s_i32, s_memarg, s_block, s_end, s_other = (
        _Shape.NONE, _Shape.U32, _Shape.I32, _Shape.MEMARG, _Shape.BLOCK, _Shape.END, _Shape.OTHER)
    op_end, op_else, op_if, op_br_table = Opcode.END, Opcode.ELSE, Opcode.IF, Opcode.BR_TABLE
    new, cls = _new_instr, Instr
    out: list[Instr] = []
    append = out.append
    blocks: list[int] = []  # opcodes of the open block/loop/if (ELSE once an if's else arm began)
    max_depth, max_labels = limits.nesting_depth, limits.br_table_size
    data_use = -1
    while pos < end:
        offset = pos
        code = data[pos]
        pos += 1
        shape = shapes[code]
        if shape is s_none:
            imm: Any = None
        elif shape is s_u32:
            if pos < end and data[pos] < 0x80:
                imm = data[pos]
                pos += 1
            else:
                imm, pos = read_u32(data, pos, end)
        elif shape is s_i32:
            imm, pos = read_s32(data, pos, end)
        elif shape is s_memarg:
            if pos + 1 < end and data[pos] < 0x80 and data[pos + 1] < 0x80:
                imm = (data[pos], data[pos + 1])
                pos += 2
            else:
                imm, pos = _read_memarg(data, pos, end)
        elif shape is s_block:
            imm, pos = _read_blocktype(data, pos, end)
            blocks.append(code)
            if len(blocks) > max_depth:
                raise LimitError("nesting_depth", len(blocks), max_depth, offset)
        elif shape is s_other:
            if code == op_br_table:
                imm, pos = _read_labels(data, pos, end, max_labels)
            else:
                imm, pos = readers[code](data, pos, end)
        elif shape is s_end:
            append(new(cls, (op_end, None, offset)))
            if not blocks:
                return out, pos, data_use
            blocks.pop()
            continue
        elif shape is _Shape.ELSE:
            if not blocks or blocks[-1] != op_if:
                raise DecodeError(Malformed.END_EXPECTED, offset)
            blocks[-1] = op_else
            imm = None
        elif shape is _Shape.PREFIX:
            op, imm, pos = _decode_prefixed(data, offset, pos, end)
            if op in _USES_DATA_INDEX and data_use < 0:
                data_use = offset
            append(new(cls, (op, imm, offset)))
            continue
        elif shape is _Shape.SIMD:
            raise UnsupportedFeature(Malformed.SIMD, offset)
        else:
            raise DecodeError(f"{Malformed.ILLEGAL_OPCODE} {code:#04x}", offset)
        append(new(cls, (opcodes[code], imm, offset)))
    raise DecodeError(eof, pos)


def _decode_prefixed(data: bytes, offset: int, pos: int, end: int) -> tuple[Opcode, Any, int]:
    """A ``0xFC``-prefixed instruction: u32 sub-opcode, then its immediates."""
    sub, pos = read_u32(data, pos, end)
    entry = _PREFIXED.get(sub)
    if entry is None:
        raise DecodeError(f"{Malformed.ILLEGAL_OPCODE} {PREFIX_MISC:#04x} {sub:#x}", offset)
    shape, op = entry
    if shape is _Shape.U32:
        imm, pos = read_u32(data, pos, end)
    elif shape is _Shape.NONE:
        imm = None
    else:
        imm, pos = _PREFIXED_READERS[sub](data, pos, end)
    return op, imm, pos


# ---------------------------------------------------------------------------
# Sections


@dataclasses.dataclass(slots=True)
class _Body:
    """A decoded code entry, waiting for its name from the name section."""

    locals: tuple[ValType, ...]
    body: Expr
    offset: int
    size: int


class _ModuleDecoder:
    """Decodes one module: section handlers fill the lists, :meth:`_module` builds the result."""

    def __init__(self, data: bytes, limits: DecodeLimits) -> None:
        self.data = data
        self.limits = limits
        self.types: list[FuncType] = []
        self.imports: list[Import] = []
        self.imported: dict[ExternKind, int] = dict.fromkeys(ExternKind, 0)
        self.func_types: list[int] = []
        self.bodies: list[_Body] = []
        self.tables: list[TableType] = []
        self.mems: list[MemType] = []
        self.globals: list[Global] = []
        self.exports: list[Export] = []
        self.start: int | None = None
        self.elems: list[Elem] = []
        self.elem_items = 0
        self.datas: list[Data] = []
        self.data_count: int | None = None
        self.customs: list[CustomSection] = []
        self.sections: list[SectionHeader] = []
        self.seen: set[int] = set()
        self.func: int | None = None  # the function being decoded, for error messages
        # First use of a data index in code (offset, func) while no data count section was seen.
        self.data_use: tuple[int, int | None] | None = None
        self._carry: list[int] | None = None  # type index of every function, when bodies need counting

    # -- driver -------------------------------------------------------------

    def run(self) -> Module:
        data = self.data
        if len(data) > self.limits.module_size:
            raise LimitError("module_size", len(data), self.limits.module_size, 0)
        if data[:len(MAGIC)] != MAGIC:
            raise DecodeError(Malformed.MAGIC if len(data) >= len(MAGIC) else Malformed.UNEXPECTED_END, 0)
        if data[len(MAGIC):HEADER_SIZE] != VERSION:
            raise DecodeError(Malformed.VERSION if len(data) >= HEADER_SIZE else Malformed.UNEXPECTED_END,
                              len(MAGIC))
        top = Reader(data, HEADER_SIZE, len(data), Malformed.UNEXPECTED_END)
        last_order = 0
        while not top.at_end():
            last_order = self._section(top, last_order)
        self._finish()
        return self._module()

    def _section(self, top: Reader, last_order: int) -> int:
        """Decode the section at ``top.pos``; returns the order position reached."""
        id_offset = top.pos
        section_id = top.byte()
        if section_id not in SECTION_NAMES:
            raise DecodeError(Malformed.SECTION_ID, id_offset)
        size = top.u32()
        if size > top.remaining:
            raise DecodeError(Malformed.LENGTH_OUT_OF_BOUNDS, top.pos)
        start, end = top.pos, top.pos + size
        top.pos = end
        sid = SectionId(section_id)
        if sid != SectionId.CUSTOM:
            order = SECTION_ORDER[sid]
            if order <= last_order:
                raise DecodeError(Malformed.SECTION_ORDER, id_offset, SECTION_NAMES[sid])
            last_order = order
        r = Reader(self.data, start, end)
        try:
            count = _HANDLERS[sid](self, r)
            if not r.at_end():
                raise DecodeError(Malformed.SECTION_SIZE, r.pos)
        except DecodeError as err:
            raise _in_section(err, SECTION_NAMES[sid], self.func) from None
        name = self.customs[-1].name if sid == SectionId.CUSTOM else None
        self.sections.append(SectionHeader(sid, start, end, count, name))
        self.seen.add(sid)
        return last_order

    def _finish(self) -> None:
        """Cross-section rules that can only be checked after the last section."""
        end = len(self.data)
        if SectionId.CODE not in self.seen and self.func_types:
            raise DecodeError(Malformed.FUNC_CODE, end)
        if SectionId.DATA not in self.seen and self.data_count:
            raise DecodeError(Malformed.DATA_COUNT, end)
        if self.data_use is not None and SectionId.DATA in self.seen:
            # Code that names data segments needs the data count section (binary format
            # 5.5.16). Without any data section the index is simply unknown, which the
            # validator reports as invalid ("unknown data segment").
            offset, func = self.data_use
            raise DecodeError(Malformed.DATA_COUNT_REQUIRED, offset, SECTION_NAMES[SectionId.CODE], func)

    def _module(self) -> Module:
        names = self._names()
        first = self.imported[ExternKind.FUNC]
        funcs = tuple(
            Func(type_index, b.locals, b.body, b.offset, b.size,
                 name=names.functions.get(first + i), local_names=names.locals.get(first + i, {}))
            for i, (type_index, b) in enumerate(zip(self.func_types, self.bodies, strict=True))
        )
        return Module(
            types=tuple(self.types), imports=tuple(self.imports), funcs=funcs, tables=tuple(self.tables),
            mems=tuple(self.mems), globals=tuple(self.globals), exports=tuple(self.exports),
            start=self.start, elems=tuple(self.elems), datas=tuple(self.datas), data_count=self.data_count,
            customs=tuple(self.customs), sections=tuple(self.sections), names=names,
        )

    def _names(self) -> Names:
        """The first well-formed ``name`` section; a malformed one is ignored (custom content)."""
        for custom in self.customs:
            if custom.name == NAME_SECTION:
                try:
                    return parse_names(custom.data, 0, len(custom.data), self.limits.name_length)
                except DecodeError:
                    continue
        return Names()

    # -- helpers ------------------------------------------------------------

    def _check_total(self, limit: str, total: int, offset: int) -> None:
        maximum: int = getattr(self.limits, limit)
        if total > maximum:
            raise LimitError(limit, total, maximum, offset)

    def _const_expr(self, r: Reader) -> Expr:
        instrs, r.pos, _ = decode_expr(self.data, r.pos, r.end, self.limits)
        return tuple(instrs)

    def _limits(self, r: Reader) -> Limits:
        has_max = r.u1()
        minimum = r.u32()
        return Limits(minimum, r.u32() if has_max else None)

    def _table_type(self, r: Reader) -> TableType:
        elem = r.reftype()
        return TableType(elem, self._limits(r))

    def _global_type(self, r: Reader) -> GlobalType:
        valtype = r.valtype()
        offset = r.pos
        mut = r.byte()
        if mut not in (Mut.CONST, Mut.VAR):
            raise DecodeError(Malformed.MUTABILITY, offset)
        return GlobalType(valtype, mut == Mut.VAR)

    def _valtypes(self, r: Reader, limit: str) -> tuple[ValType, ...]:
        return tuple(r.valtype() for _ in range(r.count(limit, getattr(self.limits, limit))))

    # -- section handlers: each returns the entry count for SectionHeader ---

    def _custom(self, r: Reader) -> int | None:
        name = r.name(self.limits.name_length)
        offset = r.pos  # where the payload after the name starts
        self.customs.append(CustomSection(name, r.raw(r.remaining), offset))
        return None

    def _type(self, r: Reader) -> int:
        count = r.count("types", self.limits.types)
        for _ in range(count):
            offset = r.pos
            form = r.byte()
            if form != TypeCode.FUNC:
                raise DecodeError(Malformed.TOO_LONG if form & 0x80 else Malformed.FUNC_TYPE, offset)
            params = self._valtypes(r, "params")
            self.types.append(FuncType(params, self._valtypes(r, "results")))
        return count

    def _import(self, r: Reader) -> int:
        count = r.count("imports", self.limits.imports)
        for _ in range(count):
            module = r.name(self.limits.name_length)
            name = r.name(self.limits.name_length)
            offset = r.pos
            kind = r.byte()
            reader = _IMPORT_DESC.get(kind)
            if reader is None:
                raise DecodeError(Malformed.IMPORT_KIND, offset)
            self.imports.append(Import(module, name, ExternKind(kind), reader(self, r)))
            self.imported[ExternKind(kind)] += 1
        for kind, limit in _LIMIT_BY_KIND.items():
            self._check_total(limit, self.imported[kind], r.pos)
        return count

    def _function(self, r: Reader) -> int:
        offset = r.pos
        count = r.count("functions", self.limits.functions)
        self._check_total("functions", count + self.imported[ExternKind.FUNC], offset)
        self.func_types = [r.u32() for _ in range(count)]
        return count

    def _table(self, r: Reader) -> int:
        offset = r.pos
        count = r.count("tables", self.limits.tables)
        self._check_total("tables", count + self.imported[ExternKind.TABLE], offset)
        self.tables = [self._table_type(r) for _ in range(count)]
        return count

    def _memory(self, r: Reader) -> int:
        offset = r.pos
        count = r.count("memories", self.limits.memories)
        self._check_total("memories", count + self.imported[ExternKind.MEMORY], offset)
        self.mems = [MemType(self._limits(r)) for _ in range(count)]
        return count

    def _global(self, r: Reader) -> int:
        offset = r.pos
        count = r.count("globals", self.limits.globals)
        self._check_total("globals", count + self.imported[ExternKind.GLOBAL], offset)
        for _ in range(count):
            gtype = self._global_type(r)
            self.globals.append(Global(gtype, self._const_expr(r)))
        return count

    def _export(self, r: Reader) -> int:
        count = r.count("exports", self.limits.exports)
        for _ in range(count):
            name = r.name(self.limits.name_length)
            offset = r.pos
            kind = r.byte()
            if kind not in _EXTERN_KINDS:
                raise DecodeError(Malformed.EXPORT_KIND, offset)
            self.exports.append(Export(name, ExternKind(kind), r.u32()))
        return count

    def _start(self, r: Reader) -> None:
        self.start = r.u32()

    def _element(self, r: Reader) -> int:
        count = r.count("elem_segments", self.limits.elem_segments)
        self.elems = [self._elem_segment(r) for _ in range(count)]
        return count

    def _elem_segment(self, r: Reader) -> Elem:
        offset = r.pos
        flags = r.u32()
        if flags > ELEM_FLAGS_MAX:
            raise DecodeError(Malformed.ELEM_SEGMENT, offset)
        table, at = 0, None
        if flags & ElemFlag.PASSIVE:
            declarative = flags & ElemFlag.DECLARATIVE_OR_TABLE
            mode = SegmentMode.DECLARATIVE if declarative else SegmentMode.PASSIVE
        else:
            mode = SegmentMode.ACTIVE
            if flags & ElemFlag.DECLARATIVE_OR_TABLE:
                table = r.u32()
            at = self._const_expr(r)
        exprs = bool(flags & ElemFlag.EXPRESSIONS)
        elem_type = self._elem_type(r, exprs) if flags & (ElemFlag.PASSIVE | ElemFlag.DECLARATIVE_OR_TABLE) \
            else ValType.FUNCREF
        items_offset = r.pos
        n = r.count("elem_items", self.limits.elem_items)
        self.elem_items += n
        self._check_total("elem_items", self.elem_items, items_offset)
        init = tuple(self._const_expr(r) if exprs else self._ref_func(r) for _ in range(n))
        return Elem(elem_type, init, mode, table, at)

    def _elem_type(self, r: Reader, exprs: bool) -> ValType:
        """A reference type (expression encodings) or an elemkind byte, which must be funcref's 0x00."""
        if exprs:
            return r.reftype()
        offset = r.pos
        if r.byte() != ELEM_KIND_FUNCREF:
            raise DecodeError(Malformed.ELEM_KIND, offset)
        return ValType.FUNCREF

    def _ref_func(self, r: Reader) -> Expr:
        """A function index of an element segment, as the expression ``ref.func i; end``."""
        offset = r.pos
        index = r.u32()
        return (Instr(Opcode.REF_FUNC, index, offset), Instr(Opcode.END, None, offset))

    def _data_count(self, r: Reader) -> None:
        self.data_count = r.u32()

    def _code(self, r: Reader) -> int:
        offset = r.pos
        count = r.count("functions", self.limits.functions)
        if count != len(self.func_types):
            raise DecodeError(Malformed.FUNC_CODE, offset)
        first = self.imported[ExternKind.FUNC]
        self._carry = _carry_check(self.types, self.imports, self.func_types, self.limits)
        for i in range(count):
            self.func = first + i
            self.bodies.append(self._body(r))
        self.func = None
        return count

    def _body(self, r: Reader) -> _Body:
        offset = r.pos
        size = r.u32()
        if size > self.limits.body_size:
            raise LimitError("body_size", size, self.limits.body_size, offset)
        if size > r.remaining:
            raise DecodeError(Malformed.LENGTH_OUT_OF_BOUNDS, offset)
        start, end = r.pos, r.pos + size
        body_reader = Reader(self.data, start, end)
        local_types = self._locals(body_reader)
        instrs, pos, data_use = decode_expr(self.data, body_reader.pos, end, self.limits,
                                            Malformed.END_EXPECTED)
        if pos != end:
            raise DecodeError(Malformed.SECTION_SIZE, pos)
        if self._carry is not None:
            self._check_carried(instrs, size, offset)
        if data_use >= 0 and self.data_count is None and self.data_use is None:
            self.data_use = (data_use, self.func)
        r.pos = end
        return _Body(local_types, tuple(instrs), start, size)

    def _check_carried(self, instrs: list[Instr], size: int, offset: int) -> None:
        """The ``carried_values`` limit: values passed by calls, returns and branches, per body byte."""
        assert self._carry is not None and self.func is not None
        func_types = self._carry
        own = func_types[self.func]
        results = len(self.types[own].results) if own < len(self.types) else 0
        total = carried_values(instrs, self.types, func_types, results)
        per_byte = -(-total // size)
        if per_byte > self.limits.carried_values:
            raise LimitError("carried_values", per_byte, self.limits.carried_values, offset)

    def _locals(self, r: Reader) -> tuple[ValType, ...]:
        """Local declarations: groups of (count, type), summed before being expanded."""
        offset = r.pos
        groups = [(r.u32(), r.valtype()) for _ in range(r.vec_len())]
        total = sum(n for n, _ in groups)
        if total >= U32_LIMIT:
            raise DecodeError(Malformed.TOO_MANY_LOCALS, offset)
        if total > self.limits.locals:
            raise LimitError("locals", total, self.limits.locals, offset)
        out: list[ValType] = []
        for n, valtype in groups:
            out.extend([valtype] * n)
        return tuple(out)

    def _data(self, r: Reader) -> int:
        offset = r.pos
        count = r.count("data_segments", self.limits.data_segments)
        if self.data_count is not None and count != self.data_count:
            raise DecodeError(Malformed.DATA_COUNT, offset)
        self.datas = [self._data_segment(r) for _ in range(count)]
        return count

    def _data_segment(self, r: Reader) -> Data:
        offset = r.pos
        flags = r.u32()
        if flags not in _DATA_FLAGS:
            raise DecodeError(Malformed.DATA_SEGMENT, offset)
        if flags == DataFlag.PASSIVE:
            return Data(self._bytes(r), SegmentMode.PASSIVE)
        memory = r.u32() if flags == DataFlag.ACTIVE_EXPLICIT else 0
        at = self._const_expr(r)
        return Data(self._bytes(r), SegmentMode.ACTIVE, memory, at)

    def _bytes(self, r: Reader) -> bytes:
        return r.raw(r.u32(), Malformed.UNEXPECTED_END_OF_SECTION)


_EXTERN_KINDS = frozenset(int(k) for k in ExternKind)
_DATA_FLAGS = frozenset(int(f) for f in DataFlag)
_LIMIT_BY_KIND: dict[ExternKind, str] = {
    ExternKind.FUNC: "functions",
    ExternKind.TABLE: "tables",
    ExternKind.MEMORY: "memories",
    ExternKind.GLOBAL: "globals",
}
_IMPORT_DESC: dict[int, Callable[[_ModuleDecoder, Reader], int | TableType | MemType | GlobalType]] = {
    ExternKind.FUNC: lambda d, r: r.u32(),
    ExternKind.TABLE: _ModuleDecoder._table_type,
    ExternKind.MEMORY: lambda d, r: MemType(d._limits(r)),
    ExternKind.GLOBAL: _ModuleDecoder._global_type,
}
_HANDLERS: dict[SectionId, Callable[[_ModuleDecoder, Reader], int | None]] = {
    SectionId.CUSTOM: _ModuleDecoder._custom,
    SectionId.TYPE: _ModuleDecoder._type,
    SectionId.IMPORT: _ModuleDecoder._import,
    SectionId.FUNCTION: _ModuleDecoder._function,
    SectionId.TABLE: _ModuleDecoder._table,
    SectionId.MEMORY: _ModuleDecoder._memory,
    SectionId.GLOBAL: _ModuleDecoder._global,
    SectionId.EXPORT: _ModuleDecoder._export,
    SectionId.START: _ModuleDecoder._start,
    SectionId.ELEMENT: _ModuleDecoder._element,
    SectionId.DATA_COUNT: _ModuleDecoder._data_count,
    SectionId.CODE: _ModuleDecoder._code,
    SectionId.DATA: _ModuleDecoder._data,
}


def _in_section(err: DecodeError, section: str, func: int | None) -> DecodeError:
    """The same error, now saying which section (and function) it came from."""
    if err.section is not None:
        return err
    if isinstance(err, LimitError):
        return LimitError(err.limit, err.value, err.maximum, err.offset, section)
    return type(err)(err.reason, err.offset, section, func)


def decode(data: bytes | bytearray | memoryview, limits: DecodeLimits | None = None, *,
           validate: bool = True) -> Module:
    """Decode a binary module; with ``validate`` (the default) also validate it.

    Raises :class:`DecodeError` (or its :class:`LimitError` /
    :class:`UnsupportedFeature`) for malformed input and ``ValidationError``
    for an ill-typed module. The validated module carries the validator's
    per-function :class:`CodeInfo` in ``code_info``.
    """
    module = _ModuleDecoder(bytes(data), limits or DEFAULT_LIMITS).run()
    if not validate:
        return module
    code_info: tuple[CodeInfo, ...] = validate_module(module)
    return dataclasses.replace(module, code_info=code_info)
