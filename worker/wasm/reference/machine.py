"""The reference interpreter: one plain stack machine over the decoded instructions.

Theory of operation
-------------------
A call runs :func:`invoke`, which makes a :class:`Frame` (locals, an operand
stack of bit patterns, a label stack, a program counter) and steps through
the function's ``Instr`` tuple, dispatching each opcode through
:data:`HANDLERS`, a dict grouped by family. Structured control is done the
textbook way: before a body first runs, :func:`analyse` pairs every
``block``/``loop``/``if`` with its ``else`` and ``end``. Entering a block
pushes a :class:`Label` (the values a branch to it carries, where it
continues, and the stack height below its operands); ``end`` pops it; a
branch to label ``l`` keeps the top ``arity`` values, cuts the stack to the
label's height, drops the labels above and including it, and continues at
its target: after the ``end`` of a block or ``if``, or at the ``loop``
instruction itself, which runs again and pushes a fresh label. The function
body is the outermost label, whose target is past the last instruction.

Calls recurse in Python (``call`` -> :func:`invoke`); each frame has one
less call depth, and a call at depth zero raises :class:`StackExhausted`, as
does a ``RecursionError``. Nothing here is fast: this is the oracle that the
engine's compiled code is compared against, so it trades speed for being
obviously right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import StackExhausted, Trap, TrapKind
from ..module import Instr
from ..opcodes import OPS, Opcode
from ..recursion import REFERENCE_MARGIN, REFERENCE_PER_CALL, check_recursion
from ..types import ValType
from .ops import (
    CANONICAL_NAN_BITS,
    LOADS,
    NAN_CHOOSING,
    NAN_MAKING,
    NUMERIC,
    STORES,
    Access,
    is_nan,
    load_value,
    store_bytes,
)
from .store import RefFunction, RefInstance

ZERO: dict[ValType, Any] = {
    ValType.I32: 0, ValType.I64: 0, ValType.F32: 0, ValType.F64: 0,
    ValType.FUNCREF: None, ValType.EXTERNREF: None,
}
"""Each value type's default (locals start with it)."""

_MASKS: dict[ValType, int] = {
    ValType.I32: 0xFFFF_FFFF, ValType.I64: (1 << 64) - 1,
    ValType.F32: 0xFFFF_FFFF, ValType.F64: (1 << 64) - 1,
}


@dataclass(frozen=True, slots=True)
class Body:
    """A function body with its structure: the ``else`` and ``end`` of every block."""

    instrs: tuple[Instr, ...]
    ends: dict[int, int]  # block/loop/if index -> index of its end
    elses: dict[int, int]  # if index -> index of its else (only ifs that have one)
    else_ends: dict[int, int]  # else index -> index of its end


def analyse(instrs: tuple[Instr, ...]) -> Body:
    """Pair each structured instruction with its ``else`` and ``end``."""
    ends: dict[int, int] = {}
    elses: dict[int, int] = {}
    else_ends: dict[int, int] = {}
    open_blocks: list[int] = []
    for index, ins in enumerate(instrs):
        if ins.op in (Opcode.BLOCK, Opcode.LOOP, Opcode.IF):
            open_blocks.append(index)
        elif ins.op is Opcode.ELSE:
            elses[open_blocks[-1]] = index
        elif ins.op is Opcode.END and open_blocks:
            start = open_blocks.pop()
            ends[start] = index
            if start in elses:
                else_ends[elses[start]] = index
    return Body(instrs, ends, elses, else_ends)


@dataclass(slots=True)
class Label:
    """A label: branch arity, where a branch continues, and the stack height under its operands."""

    arity: int
    target: int
    height: int


