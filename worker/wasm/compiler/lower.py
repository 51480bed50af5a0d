"""Lowering: a wasm function's stack code -> the register form of :mod:`.ir`.

Theory of operation
-------------------
One pass over the body keeps a *shadow stack*: for every operand-stack slot,
the operand that currently holds its value. Usually that is the slot's own
register ``Reg(h)``, but ``local.get`` pushes the local itself and constants
push themselves, so that the instruction consuming them reads the local or
the immediate directly (no register copy). A shadow local is *materialized*
(copied into its register) before anything could change the local: a
``local.set``/``local.tee`` of it, and at every block entry, because a set
inside the block may run on only some paths. Constants never need that;
loop parameters and block results are materialized because control joins
there.

Heights come from the validator (``CodeInfo.heights``); the shadow stack
must agree with them before every reachable instruction. Code after an
unconditional branch is skipped up to the matching ``else``/``end``. Pure
numeric instructions whose operands are all constants are folded at compile
time with the same ``numeric`` helpers that run them otherwise (their
canonical-NaN twins when the module is compiled with ``canonical_nans``).

Every branch is resolved here to its :class:`~.ir.Label` and carried
operands. Gas blocks are laid out here too (see :mod:`..runtime.gas` for
the rule): a :class:`~.ir.Gas` node starts the function, each loop body (with
a meter check), each ``if`` arm, the fall-through of each ``br_if``, and every
join after a targeted block, an ``if`` or a loop; each instruction's price from
the opcode table is added to the gas node that covers it, and so are the
static extras: the function's frame price (:mod:`.frames`) in the entry
block, the host crossing of a call to an import, and the price per value a
branch or ``return`` carries.

The rules are grouped by family: :data:`_CONTROL` for control instructions,
:data:`_VARIABLE` for locals, and one generic rule, driven by the opcode
table's ``pops``/``pushes`` (or :data:`_EFFECTS` for the polymorphic rows),
for the numeric, memory, table, reference and global instructions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .. import numeric
from ..errors import LinkError
from ..module import Instr, Module
from ..numeric_float import f32_from_bits, f64_from_bits
from ..numeric_int import MASK32, MASK64
from ..opcodes import BRANCH_VALUE_GAS, HOST_CALL_GAS, OPS, Family, Opcode
from ..types import FuncType, ValType
from .frames import frame_gas, frame_slots
from .ir import (
    Block,
    Br,
    BrIf,
    BrTable,
    Const,
    Gas,
    If,
    IRFunction,
    Label,
    LabelKind,
    Loc,
    Loop,
    Node,
    Op,
    Operand,
    Reg,
    Return,
    Unreachable,
    loc_table,
    reg_table,
)


class CompileError(LinkError):
    """The compiler cannot handle a function (a limit, or a module that skipped validation)."""


# Numeric instructions that may trap, so are never folded at compile time.
TRAPPING: frozenset[Opcode] = frozenset(
    info.op for info in OPS.values()
    if info.family is Family.NUMERIC and (
        (info.name.endswith(("div_s", "div_u", "rem_s", "rem_u")) and info.name[0] == "i")
        or ".trunc_f" in info.name
    )
)

# Stack effects (pops, pushes) of the rows whose opcode-table entry is polymorphic.
_EFFECTS: dict[Opcode, tuple[int, int]] = {
    Opcode.DROP: (1, 0),
    Opcode.SELECT: (3, 1),
    Opcode.SELECT_T: (3, 1),
    Opcode.GLOBAL_GET: (0, 1),
    Opcode.GLOBAL_SET: (1, 0),
    Opcode.TABLE_GET: (1, 1),
    Opcode.TABLE_SET: (2, 0),
    Opcode.TABLE_GROW: (2, 1),
    Opcode.TABLE_FILL: (3, 0),
    Opcode.REF_IS_NULL: (1, 1),
    Opcode.REF_FUNC: (0, 1),
}

# Enum members the lowering names, read once: on the class, each read is a descriptor call.
_BLOCK, _LOOP, _IF, _ELSE, _END = Opcode.BLOCK, Opcode.LOOP, Opcode.IF, Opcode.ELSE, Opcode.END
_DROP, _LOCAL_GET, _LOCAL_SET = Opcode.DROP, Opcode.LOCAL_GET, Opcode.LOCAL_SET
_I32, _I64, _F32, _F64 = ValType.I32, ValType.I64, ValType.F32, ValType.F64
_LABEL_FUNC, _LABEL_BLOCK = LabelKind.FUNC, LabelKind.BLOCK
_LABEL_LOOP, _LABEL_IF = LabelKind.LOOP, LabelKind.IF

# The instruction that copies an operand into a register, by operand type.
MOVE_OPS: dict[ValType, Opcode] = {
    ValType.I32: Opcode.I32_CONST,
    ValType.I64: Opcode.I64_CONST,
    ValType.F32: Opcode.F32_CONST,
    ValType.F64: Opcode.F64_CONST,
    ValType.FUNCREF: Opcode.REF_NULL,
    ValType.EXTERNREF: Opcode.REF_NULL,
}


@dataclass(slots=True)
class ModuleInfo:
    """What lowering needs of the whole module, computed once."""

    module: Module
    func_types: tuple[FuncType, ...]
    num_imported: int
    canonical_nans: bool = False  # the engine option: constants fold with canonical NaN results

    @classmethod
    def of(cls, module: Module, canonical_nans: bool = False) -> ModuleInfo:
        return cls(module, module.func_types, module.num_imported_funcs, canonical_nans)

    def block_arity(self, blocktype: Any) -> tuple[int, int]:
        """(params, results) of a block type immediate."""
        if blocktype is None:
            return 0, 0
        if isinstance(blocktype, ValType):
            return 0, 1
        ft = self.module.types[blocktype]
        return len(ft.params), len(ft.results)


@dataclass(slots=True)
class _Frame:
    """An open ``block``/``loop``/``if`` (or the function body) during lowering."""

    op: Opcode | None  # None for the function body
    label: Label
    body: list[Node]
    nparams: int
    nresults: int
    cond: Operand | None = None
    then: list[Node] | None = None  # set once an ``if`` reaches ``else``
    then_fell: bool = True
    entry: list[Operand] = field(default_factory=list)  # shadow of the params at entry
    depth: int = 0  # how deeply the constructs closed in it so far nest (its body's, 0 without any)

    @property
    def base(self) -> int:
        return self.label.base


class Lowerer:
    """Lowers one function; use :func:`lower_function`.

    The walk runs once per instruction of every compiled function, so its hot
    paths read tables (:data:`_DISPATCH`, :data:`_PRICES`, :data:`_SHAPES`)
    and shared operands (``ir.reg_table``/``ir.loc_table``) rather than
    making objects, and dispatch on ``type(x) is C``.
    """

    def __init__(self, info: ModuleInfo, index: int) -> None:
        self.info = info
        self.helpers = numeric.opcode_helpers(info.canonical_nans)  # for folding constants
        module = info.module
        defined = index - info.num_imported
        if not 0 <= defined < len(module.funcs):
            raise CompileError(f"function {index} is not defined by the module")
        if defined >= len(module.code_info):
            raise CompileError(f"function {index} has no validation info (decode with validate=True)")
        self.index = index
        self.func = module.funcs[defined]
        self.code = module.code_info[defined]
        self.type = module.types[self.func.type_index]
        self.locals = (*self.type.params, *self.func.locals)
        self.regs = reg_table(self.code.max_height + 1)  # Reg(h) is self.regs[h]
        self.locs = loc_table(len(self.locals))
        self.stack: list[Operand] = []
        self.local_refs = [0] * len(self.locals)  # shadow copies of each local on the stack
        self.shadowed = 0  # their sum: whether any local is shadowed at all
        self.labels: list[Label] = []
        func_label = self._label(_LABEL_FUNC, 0, len(self.type.results))
        self.frames = [_Frame(None, func_label, [], 0, len(self.type.results))]
        self.cur = self.frames[-1].body  # where instructions go: the innermost frame's (current arm's) body
        self.dead = False
        self.gas: Gas | None = None
        self.loops = False  # the facts recorded for IRFunction (see there; the depth in _Frame)
        self.calls = False
        self.tables = False
        self.accesses: set[Opcode] = set()
        self._new_gas(check=True)
        self._pay(frame_gas(frame_slots(len(self.locals), self.code.max_height)))

    # -- helpers

    def _open(self, frame: _Frame) -> None:
        self.frames.append(frame)
        self.cur = frame.body

    def _label(self, kind: LabelKind, base: int, arity: int) -> Label:
        label = Label(len(self.labels), kind, base, arity)
        self.labels.append(label)
        return label

    def _new_gas(self, check: bool = False) -> None:
        gas = Gas(0, check)
        self.cur.append(gas)
        self.gas = gas

    def _charge(self, op: Opcode) -> None:
        self._pay(_PRICES[op])

    def _pay(self, price: int) -> None:
        """Add a price (beyond the opcode table's) to the current gas block."""
        if self.gas is not None:
            self.gas.cost += price

    def push(self, operand: Operand) -> None:
        if type(operand) is Loc:
            self.local_refs[operand.i] += 1
            self.shadowed += 1
        self.stack.append(operand)

    def pop(self) -> Operand:
        operand = self.stack.pop()
        if type(operand) is Loc:
            self.local_refs[operand.i] -= 1
            self.shadowed -= 1
        return operand

    def pop_n(self, n: int) -> tuple[Operand, ...]:
        if n == 0:
            return ()
        stack = self.stack
        args = tuple(stack[-n:])
        del stack[-n:]
        if self.shadowed:
            self._unshadow(args)
        return args

    def _unshadow(self, operands: tuple[Operand, ...]) -> None:
        """Count the shadow locals among ``operands`` (just taken off the stack) as gone."""
        refs = self.local_refs
        for operand in operands:
            if type(operand) is Loc:
                refs[operand.i] -= 1
                self.shadowed -= 1

    def top(self, n: int) -> tuple[Operand, ...]:
        return tuple(self.stack[len(self.stack) - n:]) if n else ()

    def materialize(self, start: int, stop: int | None = None, locals_only: bool = False) -> None:
        """Copy shadow operands of slots ``start..stop`` into their registers."""
        stack = self.stack
        stop = len(stack) if stop is None else stop
        regs = self.regs
        cur = self.cur
        for h in range(start, stop):
            operand = stack[h]
            if type(operand) is Loc:
                cur.append(Op(_LOCAL_GET, (regs[h],), (operand,)))
                self.local_refs[operand.i] -= 1
                self.shadowed -= 1
            elif type(operand) is Const and not locals_only:
                cur.append(Op(MOVE_OPS[operand.type], (regs[h],), (operand,)))
            else:
                continue
            stack[h] = regs[h]

    def _release_local(self, index: int) -> None:
        """Materialize every shadow copy of local ``index`` before it changes."""
        if self.local_refs[index]:
            for h, operand in enumerate(self.stack):
                if type(operand) is Loc and operand.i == index:
                    self.materialize(h, h + 1)

    def _enter_block(self) -> None:
        if self.shadowed:
            self.materialize(0, locals_only=True)

    # -- the walk

    def run(self) -> IRFunction:
        body = self.func.body
        heights = self.code.heights  # before each instruction
        stack = self.stack
        dispatch = _DISPATCH
        prices = _STEP_PRICES
        end = _END
        skip = 0
        for ins, height in zip(body, heights, strict=True):
            op = ins.op
            if self.dead:
                if op in _OPENS:
                    skip += 1
                    continue
                if op is end and skip:
                    skip -= 1
                    continue
                if skip or op not in _CLOSES:
                    continue
            else:
                assert len(stack) == height, (self.index, ins.offset, len(stack), height)
                gas = self.gas
                if gas is not None:
                    gas.cost += prices[op]
            dispatch[op](self, ins)
            if op is end and not self.frames:
                break
        assert self.func_ir is not None
        return self.func_ir

    func_ir: IRFunction | None = None

    # -- generic (numeric, memory, table, reference, global) instructions

    def generic(self, ins: Instr) -> None:
        op = ins.op
        npops, npushes, foldable, noted = _SHAPES[op]
        if noted is _Noted.ALWAYS:
            self.accesses.add(op)
        stack = self.stack
        if npops:
            if npops == 1:
                args: tuple[Operand, ...] = (stack.pop(),)
            elif npops == 2:
                second = stack.pop()
                args = (stack.pop(), second)
            else:
                args = tuple(stack[-npops:])
                del stack[-npops:]
            if self.shadowed:
                refs = self.local_refs
                for arg in args:
                    if type(arg) is Loc:
                        refs[arg.i] -= 1
                        self.shadowed -= 1
            if foldable is not None:
                for arg in args:
                    if type(arg) is not Const:
                        break
                else:
                    stack.append(Const(self.helpers[op](*[a.value for a in args if isinstance(a, Const)]),
                                       foldable))
                    return
            if op is _DROP and type(args[0]) is not Reg:
                return
            if noted is _Noted.OF_LOCALS and _of_locals(args):
                self.accesses.add(op)
        else:
            args = ()
        h = len(stack)
        if npushes == 1:
            out = self.regs[h]
            self.cur.append(Op(op, (out,), args, ins.imm))
            stack.append(out)
        else:
            outs = self.regs[h:h + npushes]
            self.cur.append(Op(op, outs, args, ins.imm))
            stack.extend(outs)

    def i32_const(self, ins: Instr) -> None:
        self.stack.append(Const(ins.imm & MASK32, _I32))

    def i64_const(self, ins: Instr) -> None:
        self.stack.append(Const(ins.imm & MASK64, _I64))

    def f32_const(self, ins: Instr) -> None:
        self.stack.append(Const(f32_from_bits(ins.imm), _F32))

    def f64_const(self, ins: Instr) -> None:
        self.stack.append(Const(f64_from_bits(ins.imm), _F64))

    def ref_null(self, ins: Instr) -> None:
        self.stack.append(Const(None, ins.imm))

    # -- variables

    def local_get(self, ins: Instr) -> None:
        index = ins.imm
        self.local_refs[index] += 1
        self.shadowed += 1
        self.stack.append(self.locs[index])

    def local_set(self, ins: Instr) -> None:
        value = self.stack.pop()
        index = ins.imm
        refs = self.local_refs
        same = False  # ``local.set i`` of ``local.get i``: nothing to do once the shadows are released
        if type(value) is Loc:
            refs[value.i] -= 1
            self.shadowed -= 1
            same = value.i == index
        if refs[index]:
            self._release_local(index)
        if not same:
            self.cur.append(Op(_LOCAL_SET, (self.locs[index],), (value,)))

    def local_tee(self, ins: Instr) -> None:
        self.local_set(ins)
        self.push(self.locs[ins.imm])

    # -- calls

    def call(self, ins: Instr) -> None:
        ftype = self.info.func_types[ins.imm]
        if ins.imm < self.info.num_imported:
            self._pay(HOST_CALL_GAS)
        self.calls = True
        self._call(ins, ftype, len(ftype.params))

    def call_indirect(self, ins: Instr) -> None:
        ftype = self.info.module.types[ins.imm[0]]
        self._call(ins, ftype, len(ftype.params) + 1)

    def _call(self, ins: Instr, ftype: FuncType, nargs: int) -> None:
        args = self.pop_n(nargs)
        h = len(self.stack)
        outs = self.regs[h:h + len(ftype.results)]
        self.cur.append(Op(ins.op, outs, args, ins.imm))
        self.stack.extend(outs)

    # -- structured control

    def block(self, ins: Instr) -> None:
        nparams, nresults = self.info.block_arity(ins.imm)
        self._enter_block()
        base = len(self.stack) - nparams
        label = self._label(_LABEL_BLOCK, base, nresults)
        self._open(_Frame(_BLOCK, label, [], nparams, nresults))

    def loop(self, ins: Instr) -> None:
        nparams, nresults = self.info.block_arity(ins.imm)
        self._enter_block()
        base = len(self.stack) - nparams
        self.materialize(base)
        label = self._label(_LABEL_LOOP, base, nparams)
        self._open(_Frame(_LOOP, label, [], nparams, nresults))
        self._new_gas(check=True)

    def if_(self, ins: Instr) -> None:
        nparams, nresults = self.info.block_arity(ins.imm)
        cond = self.pop()
        self._enter_block()
        base = len(self.stack) - nparams
        self.materialize(base)
        label = self._label(_LABEL_IF, base, nresults)
        frame = _Frame(_IF, label, [], nparams, nresults, cond=cond, entry=self.stack[base:])
        self._open(frame)
        self._new_gas()

    def else_(self, ins: Instr) -> None:
        frame = self.frames[-1]
        frame.then_fell = not self.dead
        if not self.dead:
            self._charge(_ELSE)
            self.materialize(frame.base)
        frame.then, frame.body = frame.body, []
        self.cur = frame.body
        self._reset_stack(frame.base, frame.entry)
        self.dead = False
        self._new_gas()

    def _reset_stack(self, base: int, operands: list[Operand]) -> None:
        while len(self.stack) > base:
            self.pop()
        for operand in operands:
            self.push(operand)

    def end(self, ins: Instr) -> None:
        frame = self.frames[-1]
        fell = not self.dead
        label = frame.label
        results: list[Operand] = list(self.regs[frame.base:frame.base + frame.nresults])
        if fell:
            if frame.op is not _LOOP:
                self._charge(_END)
            if frame.op is _IF or (frame.op is _BLOCK and label.branches):
                self.materialize(frame.base)  # control joins here: the results must be in registers
            else:
                results = list(self.top(frame.nresults))
        self.frames.pop()
        if self.frames:
            self.cur = self.frames[-1].body
        if frame.op is None:
            if fell:
                frame.body.append(Return(self.top(frame.nresults)))
            self.func_ir = IRFunction(self.index, self.type, self.locals, frame.body, label,
                                      self.code.max_height, self.labels, frame.depth, self.loops,
                                      self.calls, self.tables, frozenset(self.accesses))
            return
        node: Node
        if frame.op is _LOOP:
            node = Loop(label, frame.body)
            reachable = fell
            self.loops = True
        elif frame.op is _BLOCK:
            node = Block(label, frame.body)
            reachable = fell or label.branches > 0
        else:
            then = frame.then if frame.then is not None else frame.body
            orelse = frame.body if frame.then is not None else []
            then_fell = frame.then_fell if frame.then is not None else fell
            else_fell = fell if frame.then is not None else True
            assert frame.cond is not None
            node = If(frame.cond, then, orelse)
            if label.branches:
                node = Block(label, [node])
            reachable = then_fell or else_fell or label.branches > 0
        # The node nests its bodies one level deeper than its own list (an if wrapped in a
        # block for its label, two): the enclosing frame's constructs nest at least that deep.
        depth = frame.depth + 2 if type(node) is Block and frame.op is _IF else frame.depth + 1
        parent = self.frames[-1]
        if depth > parent.depth:
            parent.depth = depth
        self.cur.append(node)
        self._reset_stack(frame.base, results)
        self.dead = not reachable
        if not reachable:
            self.gas = None
        elif frame.op is _LOOP:
            self._new_gas()
            self._charge(_END)  # the loop's end runs once, after the last iteration
        elif frame.op is _IF or label.branches:
            self._new_gas()

    # -- branches

    def _target(self, depth: int) -> Label:
        label = self.frames[-1 - depth].label
        label.branches += 1
        return label

    def br(self, ins: Instr) -> None:
        label = self._target(ins.imm)
        values = self.top(label.arity)
        self._pay(BRANCH_VALUE_GAS * len(values))
        self.cur.append(Return(values) if label.kind is _LABEL_FUNC else Br(label, values))
        self._go_dead()

    def br_if(self, ins: Instr) -> None:
        cond = self.pop()
        label = self._target(ins.imm)
        self._pay(BRANCH_VALUE_GAS * label.arity)
        self.cur.append(BrIf(label, cond, self.top(label.arity)))
        self._new_gas()

    def br_table(self, ins: Instr) -> None:
        index = self.pop()
        depths, default = ins.imm
        labels = tuple(self._target(d) for d in depths)
        default_label = self._target(default)
        self.tables = True
        values = self.top(default_label.arity)
        self._pay(BRANCH_VALUE_GAS * len(values))
        self.cur.append(BrTable(index, labels, default_label, values))
        self._go_dead()

    def return_(self, ins: Instr) -> None:
        self._pay(BRANCH_VALUE_GAS * len(self.type.results))
        self.cur.append(Return(self.top(len(self.type.results))))
        self._go_dead()

    def unreachable(self, ins: Instr) -> None:
        self.cur.append(Unreachable())
        self._go_dead()

    def nop(self, ins: Instr) -> None:
        pass

    def _go_dead(self) -> None:
        self.dead = True
        self.gas = None


_CONTROL: dict[Opcode, Callable[[Lowerer, Instr], None]] = {
    Opcode.BLOCK: Lowerer.block,
    Opcode.LOOP: Lowerer.loop,
    Opcode.IF: Lowerer.if_,
    Opcode.ELSE: Lowerer.else_,
    Opcode.END: Lowerer.end,
    Opcode.BR: Lowerer.br,
    Opcode.BR_IF: Lowerer.br_if,
    Opcode.BR_TABLE: Lowerer.br_table,
    Opcode.RETURN: Lowerer.return_,
    Opcode.UNREACHABLE: Lowerer.unreachable,
    Opcode.NOP: Lowerer.nop,
    Opcode.CALL: Lowerer.call,
    Opcode.CALL_INDIRECT: Lowerer.call_indirect,
}

_VARIABLE: dict[Opcode, Callable[[Lowerer, Instr], None]] = {
    Opcode.LOCAL_GET: Lowerer.local_get,
    Opcode.LOCAL_SET: Lowerer.local_set,
    Opcode.LOCAL_TEE: Lowerer.local_tee,
    Opcode.I32_CONST: Lowerer.i32_const,
    Opcode.I64_CONST: Lowerer.i64_const,
    Opcode.F32_CONST: Lowerer.f32_const,
    Opcode.F64_CONST: Lowerer.f64_const,
    Opcode.REF_NULL: Lowerer.ref_null,
}


_RULES = {**_CONTROL, **_VARIABLE}


class _Noted(IntEnum):
    """When lowering records a generic op in ``IRFunction.accesses``."""

    NEVER = 0
    ALWAYS = 1  # a memory instruction
    OF_LOCALS = 2  # a signed ordering, when it compares locals and constants (:func:`_of_locals`)


def _shape(op: Opcode) -> tuple[int, int, ValType | None, _Noted]:
    """(pops, pushes, result type when constant operands fold at compile time, when it is recorded
    in ``IRFunction.accesses``) of a generic op."""
    info = OPS[op]
    if info.pops is not None and info.pushes is not None:
        npops, npushes = len(info.pops), len(info.pushes)
    else:
        npops, npushes = _EFFECTS.get(op, (0, 0))
    foldable = info.family is Family.NUMERIC and op not in TRAPPING and npops > 0 and npushes == 1
    noted = (_Noted.ALWAYS if info.family is Family.MEMORY else
             _Noted.OF_LOCALS if op in SIGNED_ORDERINGS else _Noted.NEVER)
    return npops, npushes, info.pushes[0] if foldable and info.pushes else None, noted


SIGNED_ORDERINGS = frozenset({Opcode.I32_LT_S, Opcode.I32_GT_S, Opcode.I32_LE_S, Opcode.I32_GE_S})
"""Recorded with the memory instructions when they compare locals and constants (:func:`_of_locals`):
:mod:`.signed` looks only at functions with one of those and an i32 load."""


def _of_locals(args: tuple[Operand, ...]) -> bool:
    """Whether a comparison's operands are locals and constants, a local at least."""
    a, b = args
    return (type(a) is Loc or type(b) is Loc) and type(a) is not Reg and type(b) is not Reg


_SHAPES: dict[Opcode, tuple[int, int, ValType | None, _Noted]] = {
    info.op: _shape(info.op) for info in OPS.values()
}

_DISPATCH: dict[Opcode, Callable[[Lowerer, Instr], None]] = {
    op: _RULES.get(op, Lowerer.generic) for op in Opcode
}
"""The rule of every opcode (the generic one for those of no family table)."""

_PRICES: dict[Opcode, int] = {info.op: info.gas for info in OPS.values()}
_STEP_PRICES: dict[Opcode, int] = {**_PRICES, Opcode.END: 0, Opcode.ELSE: 0}
"""The price charged as the walk reaches an instruction: ``end`` and ``else`` are charged by their
rules, and only when the code before them falls through."""

_OPENS = frozenset({Opcode.BLOCK, Opcode.LOOP, Opcode.IF})
_CLOSES = frozenset({Opcode.END, Opcode.ELSE})


def lower_function(info: ModuleInfo, index: int) -> IRFunction:
    """The register form of module-defined function ``index`` (function index space)."""
    return Lowerer(info, index).run()
