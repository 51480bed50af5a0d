"""Readable views of a decoded module, in the manner of wabt's ``wasm-objdump``.

Theory of operation: every view is a pure function of the module's bytes and
the decoded :class:`Module` (no I/O: the ``wasmpool dump`` command reads the
file and prints). The decoder keeps, for each section, where it lies
(``Module.sections``) and, for each instruction, its file offset, so the
views can show byte positions and raw bytes without decoding again; only a
function's local declarations are re-read from the bytes, because the
decoded ``Func.locals`` has already expanded their run-length groups.

* :func:`headers` -- one line per section: kind, start/end offsets of its
  payload, size, entry count (``-h``);
* :func:`details` -- every section's entries in file order (``-x``), with
  names from the ``name`` section, else from imports (``module.field``) or
  exports, as wasm-objdump does;
* :func:`disassemble` -- each function body, one instruction per line with
  its offset, raw bytes and operands, indented by block depth (``-d``);
* :func:`to_json` -- the same information as one JSON-able document.

Layout follows ``wasm-objdump`` where it is unambiguous; where it is not, we
print what a reader needs: memory operands as ``align=BYTES offset=N``,
float constants as decimal values (``nan:0x...`` with the payload in hex for
non-canonical NaNs), local indices counting the parameters.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .module import (
    SECTION_NAMES,
    CustomSection,
    Data,
    Elem,
    Export,
    Expr,
    Func,
    Import,
    Instr,
    Module,
    SectionHeader,
    SectionId,
    SegmentMode,
)
from .opcodes import OPS, Imm, Opcode
from .reader import read_byte, read_u32
from .types import VALTYPE_BY_CODE, ExternKind, FuncType, GlobalType, Limits, MemType, TableType, ValType

# ---------------------------------------------------------------------------
# Constants of the layout


class Layout(IntEnum):
    """Widths used by the text views."""

    SECTION_NAME = 9  # "DataCount" is the longest known-section title
    RAW_BYTES = 9  # raw bytes shown per disassembly line
    RAW_COLUMN = 26  # width of the raw-bytes column (9 bytes as "xx " minus the last space)
    INDENT = 2  # spaces per block depth
    HEX_ROW = 16  # bytes per hex-dump row
    HEX_COLUMN = 39  # width of the hex column of a hex-dump row (8 groups of 4 digits + 7 spaces)
    PREVIEW_ROWS = 2  # hex-dump rows shown per data segment


SECTION_TITLES: dict[SectionId, str] = {
    SectionId.CUSTOM: "Custom",
    SectionId.TYPE: "Type",
    SectionId.IMPORT: "Import",
    SectionId.FUNCTION: "Function",
    SectionId.TABLE: "Table",
    SectionId.MEMORY: "Memory",
    SectionId.GLOBAL: "Global",
    SectionId.EXPORT: "Export",
    SectionId.START: "Start",
    SectionId.ELEMENT: "Elem",
    SectionId.CODE: "Code",
    SectionId.DATA: "Data",
    SectionId.DATA_COUNT: "DataCount",
}
"""Section titles as ``wasm-objdump`` prints them."""

KIND_NAMES: dict[ExternKind, str] = {
    ExternKind.FUNC: "func",
    ExternKind.TABLE: "table",
    ExternKind.MEMORY: "memory",
    ExternKind.GLOBAL: "global",
}

MODE_NAMES: dict[SegmentMode, str] = {
    SegmentMode.ACTIVE: "active",
    SegmentMode.PASSIVE: "passive",
    SegmentMode.DECLARATIVE: "declarative",
}

HEAP_TYPES: dict[ValType, str] = {ValType.FUNCREF: "func", ValType.EXTERNREF: "extern"}
"""``ref.null`` operands as the text format writes them."""

BLOCK_OPENERS = frozenset({Opcode.BLOCK, Opcode.LOOP, Opcode.IF})
BLOCK_CLOSERS = frozenset({Opcode.ELSE, Opcode.END})


# ---------------------------------------------------------------------------
# Float constants


@dataclass(frozen=True, slots=True)
class FloatFormat:
    """Bit layout of one IEEE 754 binary format."""

    width: int  # total bits
    mantissa: int  # fraction bits
    digits: int  # decimal digits that always round-trip
    pack: str  # struct code of the float
    unpack_bits: str  # struct code of the same-width unsigned int

    @property
    def exponent_mask(self) -> int:
        return ((1 << (self.width - 1)) - 1) >> self.mantissa

    @property
    def canonical_nan(self) -> int:
        return 1 << (self.mantissa - 1)


F32 = FloatFormat(32, 23, 9, "<f", "<I")
F64 = FloatFormat(64, 52, 17, "<d", "<Q")


def float_text(bits: int, fmt: FloatFormat) -> str:
    """A float constant's bit pattern as text: the shortest decimal that reads back exactly,
    ``inf``, ``nan`` (canonical) or ``nan:0xPAYLOAD``, each with a ``-`` when the sign is set."""
    sign = "-" if bits >> (fmt.width - 1) else ""
    exponent = (bits >> fmt.mantissa) & fmt.exponent_mask
    fraction = bits & ((1 << fmt.mantissa) - 1)
    if exponent == fmt.exponent_mask:
        if not fraction:
            return f"{sign}inf"
        return f"{sign}nan" if fraction == fmt.canonical_nan else f"{sign}nan:{fraction:#x}"
    value: float = struct.unpack(fmt.pack, struct.pack(fmt.unpack_bits, bits))[0]
    return repr(shortest_float(value, fmt))


def shortest_float(value: float, fmt: FloatFormat) -> float:
    """The double with the fewest significant decimal digits that still rounds to ``value`` in ``fmt``.

    For f64 that is ``value`` itself; for f32 it drops the digits the double
    representation carries beyond f32 precision (0.1f prints as 0.1).
    """
    if not math.isfinite(value) or value == 0:
        return value
    for digits in range(1, fmt.digits + 1):
        candidate = float(f"{value:.{digits}g}")
        if _round_trips(candidate, value, fmt):
            return candidate
    return value


def _round_trips(candidate: float, value: float, fmt: FloatFormat) -> bool:
    try:
        back: float = struct.unpack(fmt.pack, struct.pack(fmt.pack, candidate))[0]
    except OverflowError:
        return False
    return back == value


# ---------------------------------------------------------------------------
# Names


class Naming:
    """Display names of a module's functions, globals and locals.

    Functions take their name from the name section, else (like
    wasm-objdump) from their first export or, if imported, ``module.field``;
    globals from their first export or import.
    """

    def __init__(self, module: Module) -> None:
        self.module = module
        self.funcs: dict[int, str] = {}
        self.globals: dict[int, str] = {}
        named = {ExternKind.FUNC: self.funcs, ExternKind.GLOBAL: self.globals}
        counters = dict.fromkeys(ExternKind, 0)
        for imp in module.imports:
            index = counters[imp.kind]
            counters[imp.kind] += 1
            target = named.get(imp.kind)
            if target is not None:
                target[index] = f"{imp.module}.{imp.name}"
        self.num_imported_funcs = counters[ExternKind.FUNC]
        for export in module.exports:  # like wasm-objdump: an export names what has no name
            names = named.get(export.kind)
            if names is not None:
                names.setdefault(export.index, export.name)
        for i, func in enumerate(module.funcs):
            if func.name is not None:
                self.funcs[self.num_imported_funcs + i] = func.name
        self.funcs.update(module.names.functions)

    def func(self, index: int) -> str:
        """`` <name>`` for a function with a name, else the empty string."""
        name = self.funcs.get(index)
        return f" <{name}>" if name is not None else ""

    def global_(self, index: int) -> str:
        """`` <module.field>`` for an imported global, `` <export>`` for an exported one, else ``""``."""
        name = self.globals.get(index)
        return f" <{name}>" if name is not None else ""

    def local(self, func_index: int, local_index: int) -> str:
        """`` <name>`` for a named local (parameters included), else the empty string."""
        names = self.locals_of(func_index)
        name = names.get(local_index)
        return f" <{name}>" if name is not None else ""

    def locals_of(self, func_index: int) -> dict[int, str]:
        defined = func_index - self.num_imported_funcs
        if 0 <= defined < len(self.module.funcs) and self.module.funcs[defined].local_names:
            return self.module.funcs[defined].local_names
        return self.module.names.locals.get(func_index, {})


# ---------------------------------------------------------------------------
# Instructions


ImmFormatter = Callable[[Naming, int, Instr], str]


def _none(naming: Naming, func_index: int, instr: Instr) -> str:
    return ""


def _plain(naming: Naming, func_index: int, instr: Instr) -> str:
    return f" {instr.imm}"


def _blocktype(naming: Naming, func_index: int, instr: Instr) -> str:
    imm = instr.imm
    if imm is None:
        return ""
    if isinstance(imm, ValType):
        return f" {imm}"
    return f" type[{imm}]"


def _labels(naming: Naming, func_index: int, instr: Instr) -> str:
    targets, default = instr.imm
    return " " + " ".join(str(label) for label in (*targets, default))


def _func(naming: Naming, func_index: int, instr: Instr) -> str:
    return f" {instr.imm}{naming.func(instr.imm)}"


def _call_indirect(naming: Naming, func_index: int, instr: Instr) -> str:
    type_index, table = instr.imm
    return f" {table} (type {type_index})"


def _local(naming: Naming, func_index: int, instr: Instr) -> str:
    return f" {instr.imm}{naming.local(func_index, instr.imm)}"


def _global(naming: Naming, func_index: int, instr: Instr) -> str:
    return f" {instr.imm}{naming.global_(instr.imm)}"


def _memarg(naming: Naming, func_index: int, instr: Instr) -> str:
    align, offset = instr.imm
    return f" align={1 << align} offset={offset}"


def _f32(naming: Naming, func_index: int, instr: Instr) -> str:
    return f" {float_text(instr.imm, F32)}"


def _f64(naming: Naming, func_index: int, instr: Instr) -> str:
    return f" {float_text(instr.imm, F64)}"


def _reftype(naming: Naming, func_index: int, instr: Instr) -> str:
    return f" {HEAP_TYPES[instr.imm]}"


def _valtypes(naming: Naming, func_index: int, instr: Instr) -> str:
    return "".join(f" {t}" for t in instr.imm)


def _memory_init(naming: Naming, func_index: int, instr: Instr) -> str:
    return f" {instr.imm} 0"


def _memory_copy(naming: Naming, func_index: int, instr: Instr) -> str:
    return " 0 0"


def _pair(naming: Naming, func_index: int, instr: Instr) -> str:
    first, second = instr.imm
    return f" {first} {second}"


IMM_TEXT: dict[Imm, ImmFormatter] = {
    Imm.NONE: _none,
    Imm.BLOCKTYPE: _blocktype,
    Imm.LABEL: _plain,
    Imm.LABELS: _labels,
    Imm.FUNC: _func,
    Imm.CALL_INDIRECT: _call_indirect,
    Imm.LOCAL: _local,
    Imm.GLOBAL: _global,
    Imm.TABLE: _plain,
    Imm.MEMARG: _memarg,
    Imm.MEMIDX: _plain,
    Imm.I32: _plain,
    Imm.I64: _plain,
    Imm.F32: _f32,
    Imm.F64: _f64,
    Imm.REFTYPE: _reftype,
    Imm.VALTYPES: _valtypes,
    Imm.MEMORY_INIT: _memory_init,
    Imm.DATA: _plain,
    Imm.MEMORY_COPY: _memory_copy,
    Imm.TABLE_INIT: _pair,
    Imm.ELEM: _plain,
    Imm.TABLE_COPY: _pair,
}
"""How each immediate kind prints (binary order, as ``wasm-objdump`` does)."""


def instr_text(naming: Naming, func_index: int, instr: Instr) -> str:
    """One instruction as ``name operands`` (e.g. ``local.get 0 <a>``, ``i32.load align=4 offset=8``)."""
    info = OPS[instr.op]
    return info.name + IMM_TEXT[info.imm](naming, func_index, instr)


def init_text(naming: Naming, expr: Expr) -> str:
    """A constant expression the way ``wasm-objdump`` shows initializers (``i32=0``, ``global=1``)."""
    parts = [_init_part(naming, instr) for instr in expr if instr.op != Opcode.END]
    return ", ".join(parts)


_CONST_TYPES: dict[Opcode, str] = {
    Opcode.I32_CONST: "i32",
    Opcode.I64_CONST: "i64",
    Opcode.F32_CONST: "f32",
    Opcode.F64_CONST: "f64",
}


def _init_part(naming: Naming, instr: Instr) -> str:
    if instr.op in _CONST_TYPES:
        return f"{_CONST_TYPES[instr.op]}={IMM_TEXT[OPS[instr.op].imm](naming, -1, instr).strip()}"
    if instr.op == Opcode.GLOBAL_GET:
        return f"global={instr.imm}{naming.global_(instr.imm)}"
    if instr.op == Opcode.REF_FUNC:
        return f"ref.func={instr.imm}{naming.func(instr.imm)}"
    return instr_text(naming, -1, instr)


def elem_item_text(naming: Naming, expr: Expr) -> str:
    """One element-segment entry: ``func[N] <name>`` or ``ref.null funcref`` or the expression."""
    body = [instr for instr in expr if instr.op != Opcode.END]
    if len(body) == 1 and body[0].op == Opcode.REF_FUNC:
        return f"func[{body[0].imm}]{naming.func(body[0].imm)}"
    if len(body) == 1 and body[0].op == Opcode.REF_NULL:
        return f"ref.null {body[0].imm}"
    return init_text(naming, expr)


def const_offset(expr: Expr | None) -> int:
    """The value of an ``i32.const`` offset expression, else 0 (for hex-dump addresses)."""
    if expr and expr[0].op == Opcode.I32_CONST:
        return int(expr[0].imm) & 0xFFFFFFFF
    return 0


# ---------------------------------------------------------------------------
# Local declarations


@dataclass(frozen=True, slots=True)
class LocalGroup:
    """One run-length group of a body's local declarations, as encoded."""

    offset: int  # file offset of the group's count
    end: int  # offset just past its type byte
    first: int  # index of its first local (parameters counted)
    count: int
    type: str