class Frame:
    """One activation: the instance, locals, operand and label stacks, program counter, call depth."""

    __slots__ = ("body", "depth", "inst", "labels", "locals", "pc", "stack")

    def __init__(self, inst: RefInstance, body: Body, local_values: list[Any], depth: int) -> None:
        self.inst = inst
        self.body = body
        self.locals = local_values
        self.stack: list[Any] = []
        self.labels: list[Label] = []
        self.pc = 0
        self.depth = depth

    def pop_n(self, count: int) -> list[Any]:
        """The top ``count`` values, removed, in stack order."""
        if count == 0:
            return []
        values = self.stack[-count:]
        del self.stack[-count:]
        return values

    def branch(self, depth: int) -> None:
        """``br depth``: carry the label's values out to its target."""
        label = self.labels[-1 - depth]
        values = self.pop_n(label.arity)
        del self.stack[label.height:]
        self.stack.extend(values)
        del self.labels[len(self.labels) - 1 - depth:]
        self.pc = label.target

    def enter(self, arity: int, params: int, target: int) -> None:
        """Push a label carrying ``arity`` values to ``target``, below ``params`` operands."""
        self.labels.append(Label(arity, target, len(self.stack) - params))


Handler = Callable[[Frame, Any], None]


# ---------------------------------------------------------------- calls


def body_of(func: RefFunction) -> Body:
    """The analysed body of a module function (analysed once per instance)."""
    inst, code = func.instance, func.code
    assert inst is not None and code is not None
    key = id(code)
    found: Body | None = inst.bodies.get(key)
    if found is None:
        found = inst.bodies[key] = analyse(code.body)
    return found


def invoke(func: RefFunction, args: list[Any], depth: int) -> list[Any]:
    """Run ``func`` on ``args`` with ``depth`` calls left; its results in order."""
    if depth <= 0:
        raise StackExhausted()
    if func.host is not None:
        return _host_results(func, func.host(*args))
    assert func.instance is not None and func.code is not None
    local_values = list(args) + [ZERO[t] for t in func.code.locals]
    frame = Frame(func.instance, body_of(func), local_values, depth)
    frame.labels.append(Label(len(func.type.results), len(frame.body.instrs), 0))
    run(frame)
    return frame.stack[len(frame.stack) - len(func.type.results):]


def _host_results(func: RefFunction, value: Any) -> list[Any]:
    count = len(func.type.results)
    if count == 0:
        return []
    values = list(value) if count > 1 else [value]
    return [v & _MASKS[t] if t in _MASKS else v for t, v in zip(func.type.results, values, strict=True)]


def run(frame: Frame) -> None:
    """Step until the program counter leaves the body."""
    instrs = frame.body.instrs
    end = len(instrs)
    while frame.pc < end:
        ins = instrs[frame.pc]
        frame.pc += 1
        HANDLERS[ins.op](frame, ins.imm)


def call_export(func: RefFunction, args: Sequence[Any]) -> Any:
    """The boundary: call with bit patterns, results as None / one value / a tuple."""
    values = [a & _MASKS[t] if t in _MASKS else a for t, a in zip(func.type.params, args, strict=True)]
    needed = func.depth_limit * REFERENCE_PER_CALL + REFERENCE_MARGIN
    check_recursion(needed, f"running calls {func.depth_limit} deep on the reference interpreter")
    try:
        results = invoke(func, values, func.depth_limit)
    except RecursionError:
        raise StackExhausted("the Python recursion limit was reached") from None
    if not results:
        return None
    return results[0] if len(results) == 1 else tuple(results)


def _call(frame: Frame, func: RefFunction) -> None:
    args = frame.pop_n(len(func.type.params))
    frame.stack.extend(invoke(func, args, frame.depth - 1))


def _call_direct(frame: Frame, index: int) -> None:
    _call(frame, frame.inst.funcs[index])


def _call_indirect(frame: Frame, imm: tuple[int, int]) -> None:
    type_index, table_index = imm
    table = frame.inst.tables[table_index]
    i = frame.stack.pop()
    if i >= len(table.elems):
        raise Trap(TrapKind.UNDEFINED_ELEMENT)
    func = table.elems[i]
    if func is None:
        raise Trap(TrapKind.UNINITIALIZED_ELEMENT)
    if func.type != frame.inst.module.types[type_index]:
        raise Trap(TrapKind.INDIRECT_CALL_TYPE_MISMATCH)
    _call(frame, func)


# ---------------------------------------------------------------- control


