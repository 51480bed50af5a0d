"""A small binary encoder: build a module in code and get its ``.wasm`` bytes.

Tests, fuzzers and benchmarks need modules of every shape and size without
a text assembler. :class:`ModuleBuilder` collects types, imports, functions,
tables, memories, globals, exports, element and data segments and writes the
binary format (spec chapter 5). Instructions are given as ``(Opcode, imm)``
pairs, or a bare :class:`Opcode` when there is no immediate, with the
immediates in the same shapes the decoder produces (``Instr.imm``, see
:class:`~.opcodes.Imm`); the opcode table says how each is encoded, so the
encoder and decoder read the same rows. Nothing here validates: a builder can
write invalid modules on purpose.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .module import SectionId
from .opcodes import OPS, PREFIX_MISC, Imm, Opcode
from .types import CODE_BY_VALTYPE, ExternKind, FuncType, TypeCode, ValType

Instruction = Opcode | tuple[Opcode, Any]
MAGIC_VERSION = b"\x00asm\x01\x00\x00\x00"


def uleb(value: int) -> bytes:
    """Unsigned LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sleb(value: int) -> bytes:
    """Signed LEB128."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        done = (value == 0 and not byte & 0x40) or (value == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


def name(text: str) -> bytes:
    data = text.encode()
    return uleb(len(data)) + data


def vector(items: Iterable[bytes]) -> bytes:
    parts = list(items)
    return uleb(len(parts)) + b"".join(parts)


def valtype(vt: ValType | str) -> bytes:
    return bytes([CODE_BY_VALTYPE[ValType(vt)]])


def limits(minimum: int, maximum: int | None) -> bytes:
    return b"\x00" + uleb(minimum) if maximum is None else b"\x01" + uleb(minimum) + uleb(maximum)


def _blocktype(imm: Any) -> bytes:
    if imm is None:
        return bytes([TypeCode.EMPTY_BLOCK])
    if isinstance(imm, int) and not isinstance(imm, ValType):
        return sleb(imm)
    return valtype(imm)


def _signed(bits: int) -> Any:
    def encode(imm: int) -> bytes:
        value = imm & ((1 << bits) - 1)
        return sleb(value - (1 << bits) if value >> (bits - 1) else value)
    return encode


_IMMEDIATES: dict[Imm, Any] = {
    Imm.NONE: lambda imm: b"",
    Imm.BLOCKTYPE: _blocktype,
    Imm.LABEL: uleb,
    Imm.LABELS: lambda imm: vector(uleb(i) for i in imm[0]) + uleb(imm[1]),
    Imm.FUNC: uleb,
    Imm.CALL_INDIRECT: lambda imm: uleb(imm[0]) + uleb(imm[1]),
    Imm.LOCAL: uleb,
    Imm.GLOBAL: uleb,
    Imm.TABLE: uleb,
    Imm.MEMARG: lambda imm: uleb(imm[0]) + uleb(imm[1]),
    Imm.MEMIDX: lambda imm: b"\x00",
    Imm.I32: _signed(32),
    Imm.I64: _signed(64),
    Imm.F32: lambda imm: struct.pack("<I", imm),
    Imm.F64: lambda imm: struct.pack("<Q", imm),
    Imm.REFTYPE: valtype,
    Imm.VALTYPES: lambda imm: vector(valtype(v) for v in imm),
    Imm.MEMORY_INIT: lambda imm: uleb(imm) + b"\x00",
    Imm.DATA: uleb,
    Imm.MEMORY_COPY: lambda imm: b"\x00\x00",
    Imm.TABLE_INIT: lambda imm: uleb(imm[0]) + uleb(imm[1]),
    Imm.ELEM: uleb,
    Imm.TABLE_COPY: lambda imm: uleb(imm[0]) + uleb(imm[1]),
}


def instr(item: Instruction) -> bytes:
    """One instruction's bytes; ``item`` is an opcode or ``(opcode, immediates)``."""
    op, imm = (item, None) if isinstance(item, Opcode) else item
    info = OPS[op]
    head = bytes([op]) if op < 0x100 else bytes([PREFIX_MISC]) + uleb(op & 0xFF)
    if op == Opcode.MEMORY_SIZE or op == Opcode.MEMORY_GROW:
        return head + b"\x00"
    encoded: bytes = _IMMEDIATES[info.imm](imm)
    return head + encoded


def expr(items: Iterable[Instruction]) -> bytes:
    """Instructions followed by ``end``."""
    return b"".join(instr(i) for i in items) + bytes([Opcode.END])


@dataclass
class _Func:
    type_index: int
    locals: Sequence[ValType | str]
    body: bytes