def local_groups(data: bytes, func: Func, num_params: int) -> tuple[tuple[LocalGroup, ...], int]:
    """The body's local groups as encoded, and the offset of its first instruction."""
    end = len(data)
    count, pos = read_u32(data, func.offset, end)
    groups = []
    first = num_params
    for _ in range(count):
        start = pos
        n, pos = read_u32(data, pos, end)
        code, pos = read_byte(data, pos, end)
        vt = VALTYPE_BY_CODE.get(code)
        groups.append(LocalGroup(start, pos, first, n, str(vt) if vt is not None else f"{code:#x}"))
        first += n
    return tuple(groups), pos


# ---------------------------------------------------------------------------
# Small formatting helpers


def functype_text(ft: FuncType) -> str:
    """``(i32, i32) -> i32``, ``() -> nil`` or ``(i32) -> (i32, i64)`` as ``wasm-objdump`` writes them."""
    params = f"({', '.join(ft.params)})"
    if not ft.results:
        return f"{params} -> nil"
    if len(ft.results) == 1:
        return f"{params} -> {ft.results[0]}"
    return f"{params} -> ({', '.join(ft.results)})"


def limits_text(limits: Limits) -> str:
    """``initial=1 max=2`` (no ``max`` when unbounded)."""
    text = f"initial={limits.min}"
    return text if limits.max is None else f"{text} max={limits.max}"