def _unreachable(frame: Frame, imm: None) -> None:
    raise Trap(TrapKind.UNREACHABLE)


def _nop(frame: Frame, imm: None) -> None:
    pass


def _block(frame: Frame, imm: Any) -> None:
    ftype = frame.inst.block_type(imm)
    frame.enter(len(ftype.results), len(ftype.params), frame.body.ends[frame.pc - 1] + 1)


def _loop(frame: Frame, imm: Any) -> None:
    ftype = frame.inst.block_type(imm)
    frame.enter(len(ftype.params), len(ftype.params), frame.pc - 1)  # a branch runs the loop again


def _if(frame: Frame, imm: Any) -> None:
    start = frame.pc - 1
    condition = frame.stack.pop()
    end = frame.body.ends[start]
    ftype = frame.inst.block_type(imm)
    frame.enter(len(ftype.results), len(ftype.params), end + 1)
    if not condition:
        # The else arm, or straight to the end (which pops the label).
        frame.pc = frame.body.elses[start] + 1 if start in frame.body.elses else end


def _else(frame: Frame, imm: None) -> None:
    frame.pc = frame.body.else_ends[frame.pc - 1]  # the then arm is done: its end pops the label


def _end(frame: Frame, imm: None) -> None:
    frame.labels.pop()


def _br(frame: Frame, depth: int) -> None:
    frame.branch(depth)


def _br_if(frame: Frame, depth: int) -> None:
    if frame.stack.pop():
        frame.branch(depth)


def _br_table(frame: Frame, imm: tuple[tuple[int, ...], int]) -> None:
    targets, default = imm
    i = frame.stack.pop()
    frame.branch(targets[i] if i < len(targets) else default)


def _return(frame: Frame, imm: None) -> None:
    frame.branch(len(frame.labels) - 1)


# ---------------------------------------------------------------- parametric and variables


def _drop(frame: Frame, imm: Any) -> None:
    frame.stack.pop()


def _select(frame: Frame, imm: Any) -> None:
    condition = frame.stack.pop()
    second = frame.stack.pop()
    first = frame.stack.pop()
    frame.stack.append(first if condition else second)


def _local_get(frame: Frame, index: int) -> None:
    frame.stack.append(frame.locals[index])


def _local_set(frame: Frame, index: int) -> None:
    frame.locals[index] = frame.stack.pop()


def _local_tee(frame: Frame, index: int) -> None:
    frame.locals[index] = frame.stack[-1]


def _global_get(frame: Frame, index: int) -> None:
    frame.stack.append(frame.inst.globals[index].value)


def _global_set(frame: Frame, index: int) -> None:
    frame.inst.globals[index].value = frame.stack.pop()


# ---------------------------------------------------------------- constants and numerics


def _const_i32(frame: Frame, value: int) -> None:
    frame.stack.append(value & 0xFFFF_FFFF)


def _const_i64(frame: Frame, value: int) -> None:
    frame.stack.append(value & ((1 << 64) - 1))


def _const_bits(frame: Frame, bits: int) -> None:
    frame.stack.append(bits)


def _numeric(arity: int, fn: Callable[..., int]) -> Handler:
    def run_numeric(frame: Frame, imm: None) -> None:
        frame.stack.append(fn(*frame.pop_n(arity)))
    return run_numeric


def _nan_choosing(width: int, fn: Callable[..., int]) -> Handler:
    """A binary float instruction that counts the times it meets two different NaNs (see the store).

    With canonical NaNs (``RefInstance.canonical_nans``) a NaN result is the
    canonical NaN and nothing is counted: no choice is left open.
    """
    canonical = CANONICAL_NAN_BITS[width]

    def run_binary(frame: Frame, imm: None) -> None:
        a, b = frame.pop_n(2)
        result = fn(a, b)
        if frame.inst.canonical_nans:
            if is_nan(width, result):
                result = canonical
        else:
            if a != b and is_nan(width, a) and is_nan(width, b):
                frame.inst.nan_choices += 1
            if is_nan(width, result):
                frame.inst.nan_results += 1
        frame.stack.append(result)
    return run_binary


