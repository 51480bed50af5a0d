"""The opcode table: one row per instruction, shared by every stage.

The decoder reads immediates by :class:`Imm`, the validator types plain
instructions by ``pops``/``pushes`` (``None`` marks the polymorphic ones it
types by hand), the compiler picks lowering rules by ``family`` and name, the
dump tool prints ``name``, and the gas meter charges ``gas``. Prefixed
instructions (``0xFC n``) are keyed as ``0xFC00 | n``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .types import ValType


class Imm(IntEnum):
    """How an instruction's immediates are encoded (and decoded as ``Instr.imm``)."""

    NONE = 0  # imm is None
    BLOCKTYPE = 1  # None (empty), a ValType, or a type index (int)
    LABEL = 2  # label index (int)
    LABELS = 3  # (tuple of label indices, default label)
    FUNC = 4  # function index
    CALL_INDIRECT = 5  # (type index, table index)
    LOCAL = 6  # local index
    GLOBAL = 7  # global index
    TABLE = 8  # table index
    MEMARG = 9  # (align exponent, offset)
    MEMIDX = 10  # memory index (must be 0 in 2.0)
    I32 = 11  # signed int
    I64 = 12  # signed int
    F32 = 13  # raw bit pattern, unsigned 32-bit int
    F64 = 14  # raw bit pattern, unsigned 64-bit int
    REFTYPE = 15  # ValType.FUNCREF or ValType.EXTERNREF
    VALTYPES = 16  # tuple of ValType (typed select)
    MEMORY_INIT = 17  # data index (the memory index byte must be 0)
    DATA = 18  # data index
    MEMORY_COPY = 19  # None (both memory index bytes must be 0)
    TABLE_INIT = 20  # (elem index, table index)
    ELEM = 21  # elem index
    TABLE_COPY = 22  # (destination table, source table)


class Family(IntEnum):
    """Instruction families; each has its own validation and lowering rules."""

    CONTROL = 1
    PARAMETRIC = 2
    VARIABLE = 3
    TABLE = 4
    MEMORY = 5
    CONST = 6
    NUMERIC = 7
    REFERENCE = 8


class Gas(IntEnum):
    """Gas prices (see docs/gas.md). Dynamic parts are charged at run time."""

    BASE = 1  # arithmetic, locals, globals, constants, control
    DIV = 4  # integer division/remainder, float division and sqrt
    MEMORY = 3  # loads, stores, table.get/set
    CALL = 10  # direct call
    CALL_INDIRECT = 15  # indirect call, including the signature check
    MEMORY_GROW = 100  # memory.grow / table.grow, plus GROW_PAGE per page
    BULK = 20  # memory/table copy, fill, init, plus BULK_UNIT_GAS per unit of bytes or elements
    CONVERT = 8  # float -> int truncations, int -> f32 conversions, f32.demote, reinterpretations
    F32 = 4  # f32 add, sub, mul (each result is rounded to single precision by a helper)


GROW_PAGE_GAS = 1000  # per 64 KiB page granted by memory.grow (per 64 elements for table.grow)
BULK_UNIT_GAS = 1  # per started unit moved by a bulk instruction:
BULK_UNIT = 64  # ... bytes for memory.copy/fill/init
TABLE_BULK_UNIT = 4  # ... elements for table.copy/fill/init (an element costs ~16 bytes' time)

# Calls (see docs/gas.md "Calls"). A frame's slots are its parameters, declared locals and
# registers (the operand stack's maximum height): what CPython allocates and the code zeroes.
FRAME_FREE_SLOTS = 16  # slots the call instruction's own price covers
FRAME_SLOTS_PER_GAS = 2  # beyond them, 1 gas per started 2 slots, paid with the callee's entry
HOST_CALL_GAS = 100  # on top of CALL for a call to an imported function (the host crossing)
BRANCH_VALUE_GAS = 1  # per value a br, br_if, br_table or return carries