def hex_rows(data: bytes, address: int, max_rows: int | None = None) -> list[str]:
    """A hex dump in ``wasm-objdump`` style: ``0000010: 4865 6c6c ...  Hello...``."""
    rows = []
    limit = len(data) if max_rows is None else min(len(data), max_rows * Layout.HEX_ROW)
    for start in range(0, limit, Layout.HEX_ROW):
        chunk = data[start:start + Layout.HEX_ROW]
        pairs = [chunk[i:i + 2].hex() for i in range(0, len(chunk), 2)]
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        rows.append(f"{address + start:07x}: {' '.join(pairs):<{Layout.HEX_COLUMN}}  {text}")
    return rows


def raw_bytes(data: bytes) -> str:
    return " ".join(f"{b:02x}" for b in data)


# ---------------------------------------------------------------------------
# The views


class Dumper:
    """Produces the views of one module; holds the lookups they share."""

    def __init__(self, data: bytes, module: Module) -> None:
        self.data = data
        self.module = module
        self.naming = Naming(module)
        self.imported = {kind: module.imported(kind) for kind in ExternKind}
        self.func_types = module.func_types

    # -- -h --------------------------------------------------------------

    def headers(self) -> list[str]:
        """One line per section in file order."""
        lines = ["Sections:", ""]
        for header in self.module.sections:
            title = section_title(header)
            lines.append(
                f"{title:>{Layout.SECTION_NAME}} start={header.start:#010x} end={header.end:#010x} "
                f"(size={header.size:#010x}) {self.header_extra(header)}"
            )
        return lines

    def header_extra(self, header: SectionHeader) -> str:
        if header.id == SectionId.CUSTOM:
            return f'"{header.name}"'
        if header.id == SectionId.START:
            return f"start: {self.module.start}"
        if header.id == SectionId.DATA_COUNT:
            return f"count: {self.module.data_count}"
        return f"count: {header.count}"

    # -- -x --------------------------------------------------------------

    def section_details(self) -> list[tuple[SectionHeader, list[str]]]:
        """Each section with the lines describing its entries, in file order."""
        customs = iter(self.module.customs)
        out = []
        for header in self.module.sections:
            if header.id == SectionId.CUSTOM:
                custom = next(customs, None)
                lines = self.custom_lines(header, custom)
            else:
                lines = DETAILS[header.id](self)
            out.append((header, lines))
        return out

    def details(self) -> list[str]:
        """The ``-x`` view: a title per section, then its entries."""
        lines = ["Section Details:", ""]
        for header, entries in self.section_details():
            lines.append(detail_title(header))
            lines.extend(entries)
        return lines

    def type_lines(self) -> list[str]:
        return [f" - type[{i}] {functype_text(ft)}" for i, ft in enumerate(self.module.types)]

    def import_lines(self) -> list[str]:
        counters = dict.fromkeys(ExternKind, 0)
        lines = []
        for imp in self.module.imports:
            index = counters[imp.kind]
            counters[imp.kind] += 1
            lines.append(f" - {self.import_desc(imp, index)} <- {imp.module}.{imp.name}")
        return lines

    def import_desc(self, imp: Import, index: int) -> str:
        desc = imp.desc
        if isinstance(desc, int):
            name = self.naming.funcs.get(index)
            own = f" <{name}>" if name is not None and name != f"{imp.module}.{imp.name}" else ""
            return f"func[{index}] sig={desc}{own}"
        if isinstance(desc, TableType):
            return f"table[{index}] type={desc.elem} {limits_text(desc.limits)}"
        if isinstance(desc, MemType):
            return f"memory[{index}] pages: {limits_text(desc.limits)}"
        return f"global[{index}] {self.globaltype_text(desc)}"

    @staticmethod
    def globaltype_text(gt: GlobalType) -> str:
        return f"{gt.valtype} mutable={int(gt.mutable)}"

    def function_lines(self) -> list[str]:
        base = len(self.imported[ExternKind.FUNC])
        return [f" - func[{base + i}] sig={f.type_index}{self.naming.func(base + i)}"
                for i, f in enumerate(self.module.funcs)]

    def table_lines(self) -> list[str]:
        base = len(self.imported[ExternKind.TABLE])
        return [f" - table[{base + i}] type={t.elem} {limits_text(t.limits)}"
                for i, t in enumerate(self.module.tables)]

    def memory_lines(self) -> list[str]:
        base = len(self.imported[ExternKind.MEMORY])
        return [f" - memory[{base + i}] pages: {limits_text(m.limits)}"
                for i, m in enumerate(self.module.mems)]

    def global_lines(self) -> list[str]:
        base = len(self.imported[ExternKind.GLOBAL])
        return [f" - global[{base + i}] {self.globaltype_text(g.type)}{self.naming.global_(base + i)}"
                f" - init {init_text(self.naming, g.init)}"
                for i, g in enumerate(self.module.globals)]

    def export_lines(self) -> list[str]:
        return [f" - {self.export_target(e)} -> \"{e.name}\"" for e in self.module.exports]

    def export_target(self, export: Export) -> str:
        label = self.naming.func(export.index) if export.kind == ExternKind.FUNC else ""
        return f"{KIND_NAMES[export.kind]}[{export.index}]{label}"

    def start_lines(self) -> list[str]:
        start = self.module.start
        return [] if start is None else [f" - start function: {start}{self.naming.func(start)}"]

    def elem_lines(self) -> list[str]:
        lines = []
        for i, elem in enumerate(self.module.elems):
            lines.append(f" - segment[{i}] {self.elem_desc(elem)}")
            lines.extend(f"  - elem[{j}] = {elem_item_text(self.naming, item)}"
                         for j, item in enumerate(elem.init))
        return lines

    def elem_desc(self, elem: Elem) -> str:
        desc = f"{MODE_NAMES[elem.mode]}"
        if elem.mode == SegmentMode.ACTIVE:
            desc += f" table={elem.table}"
        desc += f" type={elem.type} count={len(elem.init)}"
        if elem.offset is not None:
            desc += f" - init {init_text(self.naming, elem.offset)}"
        return desc

    def data_count_lines(self) -> list[str]:
        return [f" - data count: {self.module.data_count}"]

    def code_lines(self) -> list[str]:
        base = len(self.imported[ExternKind.FUNC])
        return [f" - func[{base + i}] size={f.size}{self.naming.func(base + i)}"
                for i, f in enumerate(self.module.funcs)]

    def data_lines(self) -> list[str]:
        lines = []
        for i, seg in enumerate(self.module.datas):
            lines.append(f" - segment[{i}] {self.data_desc(seg)}")
            rows = hex_rows(seg.init, const_offset(seg.offset), Layout.PREVIEW_ROWS)
            lines.extend(f"  - {row}" for row in rows)
            shown = min(len(seg.init), Layout.PREVIEW_ROWS * Layout.HEX_ROW)
            if len(seg.init) > shown:
                lines.append(f"  - ... {len(seg.init) - shown} more bytes")
        return lines

    def data_desc(self, seg: Data) -> str:
        if seg.mode == SegmentMode.PASSIVE:
            return f"passive size={len(seg.init)}"
        desc = f"memory={seg.memory} size={len(seg.init)}"
        if seg.offset is not None:
            desc += f" - init {init_text(self.naming, seg.offset)}"
        return desc

    def custom_lines(self, header: SectionHeader, custom: CustomSection | None) -> list[str]:
        size = len(custom.data) if custom is not None else header.size
        lines = [f" - name: \"{header.name}\" size={size}"]
        if header.name == "name":
            lines.extend(self.name_lines())
        return lines

    def name_lines(self) -> list[str]:
        names = self.module.names
        lines = [] if names.module is None else [f" - module <{names.module}>"]
        lines.extend(f" - func[{i}] <{n}>" for i, n in sorted(names.functions.items()))
        for func_index, local_names in sorted(names.locals.items()):
            lines.extend(f" - func[{func_index}] local[{i}] <{n}>" for i, n in sorted(local_names.items()))
        return lines

    # -- -d --------------------------------------------------------------

    def disassemble(self) -> list[str]:
        """The ``-d`` view: every module-defined function's instructions."""
        lines = ["Code Disassembly:", ""]
        base = len(self.imported[ExternKind.FUNC])
        for i, func in enumerate(self.module.funcs):
            lines.extend(self.function_listing(base + i, func))
        return lines

    def function_listing(self, index: int, func: Func) -> list[str]:
        lines = [f"{func.offset:06x} func[{index}]{self.naming.func(index)}:"]
        for row in self.code_rows(index, func):
            lines.extend(self.byte_lines(row["offset"], bytes.fromhex(row["bytes"]), row["text"]))
        return lines

    def byte_lines(self, offset: int, raw: bytes, text: str) -> list[str]:
        """One listing line, plus continuation lines when the raw bytes do not fit the column."""
        lines = []
        for start in range(0, max(len(raw), 1), Layout.RAW_BYTES):
            chunk = raw[start:start + Layout.RAW_BYTES]
            shown = text if start == 0 else ""
            lines.append(f" {offset + start:06x}: {raw_bytes(chunk):<{Layout.RAW_COLUMN}} | {shown}".rstrip())
        return lines

    def code_rows(self, index: int, func: Func) -> list[dict[str, Any]]:
        """Each local group and instruction of a body: offset, raw bytes (hex), depth, text."""
        num_params = len(self.module.types[func.type_index].params)
        groups, _ = local_groups(self.data, func, num_params)
        rows: list[dict[str, Any]] = []
        for g in groups:
            span = f"{g.first}" if g.count == 1 else f"{g.first}..{g.first + g.count - 1}"
            rows.append({"offset": g.offset, "bytes": self.data[g.offset:g.end].hex(), "depth": 0,
                         "text": f"local[{span}] type={g.type}", "kind": "locals"})
        body = func.body
        depth = 0
        for k, instr in enumerate(body):
            end = body[k + 1].offset if k + 1 < len(body) else instr.offset + 1
            if instr.op in BLOCK_CLOSERS:
                depth = max(depth - 1, 0)
            text = instr_text(self.naming, index, instr)
            rows.append({"offset": instr.offset, "bytes": self.data[instr.offset:end].hex(), "depth": depth,
                         "text": " " * (Layout.INDENT * depth) + text, "kind": "instr", "instr": instr})
            if instr.op in BLOCK_OPENERS or instr.op == Opcode.ELSE:
                depth += 1
        return rows

    # -- JSON ------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Everything the text views show, as one JSON-able document with stable keys."""
        m = self.module
        return {
            "version": 1,
            "module_name": m.names.module,
            "sections": [self.section_json(h) for h in m.sections],
            "types": [{"index": i, "params": list(ft.params), "results": list(ft.results)}
                      for i, ft in enumerate(m.types)],
            "imports": self.imports_json(),
            "functions": self.functions_json(),
            "tables": [self.table_json(i, t) for i, t in enumerate(m.table_types)],
            "memories": [{"index": i, "min": mt.limits.min, "max": mt.limits.max,
                          "imported": i < len(self.imported[ExternKind.MEMORY])}
                         for i, mt in enumerate(m.mem_types)],
            "globals": self.globals_json(),
            "exports": [{"name": e.name, "kind": KIND_NAMES[e.kind], "index": e.index} for e in m.exports],
            "start": m.start,
            "elements": [self.elem_json(i, e) for i, e in enumerate(m.elems)],
            "data_count": m.data_count,
            "data": [self.data_json(i, d) for i, d in enumerate(m.datas)],
            "customs": [{"name": c.name, "offset": c.offset, "size": len(c.data)} for c in m.customs],
            "names": {
                "module": m.names.module,
                "functions": {str(i): n for i, n in sorted(m.names.functions.items())},
                "locals": {str(f): {str(i): n for i, n in sorted(ln.items())}
                           for f, ln in sorted(m.names.locals.items())},
            },
            "code": self.code_json(),
        }

    @staticmethod
    def section_json(h: SectionHeader) -> dict[str, Any]:
        return {"id": int(h.id), "kind": SECTION_NAMES.get(h.id, "unknown"), "name": h.name,
                "start": h.start, "end": h.end, "size": h.size, "count": h.count}

    def imports_json(self) -> list[dict[str, Any]]:
        counters = dict.fromkeys(ExternKind, 0)
        out = []
        for imp in self.module.imports:
            index = counters[imp.kind]
            counters[imp.kind] += 1
            entry: dict[str, Any] = {"module": imp.module, "name": imp.name, "kind": KIND_NAMES[imp.kind],
                                     "index": index}
            entry.update(self.extern_json(imp.desc))
            out.append(entry)
        return out

    @staticmethod
    def extern_json(desc: int | TableType | MemType | GlobalType) -> dict[str, Any]:
        if isinstance(desc, int):
            return {"type": desc}
        if isinstance(desc, TableType):
            return {"elem": str(desc.elem), "min": desc.limits.min, "max": desc.limits.max}
        if isinstance(desc, MemType):
            return {"min": desc.limits.min, "max": desc.limits.max}
        return {"valtype": str(desc.valtype), "mutable": desc.mutable}

    def functions_json(self) -> list[dict[str, Any]]:
        imported = len(self.imported[ExternKind.FUNC])
        out = []
        for i, ft in enumerate(self.func_types):
            type_index = (self.imported[ExternKind.FUNC][i].desc if i < imported
                          else self.module.funcs[i - imported].type_index)
            out.append({"index": i, "type": type_index, "params": list(ft.params),
                        "results": list(ft.results), "name": self.naming.funcs.get(i),
                        "imported": i < imported})
        return out

    def table_json(self, index: int, t: TableType) -> dict[str, Any]:
        return {"index": index, "elem": str(t.elem), "min": t.limits.min, "max": t.limits.max,
                "imported": index < len(self.imported[ExternKind.TABLE])}

    def globals_json(self) -> list[dict[str, Any]]:
        imported = len(self.imported[ExternKind.GLOBAL])
        out = []
        for i, gt in enumerate(self.module.global_types):
            entry: dict[str, Any] = {"index": i, "valtype": str(gt.valtype), "mutable": gt.mutable,
                                     "imported": i < imported, "init": None}
            if i >= imported:
                entry["init"] = self.expr_json(-1, self.module.globals[i - imported].init)
            out.append(entry)
        return out

    def elem_json(self, index: int, elem: Elem) -> dict[str, Any]:
        return {"index": index, "mode": MODE_NAMES[elem.mode], "type": str(elem.type),
                "table": elem.table if elem.mode == SegmentMode.ACTIVE else None,
                "offset": None if elem.offset is None else self.expr_json(-1, elem.offset),
                "init": [self.expr_json(-1, e) for e in elem.init]}

    def data_json(self, index: int, seg: Data) -> dict[str, Any]:
        return {"index": index, "mode": MODE_NAMES[seg.mode],
                "memory": seg.memory if seg.mode == SegmentMode.ACTIVE else None,
                "offset": None if seg.offset is None else self.expr_json(-1, seg.offset),
                "size": len(seg.init), "hex": seg.init.hex()}

    def expr_json(self, func_index: int, expr: Expr) -> list[dict[str, Any]]:
        return [self.instr_json(func_index, instr) for instr in expr]

    def instr_json(self, func_index: int, instr: Instr) -> dict[str, Any]:
        info = OPS[instr.op]
        return {"offset": instr.offset, "opcode": int(instr.op), "name": info.name,
                "immediates": json_value(instr.imm), "text": instr_text(self.naming, func_index, instr)}

    def code_json(self) -> list[dict[str, Any]]:
        base = len(self.imported[ExternKind.FUNC])
        out = []
        for i, func in enumerate(self.module.funcs):
            index = base + i
            num_params = len(self.module.types[func.type_index].params)
            groups, _ = local_groups(self.data, func, num_params)
            instrs = []
            for row in self.code_rows(index, func):
                if row["kind"] != "instr":
                    continue
                entry = self.instr_json(index, row["instr"])
                entry["bytes"] = row["bytes"]
                entry["depth"] = row["depth"]
                instrs.append(entry)
            out.append({
                "index": index, "name": self.naming.funcs.get(index), "type": func.type_index,
                "offset": func.offset, "size": func.size,
                "locals": [{"first": g.first, "count": g.count, "type": g.type} for g in groups],
                "local_names": {str(k): v for k, v in sorted(self.naming.locals_of(index).items())},
                "instructions": instrs,
            })
        return out