def _nan_making(width: int, arity: int, fn: Callable[..., int]) -> Handler:
    """A float instruction that counts the NaNs it makes (their bits are the spec's free choice).

    With canonical NaNs a NaN result is the canonical NaN instead, and is not counted.
    """
    canonical = CANONICAL_NAN_BITS[width]

    def run_making(frame: Frame, imm: None) -> None:
        result = fn(*frame.pop_n(arity))
        if is_nan(width, result):
            if frame.inst.canonical_nans:
                result = canonical
            else:
                frame.inst.nan_results += 1
        frame.stack.append(result)
    return run_making


def _numeric_handler(op: Opcode, arity: int, fn: Callable[..., int]) -> Handler:
    width = 32 if OPS[op].name.startswith("f32") else 64
    if op in NAN_CHOOSING:
        return _nan_choosing(width, fn)
    if op in NAN_MAKING:
        return _nan_making(width, arity, fn)
    return _numeric(arity, fn)


# ---------------------------------------------------------------- memory


def _load(access: Access) -> Handler:
    def load(frame: Frame, memarg: tuple[int, int]) -> None:
        mem = frame.inst.memories[0]
        address = frame.stack.pop() + memarg[1]
        mem.check(address, access.width)
        frame.stack.append(load_value(access, mem.data[address:address + access.width]))
    return load


def _store(access: Access) -> Handler:
    def store(frame: Frame, memarg: tuple[int, int]) -> None:
        mem = frame.inst.memories[0]
        value = frame.stack.pop()
        address = frame.stack.pop() + memarg[1]
        mem.check(address, access.width)
        mem.data[address:address + access.width] = store_bytes(access, value)
    return store


def _memory_size(frame: Frame, imm: Any) -> None:
    frame.stack.append(frame.inst.memories[0].pages)


def _memory_grow(frame: Frame, imm: Any) -> None:
    frame.stack.append(frame.inst.memories[0].grow(frame.stack.pop()))


def _memory_fill(frame: Frame, imm: Any) -> None:
    dest, value, length = frame.pop_n(3)
    mem = frame.inst.memories[0]
    mem.check(dest, length)
    mem.data[dest:dest + length] = bytes([value & 0xFF]) * length


def _memory_copy(frame: Frame, imm: Any) -> None:
    dest, source, length = frame.pop_n(3)
    mem = frame.inst.memories[0]
    mem.check(source, length)
    mem.check(dest, length)
    mem.data[dest:dest + length] = mem.data[source:source + length]


def _memory_init(frame: Frame, index: int) -> None:
    dest, source, length = frame.pop_n(3)
    mem, data = frame.inst.memories[0], frame.inst.datas[index]
    if source + length > len(data):
        raise Trap(TrapKind.OUT_OF_BOUNDS_MEMORY)
    mem.check(dest, length)
    mem.data[dest:dest + length] = data[source:source + length]


def _data_drop(frame: Frame, index: int) -> None:
    frame.inst.datas[index] = b""


# ---------------------------------------------------------------- tables and references


def _table_get(frame: Frame, index: int) -> None:
    table = frame.inst.tables[index]
    i = frame.stack.pop()
    table.check(i, 1)
    frame.stack.append(table.elems[i])


def _table_set(frame: Frame, index: int) -> None:
    table = frame.inst.tables[index]
    ref = frame.stack.pop()
    i = frame.stack.pop()
    table.check(i, 1)
    table.elems[i] = ref


def _table_size(frame: Frame, index: int) -> None:
    frame.stack.append(len(frame.inst.tables[index].elems))


def _table_grow(frame: Frame, index: int) -> None:
    ref, delta = frame.pop_n(2)
    frame.stack.append(frame.inst.tables[index].grow(delta, ref))


def _table_fill(frame: Frame, index: int) -> None:
    start, ref, length = frame.pop_n(3)
    table = frame.inst.tables[index]
    table.check(start, length)
    table.elems[start:start + length] = [ref] * length