class Opcode(IntEnum):
    """Every non-SIMD WebAssembly 2.0 instruction."""

    UNREACHABLE = 0x00
    NOP = 0x01
    BLOCK = 0x02
    LOOP = 0x03
    IF = 0x04
    ELSE = 0x05
    END = 0x0b
    BR = 0x0c
    BR_IF = 0x0d
    BR_TABLE = 0x0e
    RETURN = 0x0f
    CALL = 0x10
    CALL_INDIRECT = 0x11
    DROP = 0x1a
    SELECT = 0x1b
    SELECT_T = 0x1c
    LOCAL_GET = 0x20
    LOCAL_SET = 0x21
    LOCAL_TEE = 0x22
    GLOBAL_GET = 0x23
    GLOBAL_SET = 0x24
    TABLE_GET = 0x25
    TABLE_SET = 0x26
    I32_LOAD = 0x28
    I64_LOAD = 0x29
    F32_LOAD = 0x2a
    F64_LOAD = 0x2b
    I32_LOAD8_S = 0x2c
    I32_LOAD8_U = 0x2d
    I32_LOAD16_S = 0x2e
    I32_LOAD16_U = 0x2f
    I64_LOAD8_S = 0x30
    I64_LOAD8_U = 0x31
    I64_LOAD16_S = 0x32
    I64_LOAD16_U = 0x33
    I64_LOAD32_S = 0x34
    I64_LOAD32_U = 0x35
    I32_STORE = 0x36
    I64_STORE = 0x37
    F32_STORE = 0x38
    F64_STORE = 0x39
    I32_STORE8 = 0x3a
    I32_STORE16 = 0x3b
    I64_STORE8 = 0x3c
    I64_STORE16 = 0x3d
    I64_STORE32 = 0x3e
    MEMORY_SIZE = 0x3f
    MEMORY_GROW = 0x40
    I32_CONST = 0x41
    I64_CONST = 0x42
    F32_CONST = 0x43
    F64_CONST = 0x44
    I32_EQZ = 0x45
    I32_EQ = 0x46
    I32_NE = 0x47
    I32_LT_S = 0x48
    I32_LT_U = 0x49
    I32_GT_S = 0x4a
    I32_GT_U = 0x4b
    I32_LE_S = 0x4c
    I32_LE_U = 0x4d
    I32_GE_S = 0x4e
    I32_GE_U = 0x4f
    I64_EQZ = 0x50
    I64_EQ = 0x51
    I64_NE = 0x52
    I64_LT_S = 0x53
    I64_LT_U = 0x54
    I64_GT_S = 0x55
    I64_GT_U = 0x56
    I64_LE_S = 0x57
    I64_LE_U = 0x58
    I64_GE_S = 0x59
    I64_GE_U = 0x5a
    F32_EQ = 0x5b
    F32_NE = 0x5c
    F32_LT = 0x5d
    F32_GT = 0x5e
    F32_LE = 0x5f
    F32_GE = 0x60
    F64_EQ = 0x61
    F64_NE = 0x62
    F64_LT = 0x63
    F64_GT = 0x64
    F64_LE = 0x65
    F64_GE = 0x66
    I32_CLZ = 0x67
    I32_CTZ = 0x68
    I32_POPCNT = 0x69
    I32_ADD = 0x6a
    I32_SUB = 0x6b
    I32_MUL = 0x6c
    I32_DIV_S = 0x6d
    I32_DIV_U = 0x6e
    I32_REM_S = 0x6f
    I32_REM_U = 0x70
    I32_AND = 0x71
    I32_OR = 0x72
    I32_XOR = 0x73
    I32_SHL = 0x74
    I32_SHR_S = 0x75
    I32_SHR_U = 0x76
    I32_ROTL = 0x77
    I32_ROTR = 0x78
    I64_CLZ = 0x79
    I64_CTZ = 0x7a
    I64_POPCNT = 0x7b
    I64_ADD = 0x7c
    I64_SUB = 0x7d
    I64_MUL = 0x7e
    I64_DIV_S = 0x7f
    I64_DIV_U = 0x80
    I64_REM_S = 0x81
    I64_REM_U = 0x82
    I64_AND = 0x83
    I64_OR = 0x84
    I64_XOR = 0x85
    I64_SHL = 0x86
    I64_SHR_S = 0x87
    I64_SHR_U = 0x88
    I64_ROTL = 0x89
    I64_ROTR = 0x8a
    F32_ABS = 0x8b
    F32_NEG = 0x8c
    F32_CEIL = 0x8d
    F32_FLOOR = 0x8e
    F32_TRUNC = 0x8f
    F32_NEAREST = 0x90
    F32_SQRT = 0x91
    F32_ADD = 0x92
    F32_SUB = 0x93
    F32_MUL = 0x94
    F32_DIV = 0x95
    F32_MIN = 0x96
    F32_MAX = 0x97
    F32_COPYSIGN = 0x98
    F64_ABS = 0x99
    F64_NEG = 0x9a
    F64_CEIL = 0x9b
    F64_FLOOR = 0x9c
    F64_TRUNC = 0x9d
    F64_NEAREST = 0x9e
    F64_SQRT = 0x9f
    F64_ADD = 0xa0
    F64_SUB = 0xa1
    F64_MUL = 0xa2
    F64_DIV = 0xa3
    F64_MIN = 0xa4
    F64_MAX = 0xa5
    F64_COPYSIGN = 0xa6
    I32_WRAP_I64 = 0xa7
    I32_TRUNC_F32_S = 0xa8
    I32_TRUNC_F32_U = 0xa9
    I32_TRUNC_F64_S = 0xaa
    I32_TRUNC_F64_U = 0xab
    I64_EXTEND_I32_S = 0xac
    I64_EXTEND_I32_U = 0xad
    I64_TRUNC_F32_S = 0xae
    I64_TRUNC_F32_U = 0xaf
    I64_TRUNC_F64_S = 0xb0
    I64_TRUNC_F64_U = 0xb1
    F32_CONVERT_I32_S = 0xb2
    F32_CONVERT_I32_U = 0xb3
    F32_CONVERT_I64_S = 0xb4
    F32_CONVERT_I64_U = 0xb5
    F32_DEMOTE_F64 = 0xb6
    F64_CONVERT_I32_S = 0xb7
    F64_CONVERT_I32_U = 0xb8
    F64_CONVERT_I64_S = 0xb9
    F64_CONVERT_I64_U = 0xba
    F64_PROMOTE_F32 = 0xbb
    I32_REINTERPRET_F32 = 0xbc
    I64_REINTERPRET_F64 = 0xbd
    F32_REINTERPRET_I32 = 0xbe
    F64_REINTERPRET_I64 = 0xbf
    I32_EXTEND8_S = 0xc0
    I32_EXTEND16_S = 0xc1
    I64_EXTEND8_S = 0xc2
    I64_EXTEND16_S = 0xc3
    I64_EXTEND32_S = 0xc4
    REF_NULL = 0xd0
    REF_IS_NULL = 0xd1
    REF_FUNC = 0xd2
    I32_TRUNC_SAT_F32_S = 0xfc00
    I32_TRUNC_SAT_F32_U = 0xfc01
    I32_TRUNC_SAT_F64_S = 0xfc02
    I32_TRUNC_SAT_F64_U = 0xfc03
    I64_TRUNC_SAT_F32_S = 0xfc04
    I64_TRUNC_SAT_F32_U = 0xfc05
    I64_TRUNC_SAT_F64_S = 0xfc06
    I64_TRUNC_SAT_F64_U = 0xfc07
    MEMORY_INIT = 0xfc08
    DATA_DROP = 0xfc09
    MEMORY_COPY = 0xfc0a
    MEMORY_FILL = 0xfc0b
    TABLE_INIT = 0xfc0c
    ELEM_DROP = 0xfc0d
    TABLE_COPY = 0xfc0e
    TABLE_GROW = 0xfc0f
    TABLE_SIZE = 0xfc10
    TABLE_FILL = 0xfc11