DETAILS: dict[SectionId, Callable[[Dumper], list[str]]] = {
    SectionId.TYPE: Dumper.type_lines,
    SectionId.IMPORT: Dumper.import_lines,
    SectionId.FUNCTION: Dumper.function_lines,
    SectionId.TABLE: Dumper.table_lines,
    SectionId.MEMORY: Dumper.memory_lines,
    SectionId.GLOBAL: Dumper.global_lines,
    SectionId.EXPORT: Dumper.export_lines,
    SectionId.START: Dumper.start_lines,
    SectionId.ELEMENT: Dumper.elem_lines,
    SectionId.DATA_COUNT: Dumper.data_count_lines,
    SectionId.CODE: Dumper.code_lines,
    SectionId.DATA: Dumper.data_lines,
}
"""The ``-x`` lines of each known section."""


def json_value(value: Any) -> Any:
    """An immediate as plain JSON: enums by value, tuples as lists."""
    if isinstance(value, ValType):
        return str(value)
    if isinstance(value, tuple | list):
        return [json_value(v) for v in value]
    return value


# ---------------------------------------------------------------------------
# Public functions


def preamble(filename: str, module: Module) -> list[str]:
    """The file line (and module name) that starts every text view."""
    lines = ["", f"{filename}:\tfile format wasm 0x1"]
    if module.names.module is not None:
        lines.append(f"module name: <{module.names.module}>")
    lines.append("")
    return lines


