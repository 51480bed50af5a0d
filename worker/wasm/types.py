"""Value, function and extern types of WebAssembly 2.0, named as in the spec.

Value types are a ``StrEnum`` so that a ``FuncType`` reads and compares as the
text format writes it (``FuncType(params=("i32",), results=("i32",))``); their
binary encodings live in one table, :data:`VALTYPE_BY_CODE`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum


class ValType(StrEnum):
    """A value type (spec 2.3.1 to 2.3.4). ``V128`` is decoded only to be refused."""

    I32 = "i32"
    I64 = "i64"
    F32 = "f32"
    F64 = "f64"
    V128 = "v128"
    FUNCREF = "funcref"
    EXTERNREF = "externref"

    @property
    def is_ref(self) -> bool:
        return self in (ValType.FUNCREF, ValType.EXTERNREF)

    @property
    def is_num(self) -> bool:
        return self in (ValType.I32, ValType.I64, ValType.F32, ValType.F64)


class TypeCode(IntEnum):
    """Binary encodings of value types and of the function-type marker."""

    I32 = 0x7F
    I64 = 0x7E
    F32 = 0x7D
    F64 = 0x7C
    V128 = 0x7B
    FUNCREF = 0x70
    EXTERNREF = 0x6F
    FUNC = 0x60
    EMPTY_BLOCK = 0x40


VALTYPE_BY_CODE: dict[int, ValType] = {
    TypeCode.I32: ValType.I32,
    TypeCode.I64: ValType.I64,
    TypeCode.F32: ValType.F32,
    TypeCode.F64: ValType.F64,
    TypeCode.V128: ValType.V128,
    TypeCode.FUNCREF: ValType.FUNCREF,
    TypeCode.EXTERNREF: ValType.EXTERNREF,
}
CODE_BY_VALTYPE: dict[ValType, int] = {v: k for k, v in VALTYPE_BY_CODE.items()}
REFTYPES: frozenset[ValType] = frozenset({ValType.FUNCREF, ValType.EXTERNREF})


class ExternKind(IntEnum):
    """Kinds of imports and exports (spec 2.5.10), with their binary codes."""

    FUNC = 0
    TABLE = 1
    MEMORY = 2
    GLOBAL = 3


class Mut(IntEnum):
    """Global mutability flag."""

    CONST = 0
    VAR = 1


@dataclass(frozen=True, slots=True)
class FuncType:
    """A function signature: parameter and result value types."""

    params: tuple[ValType, ...]
    results: tuple[ValType, ...]

    def __str__(self) -> str:
        return f"({', '.join(self.params)}) -> ({', '.join(self.results)})"


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits of a table (elements) or memory (64 KiB pages)."""

    min: int
    max: int | None = None

    def __str__(self) -> str:
        return f"{self.min}" if self.max is None else f"{self.min}..{self.max}"


@dataclass(frozen=True, slots=True)
class TableType:
    """A table's element reference type and limits."""

    elem: ValType
    limits: Limits


@dataclass(frozen=True, slots=True)
class MemType:
    """A linear memory's limits, in pages."""

    limits: Limits


@dataclass(frozen=True, slots=True)
class GlobalType:
    """A global's value type and mutability."""

    valtype: ValType
    mutable: bool


ExternType = FuncType | TableType | MemType | GlobalType

PAGE_SIZE = 65536
MAX_PAGES = 65536  # 4 GiB: the spec's bound for 32-bit memories
MAX_TABLE_SIZE = 0xFFFFFFFF