def _table_copy(frame: Frame, imm: tuple[int, int]) -> None:
    dest, source, length = frame.pop_n(3)
    dest_table, source_table = frame.inst.tables[imm[0]], frame.inst.tables[imm[1]]
    source_table.check(source, length)
    dest_table.check(dest, length)
    dest_table.elems[dest:dest + length] = source_table.elems[source:source + length]


def _table_init(frame: Frame, imm: tuple[int, int]) -> None:
    dest, source, length = frame.pop_n(3)
    segment, table = frame.inst.elems[imm[0]], frame.inst.tables[imm[1]]
    if source + length > len(segment):
        raise Trap(TrapKind.OUT_OF_BOUNDS_TABLE)
    table.check(dest, length)
    table.elems[dest:dest + length] = segment[source:source + length]


def _elem_drop(frame: Frame, index: int) -> None:
    frame.inst.elems[index] = []


def _ref_null(frame: Frame, imm: Any) -> None:
    frame.stack.append(None)


def _ref_is_null(frame: Frame, imm: Any) -> None:
    frame.stack.append(int(frame.stack.pop() is None))


def _ref_func(frame: Frame, index: int) -> None:
    frame.stack.append(frame.inst.funcs[index])


# ---------------------------------------------------------------- the dispatch table

_O = Opcode
CONTROL: dict[Opcode, Handler] = {
    _O.UNREACHABLE: _unreachable, _O.NOP: _nop, _O.BLOCK: _block, _O.LOOP: _loop, _O.IF: _if,
    _O.ELSE: _else, _O.END: _end, _O.BR: _br, _O.BR_IF: _br_if, _O.BR_TABLE: _br_table,
    _O.RETURN: _return, _O.CALL: _call_direct, _O.CALL_INDIRECT: _call_indirect,
}
PARAMETRIC: dict[Opcode, Handler] = {_O.DROP: _drop, _O.SELECT: _select, _O.SELECT_T: _select}
VARIABLE: dict[Opcode, Handler] = {
    _O.LOCAL_GET: _local_get, _O.LOCAL_SET: _local_set, _O.LOCAL_TEE: _local_tee,
    _O.GLOBAL_GET: _global_get, _O.GLOBAL_SET: _global_set,
}
CONSTANTS: dict[Opcode, Handler] = {
    _O.I32_CONST: _const_i32, _O.I64_CONST: _const_i64, _O.F32_CONST: _const_bits, _O.F64_CONST: _const_bits,
}
MEMORY: dict[Opcode, Handler] = {
    **{op: _load(access) for op, access in LOADS.items()},
    **{op: _store(access) for op, access in STORES.items()},
    _O.MEMORY_SIZE: _memory_size, _O.MEMORY_GROW: _memory_grow, _O.MEMORY_FILL: _memory_fill,
    _O.MEMORY_COPY: _memory_copy, _O.MEMORY_INIT: _memory_init, _O.DATA_DROP: _data_drop,
}
TABLE: dict[Opcode, Handler] = {
    _O.TABLE_GET: _table_get, _O.TABLE_SET: _table_set, _O.TABLE_SIZE: _table_size,
    _O.TABLE_GROW: _table_grow, _O.TABLE_FILL: _table_fill, _O.TABLE_COPY: _table_copy,
    _O.TABLE_INIT: _table_init, _O.ELEM_DROP: _elem_drop,
}
REFERENCE: dict[Opcode, Handler] = {
    _O.REF_NULL: _ref_null, _O.REF_IS_NULL: _ref_is_null, _O.REF_FUNC: _ref_func,
}
NUMERICS: dict[Opcode, Handler] = {
    op: _numeric_handler(op, arity, fn) for op, (arity, fn) in NUMERIC.items()
}

HANDLERS: dict[Opcode, Handler] = {
    **CONTROL, **PARAMETRIC, **VARIABLE, **CONSTANTS, **MEMORY, **TABLE, **REFERENCE, **NUMERICS,
}
"""Every non-SIMD instruction -> its handler."""

assert len(HANDLERS) == len(Opcode), sorted(set(Opcode) - set(HANDLERS))