PREFIX_MISC = 0xFC
PREFIX_SIMD = 0xFD


@dataclass(frozen=True, slots=True)
class OpInfo:
    """One row of the table."""

    op: Opcode
    name: str
    imm: Imm
    pops: tuple[ValType, ...] | None
    pushes: tuple[ValType, ...] | None
    gas: int
    family: Family
    align: int  # memory ops: natural alignment exponent (the largest valid one)

    @property
    def width(self) -> int:
        """Bytes a load or store touches."""
        return 1 << self.align


def _t(spec: str | None) -> tuple[ValType, ...] | None:
    return None if spec is None else tuple(ValType(s) for s in spec.split())


_I, _G, _F = Imm, Gas, Family
_ROWS: list[tuple[Opcode, str, Imm, str | None, str | None, Gas, Family, int]] = [
    (Opcode.UNREACHABLE, 'unreachable', _I.NONE, '', '', _G.BASE, _F.CONTROL, 0),
    (Opcode.NOP, 'nop', _I.NONE, '', '', _G.BASE, _F.CONTROL, 0),
    (Opcode.BLOCK, 'block', _I.BLOCKTYPE, None, None, _G.BASE, _F.CONTROL, 0),
    (Opcode.LOOP, 'loop', _I.BLOCKTYPE, None, None, _G.BASE, _F.CONTROL, 0),
    (Opcode.IF, 'if', _I.BLOCKTYPE, None, None, _G.BASE, _F.CONTROL, 0),
    (Opcode.ELSE, 'else', _I.NONE, None, None, _G.BASE, _F.CONTROL, 0),
    (Opcode.END, 'end', _I.NONE, None, None, _G.BASE, _F.CONTROL, 0),
    (Opcode.BR, 'br', _I.LABEL, None, None, _G.BASE, _F.CONTROL, 0),
    (Opcode.BR_IF, 'br_if', _I.LABEL, None, None, _G.BASE, _F.CONTROL, 0),
    (Opcode.BR_TABLE, 'br_table', _I.LABELS, None, None, _G.BASE, _F.CONTROL, 0),
    (Opcode.RETURN, 'return', _I.NONE, None, None, _G.BASE, _F.CONTROL, 0),
    (Opcode.CALL, 'call', _I.FUNC, None, None, _G.CALL, _F.CONTROL, 0),
    (Opcode.CALL_INDIRECT, 'call_indirect', _I.CALL_INDIRECT, None, None, _G.CALL_INDIRECT, _F.CONTROL, 0),
    (Opcode.DROP, 'drop', _I.NONE, None, None, _G.BASE, _F.PARAMETRIC, 0),
    (Opcode.SELECT, 'select', _I.NONE, None, None, _G.BASE, _F.PARAMETRIC, 0),
    (Opcode.SELECT_T, 'select', _I.VALTYPES, None, None, _G.BASE, _F.PARAMETRIC, 0),
    (Opcode.LOCAL_GET, 'local.get', _I.LOCAL, None, None, _G.BASE, _F.VARIABLE, 0),
    (Opcode.LOCAL_SET, 'local.set', _I.LOCAL, None, None, _G.BASE, _F.VARIABLE, 0),
    (Opcode.LOCAL_TEE, 'local.tee', _I.LOCAL, None, None, _G.BASE, _F.VARIABLE, 0),
    (Opcode.GLOBAL_GET, 'global.get', _I.GLOBAL, None, None, _G.BASE, _F.VARIABLE, 0),
    (Opcode.GLOBAL_SET, 'global.set', _I.GLOBAL, None, None, _G.BASE, _F.VARIABLE, 0),
    (Opcode.TABLE_GET, 'table.get', _I.TABLE, None, None, _G.MEMORY, _F.TABLE, 0),
    (Opcode.TABLE_SET, 'table.set', _I.TABLE, None, None, _G.MEMORY, _F.TABLE, 0),
    (Opcode.I32_LOAD, 'i32.load', _I.MEMARG, 'i32', 'i32', _G.MEMORY, _F.MEMORY, 2),
    (Opcode.I64_LOAD, 'i64.load', _I.MEMARG, 'i32', 'i64', _G.MEMORY, _F.MEMORY, 3),
    (Opcode.F32_LOAD, 'f32.load', _I.MEMARG, 'i32', 'f32', _G.MEMORY, _F.MEMORY, 2),
    (Opcode.F64_LOAD, 'f64.load', _I.MEMARG, 'i32', 'f64', _G.MEMORY, _F.MEMORY, 3),
    (Opcode.I32_LOAD8_S, 'i32.load8_s', _I.MEMARG, 'i32', 'i32', _G.MEMORY, _F.MEMORY, 0),
    (Opcode.I32_LOAD8_U, 'i32.load8_u', _I.MEMARG, 'i32', 'i32', _G.MEMORY, _F.MEMORY, 0),
    (Opcode.I32_LOAD16_S, 'i32.load16_s', _I.MEMARG, 'i32', 'i32', _G.MEMORY, _F.MEMORY, 1),
    (Opcode.I32_LOAD16_U, 'i32.load16_u', _I.MEMARG, 'i32', 'i32', _G.MEMORY, _F.MEMORY, 1),
    (Opcode.I64_LOAD8_S, 'i64.load8_s', _I.MEMARG, 'i32', 'i64', _G.MEMORY, _F.MEMORY, 0),
    (Opcode.I64_LOAD8_U, 'i64.load8_u', _I.MEMARG, 'i32', 'i64', _G.MEMORY, _F.MEMORY, 0),
    (Opcode.I64_LOAD16_S, 'i64.load16_s', _I.MEMARG, 'i32', 'i64', _G.MEMORY, _F.MEMORY, 1),
    (Opcode.I64_LOAD16_U, 'i64.load16_u', _I.MEMARG, 'i32', 'i64', _G.MEMORY, _F.MEMORY, 1),
    (Opcode.I64_LOAD32_S, 'i64.load32_s', _I.MEMARG, 'i32', 'i64', _G.MEMORY, _F.MEMORY, 2),
    (Opcode.I64_LOAD32_U, 'i64.load32_u', _I.MEMARG, 'i32', 'i64', _G.MEMORY, _F.MEMORY, 2),
    (Opcode.I32_STORE, 'i32.store', _I.MEMARG, 'i32 i32', '', _G.MEMORY, _F.MEMORY, 2),
    (Opcode.I64_STORE, 'i64.store', _I.MEMARG, 'i32 i64', '', _G.MEMORY, _F.MEMORY, 3),
    (Opcode.F32_STORE, 'f32.store', _I.MEMARG, 'i32 f32', '', _G.MEMORY, _F.MEMORY, 2),
    (Opcode.F64_STORE, 'f64.store', _I.MEMARG, 'i32 f64', '', _G.MEMORY, _F.MEMORY, 3),
    (Opcode.I32_STORE8, 'i32.store8', _I.MEMARG, 'i32 i32', '', _G.MEMORY, _F.MEMORY, 0),
    (Opcode.I32_STORE16, 'i32.store16', _I.MEMARG, 'i32 i32', '', _G.MEMORY, _F.MEMORY, 1),
    (Opcode.I64_STORE8, 'i64.store8', _I.MEMARG, 'i32 i64', '', _G.MEMORY, _F.MEMORY, 0),
    (Opcode.I64_STORE16, 'i64.store16', _I.MEMARG, 'i32 i64', '', _G.MEMORY, _F.MEMORY, 1),
    (Opcode.I64_STORE32, 'i64.store32', _I.MEMARG, 'i32 i64', '', _G.MEMORY, _F.MEMORY, 2),
    (Opcode.MEMORY_SIZE, 'memory.size', _I.MEMIDX, '', 'i32', _G.BASE, _F.MEMORY, 0),
    (Opcode.MEMORY_GROW, 'memory.grow', _I.MEMIDX, 'i32', 'i32', _G.MEMORY_GROW, _F.MEMORY, 0),
    (Opcode.I32_CONST, 'i32.const', _I.I32, '', 'i32', _G.BASE, _F.CONST, 0),
    (Opcode.I64_CONST, 'i64.const', _I.I64, '', 'i64', _G.BASE, _F.CONST, 0),
    (Opcode.F32_CONST, 'f32.const', _I.F32, '', 'f32', _G.BASE, _F.CONST, 0),
    (Opcode.F64_CONST, 'f64.const', _I.F64, '', 'f64', _G.BASE, _F.CONST, 0),
    (Opcode.I32_EQZ, 'i32.eqz', _I.NONE, 'i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_EQ, 'i32.eq', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_NE, 'i32.ne', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_LT_S, 'i32.lt_s', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_LT_U, 'i32.lt_u', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_GT_S, 'i32.gt_s', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_GT_U, 'i32.gt_u', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_LE_S, 'i32.le_s', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_LE_U, 'i32.le_u', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_GE_S, 'i32.ge_s', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_GE_U, 'i32.ge_u', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_EQZ, 'i64.eqz', _I.NONE, 'i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_EQ, 'i64.eq', _I.NONE, 'i64 i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_NE, 'i64.ne', _I.NONE, 'i64 i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_LT_S, 'i64.lt_s', _I.NONE, 'i64 i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_LT_U, 'i64.lt_u', _I.NONE, 'i64 i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_GT_S, 'i64.gt_s', _I.NONE, 'i64 i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_GT_U, 'i64.gt_u', _I.NONE, 'i64 i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_LE_S, 'i64.le_s', _I.NONE, 'i64 i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_LE_U, 'i64.le_u', _I.NONE, 'i64 i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_GE_S, 'i64.ge_s', _I.NONE, 'i64 i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_GE_U, 'i64.ge_u', _I.NONE, 'i64 i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_EQ, 'f32.eq', _I.NONE, 'f32 f32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_NE, 'f32.ne', _I.NONE, 'f32 f32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_LT, 'f32.lt', _I.NONE, 'f32 f32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_GT, 'f32.gt', _I.NONE, 'f32 f32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_LE, 'f32.le', _I.NONE, 'f32 f32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_GE, 'f32.ge', _I.NONE, 'f32 f32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_EQ, 'f64.eq', _I.NONE, 'f64 f64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_NE, 'f64.ne', _I.NONE, 'f64 f64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_LT, 'f64.lt', _I.NONE, 'f64 f64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_GT, 'f64.gt', _I.NONE, 'f64 f64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_LE, 'f64.le', _I.NONE, 'f64 f64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_GE, 'f64.ge', _I.NONE, 'f64 f64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_CLZ, 'i32.clz', _I.NONE, 'i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_CTZ, 'i32.ctz', _I.NONE, 'i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_POPCNT, 'i32.popcnt', _I.NONE, 'i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_ADD, 'i32.add', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_SUB, 'i32.sub', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_MUL, 'i32.mul', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_DIV_S, 'i32.div_s', _I.NONE, 'i32 i32', 'i32', _G.DIV, _F.NUMERIC, 0),
    (Opcode.I32_DIV_U, 'i32.div_u', _I.NONE, 'i32 i32', 'i32', _G.DIV, _F.NUMERIC, 0),
    (Opcode.I32_REM_S, 'i32.rem_s', _I.NONE, 'i32 i32', 'i32', _G.DIV, _F.NUMERIC, 0),
    (Opcode.I32_REM_U, 'i32.rem_u', _I.NONE, 'i32 i32', 'i32', _G.DIV, _F.NUMERIC, 0),
    (Opcode.I32_AND, 'i32.and', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_OR, 'i32.or', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_XOR, 'i32.xor', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_SHL, 'i32.shl', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_SHR_S, 'i32.shr_s', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_SHR_U, 'i32.shr_u', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_ROTL, 'i32.rotl', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_ROTR, 'i32.rotr', _I.NONE, 'i32 i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_CLZ, 'i64.clz', _I.NONE, 'i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_CTZ, 'i64.ctz', _I.NONE, 'i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_POPCNT, 'i64.popcnt', _I.NONE, 'i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_ADD, 'i64.add', _I.NONE, 'i64 i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_SUB, 'i64.sub', _I.NONE, 'i64 i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_MUL, 'i64.mul', _I.NONE, 'i64 i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_DIV_S, 'i64.div_s', _I.NONE, 'i64 i64', 'i64', _G.DIV, _F.NUMERIC, 0),
    (Opcode.I64_DIV_U, 'i64.div_u', _I.NONE, 'i64 i64', 'i64', _G.DIV, _F.NUMERIC, 0),
    (Opcode.I64_REM_S, 'i64.rem_s', _I.NONE, 'i64 i64', 'i64', _G.DIV, _F.NUMERIC, 0),
    (Opcode.I64_REM_U, 'i64.rem_u', _I.NONE, 'i64 i64', 'i64', _G.DIV, _F.NUMERIC, 0),
    (Opcode.I64_AND, 'i64.and', _I.NONE, 'i64 i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_OR, 'i64.or', _I.NONE, 'i64 i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_XOR, 'i64.xor', _I.NONE, 'i64 i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_SHL, 'i64.shl', _I.NONE, 'i64 i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_SHR_S, 'i64.shr_s', _I.NONE, 'i64 i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_SHR_U, 'i64.shr_u', _I.NONE, 'i64 i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_ROTL, 'i64.rotl', _I.NONE, 'i64 i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_ROTR, 'i64.rotr', _I.NONE, 'i64 i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_ABS, 'f32.abs', _I.NONE, 'f32', 'f32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_NEG, 'f32.neg', _I.NONE, 'f32', 'f32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_CEIL, 'f32.ceil', _I.NONE, 'f32', 'f32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_FLOOR, 'f32.floor', _I.NONE, 'f32', 'f32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_TRUNC, 'f32.trunc', _I.NONE, 'f32', 'f32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_NEAREST, 'f32.nearest', _I.NONE, 'f32', 'f32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_SQRT, 'f32.sqrt', _I.NONE, 'f32', 'f32', _G.DIV, _F.NUMERIC, 0),
    (Opcode.F32_ADD, 'f32.add', _I.NONE, 'f32 f32', 'f32', _G.F32, _F.NUMERIC, 0),
    (Opcode.F32_SUB, 'f32.sub', _I.NONE, 'f32 f32', 'f32', _G.F32, _F.NUMERIC, 0),
    (Opcode.F32_MUL, 'f32.mul', _I.NONE, 'f32 f32', 'f32', _G.F32, _F.NUMERIC, 0),
    (Opcode.F32_DIV, 'f32.div', _I.NONE, 'f32 f32', 'f32', _G.DIV, _F.NUMERIC, 0),
    (Opcode.F32_MIN, 'f32.min', _I.NONE, 'f32 f32', 'f32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_MAX, 'f32.max', _I.NONE, 'f32 f32', 'f32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F32_COPYSIGN, 'f32.copysign', _I.NONE, 'f32 f32', 'f32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_ABS, 'f64.abs', _I.NONE, 'f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_NEG, 'f64.neg', _I.NONE, 'f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_CEIL, 'f64.ceil', _I.NONE, 'f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_FLOOR, 'f64.floor', _I.NONE, 'f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_TRUNC, 'f64.trunc', _I.NONE, 'f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_NEAREST, 'f64.nearest', _I.NONE, 'f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_SQRT, 'f64.sqrt', _I.NONE, 'f64', 'f64', _G.DIV, _F.NUMERIC, 0),
    (Opcode.F64_ADD, 'f64.add', _I.NONE, 'f64 f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_SUB, 'f64.sub', _I.NONE, 'f64 f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_MUL, 'f64.mul', _I.NONE, 'f64 f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_DIV, 'f64.div', _I.NONE, 'f64 f64', 'f64', _G.DIV, _F.NUMERIC, 0),
    (Opcode.F64_MIN, 'f64.min', _I.NONE, 'f64 f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_MAX, 'f64.max', _I.NONE, 'f64 f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_COPYSIGN, 'f64.copysign', _I.NONE, 'f64 f64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_WRAP_I64, 'i32.wrap_i64', _I.NONE, 'i64', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_TRUNC_F32_S, 'i32.trunc_f32_s', _I.NONE, 'f32', 'i32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I32_TRUNC_F32_U, 'i32.trunc_f32_u', _I.NONE, 'f32', 'i32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I32_TRUNC_F64_S, 'i32.trunc_f64_s', _I.NONE, 'f64', 'i32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I32_TRUNC_F64_U, 'i32.trunc_f64_u', _I.NONE, 'f64', 'i32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I64_EXTEND_I32_S, 'i64.extend_i32_s', _I.NONE, 'i32', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_EXTEND_I32_U, 'i64.extend_i32_u', _I.NONE, 'i32', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_TRUNC_F32_S, 'i64.trunc_f32_s', _I.NONE, 'f32', 'i64', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I64_TRUNC_F32_U, 'i64.trunc_f32_u', _I.NONE, 'f32', 'i64', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I64_TRUNC_F64_S, 'i64.trunc_f64_s', _I.NONE, 'f64', 'i64', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I64_TRUNC_F64_U, 'i64.trunc_f64_u', _I.NONE, 'f64', 'i64', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.F32_CONVERT_I32_S, 'f32.convert_i32_s', _I.NONE, 'i32', 'f32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.F32_CONVERT_I32_U, 'f32.convert_i32_u', _I.NONE, 'i32', 'f32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.F32_CONVERT_I64_S, 'f32.convert_i64_s', _I.NONE, 'i64', 'f32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.F32_CONVERT_I64_U, 'f32.convert_i64_u', _I.NONE, 'i64', 'f32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.F32_DEMOTE_F64, 'f32.demote_f64', _I.NONE, 'f64', 'f32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.F64_CONVERT_I32_S, 'f64.convert_i32_s', _I.NONE, 'i32', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_CONVERT_I32_U, 'f64.convert_i32_u', _I.NONE, 'i32', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_CONVERT_I64_S, 'f64.convert_i64_s', _I.NONE, 'i64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_CONVERT_I64_U, 'f64.convert_i64_u', _I.NONE, 'i64', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.F64_PROMOTE_F32, 'f64.promote_f32', _I.NONE, 'f32', 'f64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_REINTERPRET_F32, 'i32.reinterpret_f32', _I.NONE, 'f32', 'i32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I64_REINTERPRET_F64, 'i64.reinterpret_f64', _I.NONE, 'f64', 'i64', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.F32_REINTERPRET_I32, 'f32.reinterpret_i32', _I.NONE, 'i32', 'f32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.F64_REINTERPRET_I64, 'f64.reinterpret_i64', _I.NONE, 'i64', 'f64', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I32_EXTEND8_S, 'i32.extend8_s', _I.NONE, 'i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I32_EXTEND16_S, 'i32.extend16_s', _I.NONE, 'i32', 'i32', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_EXTEND8_S, 'i64.extend8_s', _I.NONE, 'i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_EXTEND16_S, 'i64.extend16_s', _I.NONE, 'i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.I64_EXTEND32_S, 'i64.extend32_s', _I.NONE, 'i64', 'i64', _G.BASE, _F.NUMERIC, 0),
    (Opcode.REF_NULL, 'ref.null', _I.REFTYPE, None, None, _G.BASE, _F.REFERENCE, 0),
    (Opcode.REF_IS_NULL, 'ref.is_null', _I.NONE, None, None, _G.BASE, _F.REFERENCE, 0),
    (Opcode.REF_FUNC, 'ref.func', _I.FUNC, None, None, _G.BASE, _F.REFERENCE, 0),
    (Opcode.I32_TRUNC_SAT_F32_S, 'i32.trunc_sat_f32_s', _I.NONE, 'f32', 'i32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I32_TRUNC_SAT_F32_U, 'i32.trunc_sat_f32_u', _I.NONE, 'f32', 'i32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I32_TRUNC_SAT_F64_S, 'i32.trunc_sat_f64_s', _I.NONE, 'f64', 'i32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I32_TRUNC_SAT_F64_U, 'i32.trunc_sat_f64_u', _I.NONE, 'f64', 'i32', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I64_TRUNC_SAT_F32_S, 'i64.trunc_sat_f32_s', _I.NONE, 'f32', 'i64', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I64_TRUNC_SAT_F32_U, 'i64.trunc_sat_f32_u', _I.NONE, 'f32', 'i64', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I64_TRUNC_SAT_F64_S, 'i64.trunc_sat_f64_s', _I.NONE, 'f64', 'i64', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.I64_TRUNC_SAT_F64_U, 'i64.trunc_sat_f64_u', _I.NONE, 'f64', 'i64', _G.CONVERT, _F.NUMERIC, 0),
    (Opcode.MEMORY_INIT, 'memory.init', _I.MEMORY_INIT, 'i32 i32 i32', '', _G.BULK, _F.MEMORY, 0),
    (Opcode.DATA_DROP, 'data.drop', _I.DATA, '', '', _G.BASE, _F.MEMORY, 0),
    (Opcode.MEMORY_COPY, 'memory.copy', _I.MEMORY_COPY, 'i32 i32 i32', '', _G.BULK, _F.MEMORY, 0),
    (Opcode.MEMORY_FILL, 'memory.fill', _I.MEMIDX, 'i32 i32 i32', '', _G.BULK, _F.MEMORY, 0),
    (Opcode.TABLE_INIT, 'table.init', _I.TABLE_INIT, 'i32 i32 i32', '', _G.BULK, _F.TABLE, 0),
    (Opcode.ELEM_DROP, 'elem.drop', _I.ELEM, '', '', _G.BASE, _F.TABLE, 0),
    (Opcode.TABLE_COPY, 'table.copy', _I.TABLE_COPY, 'i32 i32 i32', '', _G.BULK, _F.TABLE, 0),
    (Opcode.TABLE_GROW, 'table.grow', _I.TABLE, None, None, _G.MEMORY_GROW, _F.TABLE, 0),
    (Opcode.TABLE_SIZE, 'table.size', _I.TABLE, '', 'i32', _G.BASE, _F.TABLE, 0),
    (Opcode.TABLE_FILL, 'table.fill', _I.TABLE, None, None, _G.BULK, _F.TABLE, 0),
]

OPS: dict[int, OpInfo] = {
    op: OpInfo(op, name, imm, _t(pops), _t(pushes), int(gas), fam, align)
    for op, name, imm, pops, pushes, gas, fam, align in _ROWS
}
"""Opcode (``0xFC00 | n`` for prefixed ones) -> its row."""

BY_NAME: dict[str, OpInfo] = {info.name: info for info in OPS.values() if info.op != Opcode.SELECT_T}