@dataclass
class ModuleBuilder:
    """Collects a module's parts; :meth:`build` writes the binary."""

    types: list[FuncType] = field(default_factory=list)
    imports: list[bytes] = field(default_factory=list)
    funcs: list[_Func] = field(default_factory=list)
    tables: list[bytes] = field(default_factory=list)
    memories: list[bytes] = field(default_factory=list)
    globals: list[bytes] = field(default_factory=list)
    exports: list[bytes] = field(default_factory=list)
    start: int | None = None
    elems: list[bytes] = field(default_factory=list)
    datas: list[bytes] = field(default_factory=list)
    imported_funcs: int = 0

    def type(self, params: Sequence[ValType | str] = (), results: Sequence[ValType | str] = ()) -> int:
        """The index of the function type (added once)."""
        ftype = FuncType(tuple(ValType(p) for p in params), tuple(ValType(r) for r in results))
        if ftype not in self.types:
            self.types.append(ftype)
        return self.types.index(ftype)

    def import_func(self, module: str, field_name: str, params: Sequence[ValType | str] = (),
                    results: Sequence[ValType | str] = ()) -> int:
        """Import a function; returns its function index (imports come first)."""
        if self.funcs:
            raise ValueError("import functions before defining any")
        self.imports.append(name(module) + name(field_name) + bytes([ExternKind.FUNC])
                            + uleb(self.type(params, results)))
        self.imported_funcs += 1
        return self.imported_funcs - 1

    def func(self, params: Sequence[ValType | str] = (), results: Sequence[ValType | str] = (),
             body: Iterable[Instruction] = (), *, locals: Sequence[ValType | str] = (),
             export: str | None = None, raw_body: bytes | None = None) -> int:
        """Define a function; returns its index. ``raw_body`` (without ``end``) bypasses ``body``."""
        index = self.imported_funcs + len(self.funcs)
        code = expr(body) if raw_body is None else raw_body + bytes([Opcode.END])
        self.funcs.append(_Func(self.type(params, results), locals, code))
        if export is not None:
            self.export(export, ExternKind.FUNC, index)
        return index

    def table(self, minimum: int, maximum: int | None = None, elem: ValType | str = ValType.FUNCREF,
              export: str | None = None) -> int:
        self.tables.append(valtype(elem) + limits(minimum, maximum))
        if export is not None:
            self.export(export, ExternKind.TABLE, len(self.tables) - 1)
        return len(self.tables) - 1

    def memory(self, minimum: int, maximum: int | None = None, export: str | None = None) -> int:
        self.memories.append(limits(minimum, maximum))
        if export is not None:
            self.export(export, ExternKind.MEMORY, len(self.memories) - 1)
        return len(self.memories) - 1

    def global_(self, vt: ValType | str, mutable: bool, init: Iterable[Instruction],
                export: str | None = None) -> int:
        self.globals.append(valtype(vt) + bytes([int(mutable)]) + expr(init))
        if export is not None:
            self.export(export, ExternKind.GLOBAL, len(self.globals) - 1)
        return len(self.globals) - 1

    def export(self, export_name: str, kind: ExternKind, index: int) -> None:
        self.exports.append(name(export_name) + bytes([kind]) + uleb(index))

    def elem(self, offset: Iterable[Instruction], funcs: Sequence[int]) -> None:
        """An active segment of function indices into table 0."""
        self.elems.append(b"\x00" + expr(offset) + vector(uleb(f) for f in funcs))

    def data(self, offset: Iterable[Instruction], payload: bytes) -> None:
        """An active segment into memory 0."""
        self.datas.append(b"\x00" + expr(offset) + uleb(len(payload)) + payload)

    def build(self) -> bytes:
        out = bytearray(MAGIC_VERSION)
        type_bytes = (bytes([TypeCode.FUNC]) + vector(valtype(p) for p in t.params)
                      + vector(valtype(r) for r in t.results) for t in self.types)
        sections: list[tuple[SectionId, bytes | None]] = [
            (SectionId.TYPE, vector(type_bytes) if self.types else None),
            (SectionId.IMPORT, vector(self.imports) if self.imports else None),
            (SectionId.FUNCTION, vector(uleb(f.type_index) for f in self.funcs) if self.funcs else None),
            (SectionId.TABLE, vector(self.tables) if self.tables else None),
            (SectionId.MEMORY, vector(self.memories) if self.memories else None),
            (SectionId.GLOBAL, vector(self.globals) if self.globals else None),
            (SectionId.EXPORT, vector(self.exports) if self.exports else None),
            (SectionId.START, uleb(self.start) if self.start is not None else None),
            (SectionId.ELEMENT, vector(self.elems) if self.elems else None),
            (SectionId.DATA_COUNT, uleb(len(self.datas)) if self.datas else None),
            (SectionId.CODE, vector(_code(f) for f in self.funcs) if self.funcs else None),
            (SectionId.DATA, vector(self.datas) if self.datas else None),
        ]
        for section_id, payload in sections:
            if payload is not None:
                out += bytes([section_id]) + uleb(len(payload)) + payload
        return bytes(out)


def _code(func: _Func) -> bytes:
    runs: list[tuple[int, ValType]] = []
    for vt in func.locals:
        if runs and runs[-1][1] == ValType(vt):
            runs[-1] = (runs[-1][0] + 1, runs[-1][1])
        else:
            runs.append((1, ValType(vt)))
    body = vector(uleb(n) + valtype(vt) for n, vt in runs) + func.body
    return uleb(len(body)) + body
