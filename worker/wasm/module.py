"""The decoded module: typed, immutable objects named after the spec.

``decode()`` returns a :class:`Module` that has also been validated; the
validator's per-function results (operand-stack heights) ride along in
``Module.code_info`` for the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NamedTuple

from .opcodes import Opcode
from .types import ExternKind, FuncType, GlobalType, MemType, TableType, ValType


class SectionId(IntEnum):
    """Binary section ids (spec 5.5.2)."""

    CUSTOM = 0
    TYPE = 1
    IMPORT = 2
    FUNCTION = 3
    TABLE = 4
    MEMORY = 5
    GLOBAL = 6
    EXPORT = 7
    START = 8
    ELEMENT = 9
    CODE = 10
    DATA = 11
    DATA_COUNT = 12


SECTION_NAMES: dict[int, str] = {
    SectionId.CUSTOM: "custom",
    SectionId.TYPE: "type",
    SectionId.IMPORT: "import",
    SectionId.FUNCTION: "function",
    SectionId.TABLE: "table",
    SectionId.MEMORY: "memory",
    SectionId.GLOBAL: "global",
    SectionId.EXPORT: "export",
    SectionId.START: "start",
    SectionId.ELEMENT: "element",
    SectionId.CODE: "code",
    SectionId.DATA: "data",
    SectionId.DATA_COUNT: "data count",
}


class Instr(NamedTuple):
    """One instruction: opcode, decoded immediates (see ``opcodes.Imm``), byte offset."""

    op: Opcode
    imm: Any
    offset: int


Expr = tuple[Instr, ...]
"""An instruction sequence; a body or constant expression ends with ``end``."""


class SegmentMode(IntEnum):
    """Element and data segment modes."""

    ACTIVE = 0
    PASSIVE = 1
    DECLARATIVE = 2


@dataclass(frozen=True, slots=True)
class Import:
    """An import; ``desc`` is a type index for functions, else the extern type."""

    module: str
    name: str
    kind: ExternKind
    desc: int | TableType | MemType | GlobalType


@dataclass(frozen=True, slots=True)
class Export:
    """An export of the function/table/memory/global at ``index``."""

    name: str
    kind: ExternKind
    index: int


@dataclass(frozen=True, slots=True)
class Global:
    """A module-defined global with its constant initializer."""

    type: GlobalType
    init: Expr


@dataclass(frozen=True, slots=True)
class Func:
    """A module-defined function: type index, declared locals (expanded), body.

    ``locals`` lists only the declared locals, not the parameters. ``body``
    ends with the function's final ``end``. ``offset`` is where the body's
    local declarations start in the file; ``size`` the body size in bytes.
    """

    type_index: int
    locals: tuple[ValType, ...]
    body: Expr
    offset: int = 0
    size: int = 0
    name: str | None = None
    local_names: dict[int, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Elem:
    """An element segment; each of ``init`` is a constant expression of ``type``."""

    type: ValType
    init: tuple[Expr, ...]
    mode: SegmentMode
    table: int = 0
    offset: Expr | None = None


@dataclass(frozen=True, slots=True)
class Data:
    """A data segment."""

    init: bytes
    mode: SegmentMode
    memory: int = 0
    offset: Expr | None = None


@dataclass(frozen=True, slots=True)
class CustomSection:
    """A custom section's name and raw payload, with its position in the file."""

    name: str
    data: bytes
    offset: int


@dataclass(frozen=True, slots=True)
class SectionHeader:
    """Where a section lies in the file (for ``dump -h``)."""

    id: SectionId
    start: int  # offset of the payload (after id and size)
    end: int
    count: int | None  # entry count for vector sections
    name: str | None = None  # custom sections

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Names:
    """The ``name`` custom section: module, function and local names."""

    module: str | None = None
    functions: dict[int, str] = field(default_factory=dict)
    locals: dict[int, dict[int, str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CodeInfo:
    """What validation learned about one function body, for the compiler.

    ``heights[i]`` is the operand-stack height (values above the current
    function's locals, counted from the function's start) before ``body[i]``
    runs; ``-1`` marks instructions in unreachable code. ``max_height`` is
    the deepest the stack gets.
    """

    heights: tuple[int, ...]
    max_height: int


@dataclass(frozen=True, slots=True)
class Module:
    """A decoded and validated module. Index spaces count imports first."""

    types: tuple[FuncType, ...] = ()
    imports: tuple[Import, ...] = ()
    funcs: tuple[Func, ...] = ()
    tables: tuple[TableType, ...] = ()
    mems: tuple[MemType, ...] = ()
    globals: tuple[Global, ...] = ()
    exports: tuple[Export, ...] = ()
    start: int | None = None
    elems: tuple[Elem, ...] = ()
    datas: tuple[Data, ...] = ()
    data_count: int | None = None
    customs: tuple[CustomSection, ...] = ()
    sections: tuple[SectionHeader, ...] = ()
    names: Names = field(default_factory=Names)
    code_info: tuple[CodeInfo, ...] = ()

    def imported(self, kind: ExternKind) -> tuple[Import, ...]:
        """Imports of one kind, in index order."""
        return tuple(i for i in self.imports if i.kind == kind)

    @property
    def func_types(self) -> tuple[FuncType, ...]:
        """The type of every function in the function index space."""
        out = [self.types[i.desc] for i in self.imports
               if i.kind == ExternKind.FUNC and isinstance(i.desc, int)]
        out.extend(self.types[f.type_index] for f in self.funcs)
        return tuple(out)

    @property
    def table_types(self) -> tuple[TableType, ...]:
        """Every table in the table index space."""
        imp = [i.desc for i in self.imports if isinstance(i.desc, TableType)]
        return (*imp, *self.tables)

    @property
    def mem_types(self) -> tuple[MemType, ...]:
        """Every memory in the memory index space."""
        imp = [i.desc for i in self.imports if isinstance(i.desc, MemType)]
        return (*imp, *self.mems)

    @property
    def global_types(self) -> tuple[GlobalType, ...]:
        """Every global in the global index space."""
        imp = [i.desc for i in self.imports if isinstance(i.desc, GlobalType)]
        return (*imp, *(g.type for g in self.globals))

    @property
    def num_imported_funcs(self) -> int:
        return sum(1 for i in self.imports if i.kind == ExternKind.FUNC)

    def func_name(self, index: int) -> str | None:
        """The function's name from the ``name`` section, if any."""
        return self.names.functions.get(index)
