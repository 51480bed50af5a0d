"""The compiler's shared operand tables and the in-place rewrites of its shaping passes."""

from __future__ import annotations

import dataclasses

import pytest

from wasmpool.wasm.compiler import ir
from wasmpool.wasm.compiler.align import local_zeros
from wasmpool.wasm.compiler.direct import charge_call_sites
from wasmpool.wasm.compiler.ir import (
    Block,
    Const,
    Gas,
    IRFunction,
    Label,
    LabelKind,
    Loc,
    Node,
    Op,
    Reg,
    Return,
)
from wasmpool.wasm.compiler.structure import merge_gas
from wasmpool.wasm.opcodes import Opcode
from wasmpool.wasm.types import FuncType, ValType


def test_register_table_holds_one_shared_register_per_height() -> None:
    table = ir.reg_table(10)
    assert len(table) >= 10
    assert all(type(reg) is Reg and reg.h == h for h, reg in enumerate(table))
    assert ir.reg_table(5)[3] is table[3]  # asking for fewer reuses the table


def test_tables_grow_and_keep_their_objects() -> None:
    small = ir.loc_table(4)
    big = ir.loc_table(len(small) + 100)
    assert len(big) >= len(small) + 100
    assert all(big[i] is small[i] for i in range(len(small)))
    assert all(loc == Loc(i) and hash(loc) == hash(Loc(i)) for i, loc in enumerate(big))


def test_shared_operands_cannot_change() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ir.reg_table(1)[0].h = 5


def test_label_registers_come_from_the_table() -> None:
    label = Label(0, LabelKind.BLOCK, 3, 2)
    assert label.regs == (Reg(3), Reg(4))
    assert label.regs[0] is ir.reg_table(4)[3]
    assert Label(1, LabelKind.BLOCK, 7, 0).regs == ()


def _add(out: int) -> Op:
    return Op(Opcode.I32_ADD, (Reg(out),), (Reg(out), Const(1, ValType.I32)))


def test_merge_gas_folds_runs_of_gas_blocks_in_place() -> None:
    inner: list[Node] = [Gas(1), Gas(2, True)]
    nodes: list[Node] = [Gas(1), _add(0), Gas(2), Block(Label(0, LabelKind.BLOCK, 0, 0), inner), Gas(4),
                         Gas(8, True), _add(0)]
    merge_gas(nodes)
    assert nodes == [Gas(3), _add(0), nodes[2], Gas(12, True), _add(0)]
    assert inner == [Gas(3, True)]


def test_call_sites_of_direct_functions_get_their_entry_price_in_order() -> None:
    asked: list[int] = []

    def prepay(index: int) -> int | None:
        asked.append(index)
        return None if index == 2 else 10 * index

    def call(index: int) -> Op:
        return Op(Opcode.CALL, (), (), index)

    inner: list[Node] = [call(3)]
    nodes: list[Node] = [Gas(1), call(1), Block(Label(0, LabelKind.BLOCK, 0, 0), inner), call(2), call(4)]
    charge_call_sites(nodes, prepay)
    assert asked == [1, 3, 2, 4]
    assert nodes[:3] == [Gas(1), Gas(10, True), call(1)]
    assert nodes[4:] == [call(2), Gas(40, True), call(4)]
    assert inner == [Gas(30, True), call(3)]


def test_local_alignment_follows_registers_within_a_run_only() -> None:
    i32 = ValType.I32
    regs, locs = ir.reg_table(2), ir.loc_table(3)
    shifted: list[Node] = [  # l1 = (l0 << 3) + 16, through two registers
        Op(Opcode.LOCAL_GET, (regs[0],), (locs[0],)),
        Op(Opcode.I32_SHL, (regs[0],), (regs[0], Const(3, i32))),
        Op(Opcode.I32_ADD, (regs[0],), (regs[0], Const(16, i32))),
        Op(Opcode.LOCAL_SET, (locs[1],), (regs[0],)),
    ]
    joined: list[Node] = [  # l2 = s0 after a block: s0 may come from any path, nothing is known
        Block(Label(0, LabelKind.BLOCK, 0, 0), [Op(Opcode.I32_CONST, (regs[0],), (Const(8, i32),))]),
        Op(Opcode.LOCAL_SET, (locs[2],), (regs[0],)),
    ]
    func = IRFunction(0, FuncType((i32,), ()), (i32, i32, i32), [*shifted, *joined, Return(())],
                      Label(0, LabelKind.FUNC, 0, 0), 1)
    assert local_zeros(func) == {1: 3}
