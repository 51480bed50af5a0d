"""The names compiled code uses besides the instance's own objects.

:data:`BASE_NAMESPACE` is copied into every instance namespace: the
``numeric`` helpers (by instruction name: ``i32_div_s``, ``f32_nearest``...),
bound ``struct`` accessors for inlined loads and stores (``ld_u32``,
``st_u64``...), trap constructors, and the helpers below for instructions
too rare or too subtle to inline (bulk memory, tables, ``memory.grow``,
``call_indirect`` failures). Metered code charges a grow's dynamic price
(``memory_grow_gas``, ``table_grow_gas``: nothing for a grow that will be
refused) and checks the meter *before* the grow allocates. Bounds checks follow the spec: a bulk
instruction checks its whole range before touching anything, so it either
completes or traps with nothing written.
"""

from __future__ import annotations

import math
from struct import error as StructError
from typing import Any

from .. import numeric
from ..errors import GasExhausted, StackExhausted, Trap, TrapKind
from ..numeric_float import f32_cell, f32_pack, f32_round, f32_unpack
from ..numeric_int import MASK32
from ..opcodes import OPS, Family, Imm
from ..types import PAGE_SIZE
from .gas import grow_elems_gas, grow_page_gas
from .memory import Memory
from .table import Table

FAILED = MASK32  # -1 as an i32: memory.grow / table.grow could not grow


def stack_exhausted() -> StackExhausted:
    return StackExhausted()


def out_of_gas() -> GasExhausted:
    return GasExhausted()


def unreachable_trap() -> Trap:
    return Trap(TrapKind.UNREACHABLE)


def out_of_bounds_trap() -> Trap:
    return Trap(TrapKind.OUT_OF_BOUNDS_MEMORY)


def divide_by_zero_trap() -> Trap:
    return Trap(TrapKind.INTEGER_DIVIDE_BY_ZERO)


def _table_trap() -> Trap:
    return Trap(TrapKind.OUT_OF_BOUNDS_TABLE)


def call_indirect_trap(table: list[Any], index: int, sig: int) -> Trap:
    """Why ``call_indirect`` through ``table[index]`` with signature ``sig`` failed."""
    if index >= len(table):
        return Trap(TrapKind.UNDEFINED_ELEMENT, f"undefined element {index}")
    if table[index] is None:
        return Trap(TrapKind.UNINITIALIZED_ELEMENT, f"uninitialized element {index}")
    return Trap(TrapKind.INDIRECT_CALL_TYPE_MISMATCH)


# -- memory


def memory_grow(memory: Memory, pages: int) -> int:
    """``memory.grow``: the old size in pages, or -1 (as an i32)."""
    old = memory.grow(pages)
    return FAILED if old < 0 else old


def memory_grow_gas(memory: Memory, pages: int) -> int:
    """The dynamic price of ``memory.grow``, charged before it runs: 0 when it will be refused."""
    return grow_page_gas(pages) if memory.can_grow(pages) else 0


def memory_fill(m: bytearray, dst: int, value: int, count: int) -> None:
    if dst + count > len(m):
        raise out_of_bounds_trap()
    m[dst:dst + count] = bytes((value & 0xFF,)) * count


def memory_copy(m: bytearray, dst: int, src: int, count: int) -> None:
    if src + count > len(m) or dst + count > len(m):
        raise out_of_bounds_trap()
    m[dst:dst + count] = m[src:src + count]


def memory_init(m: bytearray, datas: list[bytes], segment: int, dst: int, src: int, count: int) -> None:
    data = datas[segment]
    if src + count > len(data) or dst + count > len(m):
        raise out_of_bounds_trap()
    m[dst:dst + count] = data[src:src + count]


# -- tables


def table_get(table: list[Any], index: int) -> Any:
    if index >= len(table):
        raise _table_trap()
    return table[index]


def table_set(table: list[Any], index: int, ref: Any) -> None:
    if index >= len(table):
        raise _table_trap()
    table[index] = ref


def table_grow(table: Table, ref: Any, count: int) -> int:
    """``table.grow``: the old size, or -1 (as an i32)."""
    old = table.grow_runtime(count, ref)
    return FAILED if old < 0 else old


def table_grow_gas(table: Table, count: int) -> int:
    """The dynamic price of ``table.grow``, charged before it runs: 0 when it will be refused."""
    return grow_elems_gas(count) if table.can_grow(count) else 0


def table_fill(table: list[Any], index: int, ref: Any, count: int) -> None:
    if index + count > len(table):
        raise _table_trap()
    table[index:index + count] = [ref] * count


def table_copy(dst_table: list[Any], src_table: list[Any], dst: int, src: int, count: int) -> None:
    if src + count > len(src_table) or dst + count > len(dst_table):
        raise _table_trap()
    dst_table[dst:dst + count] = src_table[src:src + count]


def table_init(table: list[Any], elems: list[Any], segment: int, dst: int, src: int, count: int) -> None:
    elem = elems[segment]
    if src + count > len(elem) or dst + count > len(table):
        raise _table_trap()
    table[dst:dst + count] = elem[src:src + count]


def _numeric_helpers() -> dict[str, Any]:
    names: dict[str, Any] = {}
    for op, helper in numeric.OPCODE_HELPERS.items():
        info = OPS[op]
        if info.family is Family.NUMERIC or info.imm is Imm.MEMARG:
            names[info.name.replace(".", "_")] = helper
    return names


_BUILTINS: dict[str, Any] = {"len": len, "abs": abs, "float": float}

BASE_NAMESPACE: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    **_numeric_helpers(),
    "f32_round": f32_round,
    "f32p": f32_pack,
    "f32u": f32_unpack,
    "F32": f32_cell(),  # a default cell; every instance whose code rounds through one gets its own
    "copysign": numeric.f64_copysign,
    "abs": abs,
    "float": float,
    "len": len,
    "ld_u32": numeric.LE_U32.unpack_from,
    "ld_i32": numeric.LE_I32.unpack_from,
    "ld_u64": numeric.LE_U64.unpack_from,
    "ld_f64": numeric.LE_F64.unpack_from,
    "ld_u16": numeric.LE_U16.unpack_from,
    "ld_i16": numeric.LE_I16.unpack_from,
    "st_u32": numeric.LE_U32.pack_into,
    "st_i32": numeric.LE_I32.pack_into,
    "st_u64": numeric.LE_U64.pack_into,
    "st_f64": numeric.LE_F64.pack_into,
    "st_u16": numeric.LE_U16.pack_into,
    "MEMORY_ERRORS": (IndexError, StructError),
    "ZeroDivisionError": ZeroDivisionError,
    "BaseException": BaseException,
    "stack_exhausted": stack_exhausted,
    "out_of_gas": out_of_gas,
    "unreachable_trap": unreachable_trap,
    "out_of_bounds_trap": out_of_bounds_trap,
    "divide_by_zero_trap": divide_by_zero_trap,
    "call_indirect_trap": call_indirect_trap,
    "memory_grow": memory_grow,
    "memory_fill": memory_fill,
    "memory_copy": memory_copy,
    "memory_init": memory_init,
    "table_get": table_get,
    "table_set": table_set,
    "table_grow": table_grow,
    "memory_grow_gas": memory_grow_gas,
    "table_grow_gas": table_grow_gas,
    "table_fill": table_fill,
    "table_copy": table_copy,
    "table_init": table_init,
    "grow_page_gas": grow_page_gas,
    "grow_elems_gas": grow_elems_gas,
    "inf": math.inf,
    "PAGE_SIZE": PAGE_SIZE,
}
"""What every instance namespace starts from."""
