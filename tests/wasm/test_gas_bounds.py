"""Gas and stack limits that follow what the engine really spends: frames, carried values, table ops.

Each case pins a price that used to be flat although the work grows: a call
whose callee has a large frame, a branch carrying many values, a table bulk
instruction over many elements; and the stack budget that bounds the slots
of all frames together (a recursion through a huge frame used to reach
gigabytes before the frame count stopped it).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import Instruction, ModuleBuilder
from wasmpool.wasm.compiler.frames import frame_gas, stack_units
from wasmpool.wasm.opcodes import BRANCH_VALUE_GAS, BULK_UNIT_GAS, OPS, TABLE_BULK_UNIT, Opcode
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.types import ValType

I32 = ValType.I32
BIG = 49_000


def cost(ops: Sequence[Instruction]) -> int:
    return sum(OPS[op if isinstance(op, Opcode) else op[0]].gas for op in ops)


def instance(builder: ModuleBuilder | wasm.Module, gas_limit: int | None = 10**9,
             limits: wasm.RuntimeLimits | None = None) -> wasm.Instance:
    module = builder if isinstance(builder, wasm.Module) else wasm.decode(builder.build())
    return wasm.instantiate(module, {}, gas_limit=gas_limit, limits=limits)


def used(inst: wasm.Instance, export: str, *args: int) -> int:
    before = inst.gas_used
    inst.exports[export](*args)
    return inst.gas_used - before


# ---------------------------------------------------------------- frames


def recursion(nlocals: int) -> ModuleBuilder:
    """``rec()``: count the level in a global, then recurse forever; ``depth`` reads the count."""
    b = ModuleBuilder()
    b.global_(I32, True, [(O.I32_CONST, 0)])
    b.func([], [], [(O.GLOBAL_GET, 0), (O.I32_CONST, 1), O.I32_ADD, (O.GLOBAL_SET, 0), (O.CALL, 0)],
           locals=[I32] * nlocals, export="rec")
    b.func([], [I32], [(O.GLOBAL_GET, 0)], export="depth")
    return b


@pytest.fixture(scope="module")
def huge() -> wasm.Module:
    """The recursion through a frame of 49,000 locals (decoded once: its compiles are shared)."""
    return wasm.decode(recursion(BIG).build())


@pytest.mark.parametrize("gas_limit", [None, 10**9], ids=["unmetered", "metered"])
def test_the_slot_budget_stops_a_recursion_through_a_huge_frame(huge: wasm.Module,
                                                                 gas_limit: int | None) -> None:
    limits = wasm.RuntimeLimits(max_stack_slots=200_000)
    inst = instance(huge, gas_limit, limits)
    with pytest.raises(wasm.StackExhausted):
        inst.exports["rec"]()
    # the frame count allows 10,000 frames; the slots of 4 such frames already fill the budget
    assert inst.exports["depth"]() == limits.stack_units // stack_units(BIG + 2) == 4


def test_default_limits_bound_a_huge_frame_recursion_to_a_few_frames(huge: wasm.Module) -> None:
    inst = instance(huge, gas_limit=None)
    with pytest.raises(wasm.StackExhausted):
        inst.exports["rec"]()
    depth = inst.exports["depth"]()
    assert depth * (BIG + 2) <= wasm.RuntimeLimits().max_stack_slots
    assert depth == 13


def test_small_frames_still_get_the_whole_call_depth() -> None:
    inst = instance(recursion(10), gas_limit=None, limits=wasm.RuntimeLimits(call_depth=300))
    with pytest.raises(wasm.StackExhausted):
        inst.exports["rec"]()
    assert inst.exports["depth"]() == 300


def calls(locals_of_callees: Sequence[int]) -> ModuleBuilder:
    """``call{n}`` calls a function with ``n`` locals (not exported: a direct call)."""
    b = ModuleBuilder()
    callees = [b.func([], [], [], locals=[I32] * n) for n in locals_of_callees]
    for n, callee in zip(locals_of_callees, callees, strict=True):
        b.func([], [], [(O.CALL, callee)], export=f"call{n}")
    return b


@pytest.mark.parametrize("via", ["direct", "exported"])
def test_a_call_pays_for_the_callee_frame(via: str) -> None:
    sizes = [0, 100, 10_000]
    b = calls(sizes)
    if via == "exported":  # exported callees charge their entry themselves
        for index, n in enumerate(sizes):
            b.export(f"callee{n}", wasm.ExternKind.FUNC, index)
    inst = instance(b)
    prices = [used(inst, f"call{n}") for n in sizes]
    assert prices[0] < prices[1] < prices[2]
    assert prices[2] - prices[0] == frame_gas(10_000) - frame_gas(0) >= 10_000 // 4


def test_a_frame_price_past_the_limit_is_gas_exhausted() -> None:
    inst = instance(calls([10_000]), gas_limit=4_000)  # the frame alone costs 4,992
    with pytest.raises(wasm.GasExhausted):
        inst.exports["call10000"]()
    assert inst.gas_used < 4_000 + frame_gas(10_000) + 20


# ---------------------------------------------------------------- carried values


def test_a_branch_pays_per_carried_value() -> None:
    b = ModuleBuilder()
    t = b.type([], [I32] * 100)
    values: list[Instruction] = [(O.LOCAL_GET, 0)] * 100
    drops: list[Instruction] = [O.DROP] * 100
    b.func([], [], [(O.BLOCK, None), (O.BR, 0), O.END], locals=[I32], export="br0")
    b.func([], [], [(O.BLOCK, t), *values, (O.BR, 0), O.END, *drops], locals=[I32], export="br100")
    inst = instance(b)
    assert used(inst, "br0") == cost([O.BLOCK, O.BR, O.END])  # the br skips the block's end
    frame = frame_gas(1 + 100)  # the function's own frame: a local and 100 registers
    carried = 100 * BRANCH_VALUE_GAS
    assert used(inst, "br100") == cost([O.BLOCK, *values, O.BR, *drops, O.END]) + frame + carried


def test_br_if_br_table_and_return_pay_per_carried_value() -> None:
    b = ModuleBuilder()
    t = b.type([], [I32] * 50)
    values: list[Instruction] = [(O.LOCAL_GET, 0)] * 50
    drops: list[Instruction] = [O.DROP] * 50
    b.func([I32], [], [(O.BLOCK, t), *values, (O.LOCAL_GET, 0), (O.BR_IF, 0), O.END, *drops],
           export="br_if")
    b.func([I32], [], [(O.BLOCK, t), *values, (O.LOCAL_GET, 0), (O.BR_TABLE, ((0,), 0)), O.END, *drops],
           export="br_table")
    b.func([I32], [I32] * 50, [*values, O.RETURN], export="return")
    inst = instance(b)
    carried = 50 * BRANCH_VALUE_GAS
    frame = frame_gas(1 + 51)  # each function's own frame: a parameter and its registers
    taken = [O.BLOCK, *values, O.LOCAL_GET, *drops, O.END]  # the block's end is skipped
    assert used(inst, "br_if", 1) == cost([*taken, O.BR_IF]) + frame + carried
    assert used(inst, "br_table", 0) == cost([*taken, O.BR_TABLE]) + frame + carried
    assert used(inst, "return", 0) == cost([*values, O.RETURN]) + frame_gas(1 + 50) + carried


# ---------------------------------------------------------------- table bulk instructions


def test_table_fill_is_priced_per_element() -> None:
    b = ModuleBuilder()
    b.func([], [], [])
    b.table(4096, 4096)
    b.func([I32], [], [(O.I32_CONST, 0), (O.REF_FUNC, 0), (O.LOCAL_GET, 0), (O.TABLE_FILL, 0)],
           export="fill")
    b.elems.append(b"\x03\x00\x01\x00")  # declarative segment: ref.func 0 is allowed
    inst = instance(b)
    empty = used(inst, "fill", 0)
    for n in (1, 4, 5, 4096):
        assert used(inst, "fill", n) - empty == -(-n // TABLE_BULK_UNIT) * BULK_UNIT_GAS
    assert used(inst, "fill", 4096) - empty >= 4096 // 8


def test_table_copy_and_init_are_priced_per_element() -> None:
    b = ModuleBuilder()
    b.func([], [], [])
    b.table(4096, 4096)
    b.elems.append(b"\x01\x00" + bytes([0x80, 0x08]) + bytes(1024))  # passive: 1024 x func 0
    b.func([I32], [], [(O.I32_CONST, 0), (O.I32_CONST, 1), (O.LOCAL_GET, 0), (O.TABLE_COPY, (0, 0))],
           export="copy")
    b.func([I32], [], [(O.I32_CONST, 0), (O.I32_CONST, 0), (O.LOCAL_GET, 0), (O.TABLE_INIT, (0, 0))],
           export="init")
    inst = instance(b)
    assert used(inst, "copy", 4000) - used(inst, "copy", 0) == 1000 * BULK_UNIT_GAS
    assert used(inst, "init", 1024) - used(inst, "init", 0) == 256 * BULK_UNIT_GAS