def headers(data: bytes, module: Module) -> list[str]:
    """``dump -h``: one line per section."""
    return Dumper(data, module).headers()


def details(data: bytes, module: Module) -> list[str]:
    """``dump -x``: every section's entries."""
    return Dumper(data, module).details()


def section_details(data: bytes, module: Module) -> list[tuple[SectionHeader, list[str]]]:
    """Each section with its ``-x`` lines (``run -v`` logs these)."""
    return Dumper(data, module).section_details()


def disassemble(data: bytes, module: Module) -> list[str]:
    """``dump -d``: every function body."""
    return Dumper(data, module).disassemble()


def to_json(data: bytes, module: Module) -> dict[str, Any]:
    """``dump --json``: one document with everything above."""
    return Dumper(data, module).to_json()


def section_title(header: SectionHeader) -> str:
    """The section's title as the views print it (``Type``, ``DataCount``, ...)."""
    return SECTION_TITLES.get(header.id, f"Unknown{int(header.id)}")


UNCOUNTED = frozenset({SectionId.CUSTOM, SectionId.START, SectionId.DATA_COUNT})
"""Sections whose ``-x`` title carries no entry count."""


def detail_title(header: SectionHeader) -> str:
    """A section's title line in the ``-x`` view: ``Type[5]:``, ``Start:``."""
    title = section_title(header)
    return f"{title}:" if header.id in UNCOUNTED else f"{title}[{header.count}]:"
