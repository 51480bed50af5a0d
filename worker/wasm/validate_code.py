"""Validation of function bodies: the spec appendix's operand/control stack algorithm.

Theory of operation
-------------------
A body is checked in one forward pass, exactly as the WebAssembly 2.0 spec's
appendix ("Validation Algorithm") describes it. Two stacks are kept:

* the *operand stack* ``vals``: the value type of every value the
  instructions so far leave behind, or ``None`` for the spec's ``Unknown``
  (a value of any type, produced only in unreachable code);
* the *control stack* ``ctrls``: one :class:`Frame` per open block, holding
  its parameter and result types, the operand-stack height at its start and
  whether the rest of it is unreachable.

After ``br``, ``br_table``, ``return`` or ``unreachable`` the current
frame's values are dropped and the frame is marked unreachable: popping below
its height then yields ``Unknown``, which matches any type. This is how
unreachable code stays typeable without being special-cased per instruction.

Plain instructions, those whose opcode-table row gives fixed ``pops`` and
``pushes``, are typed straight from the table on an inlined fast path: the
top of ``vals`` is compared with the expected list in one slice comparison.
Only the polymorphic rows (``pops`` is ``None``) and rows needing an index or
alignment check go through a handler, found in a dict by opcode; nothing
dispatches through an if/elif chain, and nothing recurses on nesting depth.

What the compiler gets
----------------------
For every body a :class:`~wasmpool.wasm.module.CodeInfo`: ``heights[i]`` is
the operand-stack height before ``body[i]`` (values above the locals,
counted from the function's start), or ``-1`` when no run-time path reaches
``body[i]``: everything after a ``br``, ``br_table``, ``return`` or
``unreachable`` up to and including the ``else`` or ``end`` that closes its
block, and everything inside blocks that start in such dead code. (An
``end`` or ``else`` with ``-1`` only means nothing falls through to it; the
instruction after an ``end`` is reachable again, with the block's results on
top of the block's start height, unless the enclosing block is dead too.)
In reachable code the validator's operand stack holds exactly the values the
function has at run time, so the height is simply its length. The spec's
``unreachable`` flag is not enough for this: a block opened in dead code
starts with a fresh, non-polymorphic frame, so each frame also carries a
``dead`` flag inherited from its parent. ``max_height`` is the largest
height.

Errors are raised inside the loop as the location-free :class:`Invalid` and
turned into ``ValidationError(reason, offset, "code", func)`` by
:meth:`CodeValidator.check`, which knows the failing instruction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from .errors import ValidationError
from .module import CodeInfo, Func, Instr
from .opcodes import OPS, Family, Imm, Opcode
from .types import FuncType, GlobalType, TableType, ValType

Types = list[ValType]
"""A result type as a list, so that it compares directly with a slice of ``vals``."""
Sig = tuple[Types, Types]
Handler = Callable[[Instr], None]

NUMTYPES: frozenset[ValType | None] = frozenset(
    {ValType.I32, ValType.I64, ValType.F32, ValType.F64, None})
"""Types an untyped ``select`` accepts (``None`` is the spec's Unknown, which is numeric too)."""
REFTYPES: frozenset[ValType | None] = frozenset({ValType.FUNCREF, ValType.EXTERNREF, None})
"""Types ``ref.is_null`` accepts."""
NOTHING: Types = []


class Invalid(Exception):
    """A validation failure not yet tied to an instruction (see :meth:`CodeValidator.check`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FrameKind(IntEnum):
    """What opened a control frame; decides its label types and what may close it."""

    FUNC = 0
    BLOCK = 1
    LOOP = 2
    IF = 3
    ELSE = 4


FRAME_BY_OPCODE: dict[int, FrameKind] = {
    Opcode.BLOCK: FrameKind.BLOCK,
    Opcode.LOOP: FrameKind.LOOP,
    Opcode.IF: FrameKind.IF,
}


class Frame:
    """One entry of the control stack (the spec's ``ctrl_frame``)."""

    __slots__ = ("dead", "end", "height", "kind", "labels", "start", "unreachable")

    def __init__(self, kind: FrameKind, start: Types, end: Types, height: int, dead: bool) -> None:
        self.kind = kind
        self.start = start
        self.end = end
        self.labels = start if kind is FrameKind.LOOP else end  # what a branch to it carries
        self.height = height
        self.unreachable = False  # the spec's flag: the operand stack is polymorphic
        self.dead = dead  # no run-time path reaches the current position (for CodeInfo.heights)


def _sig_table() -> dict[int, Sig]:
    """(pops, pushes) as lists for every row of the opcode table that has them."""
    return {code: (list(row.pops), list(row.pushes)) for code, row in OPS.items()
            if row.pops is not None and row.pushes is not None}


SIGS: dict[int, Sig] = _sig_table()
"""Fixed signatures from the opcode table."""
SIMPLE_FAMILIES = frozenset({Family.CONST, Family.NUMERIC})
SIMPLE: dict[int, tuple[Types, Types, int]] = {
    code: (pops, pushes, len(pops)) for code, (pops, pushes) in SIGS.items()
    if OPS[code].family in SIMPLE_FAMILIES or code == Opcode.NOP
}
"""Instructions typed only by their row, with nothing else to check: the inlined fast path."""
NATURAL_ALIGN: dict[int, int] = {code: row.align for code, row in OPS.items() if row.imm is Imm.MEMARG}


@dataclass(frozen=True, slots=True)
class Context:
    """The spec's validation context C, minus what changes per function."""

    types: tuple[FuncType, ...]
    funcs: tuple[FuncType, ...]
    tables: tuple[TableType, ...]
    mems: int
    globals: tuple[GlobalType, ...]
    elems: tuple[ValType, ...]
    datas: int
    refs: frozenset[int]


class CodeValidator:
    """Validates the bodies of one module's functions; one instance per module."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.vals: list[ValType | None] = []
        self.ctrls: list[Frame] = []
        self.locals: tuple[ValType, ...] = ()
        self.returns: Types = []
        self.type_sigs: list[Sig] = [(list(t.params), list(t.results)) for t in ctx.types]
        self.func_sigs: list[Sig] = [(list(t.params), list(t.results)) for t in ctx.funcs]
        self.blocktypes: dict[object, Sig] = {None: (NOTHING, NOTHING)}
        self.failed = Instr(Opcode.NOP, None, 0)  # the instruction an Invalid was raised at
        self.handlers = self._handlers()

    # -- the driver ------------------------------------------------------------------------------

    def check(self, func: Func, index: int) -> CodeInfo:
        """Validate one body; ``index`` is the function's index (imports counted) for messages."""
        body = func.body
        if not 0 <= func.type_index < len(self.ctx.types):
            raise ValidationError(f"unknown type {func.type_index}", func.offset, "code", index)
        params, results = self.type_sigs[func.type_index]
        self.locals = (*params, *func.locals)
        self.returns = results
        self.vals.clear()
        self.ctrls[:] = [Frame(FrameKind.FUNC, NOTHING, results, 0, False)]
        if not body or body[-1].op != Opcode.END:
            raise ValidationError("function body must end with end", func.offset, "code", index)
        try:
            heights = self._run(body)
        except Invalid as err:
            raise ValidationError(err.reason, self.failed.offset, "code", index) from None
        return CodeInfo(heights, max(heights))

    def _run(self, body: tuple[Instr, ...]) -> tuple[int, ...]:
        """The per-instruction loop; keeps everything it touches in locals.

        Only handlers change the control stack, so the current frame's height
        and reachability are re-read after a handler ran, not per instruction.
        """
        vals = self.vals
        ctrls = self.ctrls
        simple_get = SIMPLE.get
        handler_get = self.handlers.get
        heights: list[int] = []
        record = heights.append
        height = 0
        dead = False
        ins = body[-1]
        try:
            for ins in body[:-1]:
                record(-1 if dead else len(vals))
                sig = simple_get(ins[0])
                if sig is None:
                    handler = handler_get(ins[0])
                    if handler is None:
                        raise Invalid(f"unknown instruction {ins[0]:#x}")
                    handler(ins)
                    top = ctrls[-1]
                    height = top.height
                    dead = top.dead
                    continue
                pops, pushes, n = sig
                if n:
                    if vals[-n:] == pops and len(vals) - n >= height:
                        del vals[-n:]
                    else:
                        self._pop_each(pops)
                vals += pushes
            ins = body[-1]
            record(-1 if dead else len(vals))
            self._end_function()
        except Invalid:
            self.failed = ins
            raise
        return tuple(heights)

    def _end_function(self) -> None:
        """The body's final ``end``: it must close the function's own frame."""
        if len(self.ctrls) != 1:
            raise Invalid("unclosed block at the end of the function")
        self._pop_ctrl()

    # -- the spec's stack primitives -------------------------------------------------------------

    def _pop_val(self, want: ValType | None) -> ValType | None:
        """Pop one operand, which must have type ``want`` (``None``: any type)."""
        vals = self.vals
        top = self.ctrls[-1]
        if len(vals) == top.height:
            if top.unreachable:
                return None
            raise Invalid(f"type mismatch: expected {want or 'a value'}, got nothing")
        got = vals.pop()
        if got != want and got is not None and want is not None:
            raise Invalid(f"type mismatch: expected {want}, got {got}")
        return got

    def _pop_i32(self) -> None:
        """Pop an i32 (conditions, addresses, indices), the most common single pop."""
        vals = self.vals
        if vals and vals[-1] is ValType.I32 and len(vals) > self.ctrls[-1].height:
            vals.pop()
        else:
            self._pop_val(ValType.I32)

    def _pop_each(self, types: Types) -> list[ValType | None]:
        """Pop ``types`` one by one from the top (the slow path, handles Unknown and errors)."""
        popped = [self._pop_val(t) for t in reversed(types)]
        popped.reverse()
        return popped

    def _pop_vals(self, types: Types) -> None:
        """Pop operands of ``types``; the common all-known case is one slice comparison."""
        n = len(types)
        if not n:
            return
        vals = self.vals
        if len(vals) - n >= self.ctrls[-1].height and vals[-n:] == types:
            del vals[-n:]
        else:
            self._pop_each(types)

    def _push_ctrl(self, kind: FrameKind, start: Types, end: Types) -> None:
        ctrls = self.ctrls
        ctrls.append(Frame(kind, start, end, len(self.vals), ctrls[-1].dead))
        self.vals += start

    def _pop_ctrl(self) -> Frame:
        frame = self.ctrls[-1]
        self._pop_vals(frame.end)
        extra = len(self.vals) - frame.height
        if extra:
            raise Invalid(f"type mismatch: {extra} value(s) left on the stack at the end of the block")
        self.ctrls.pop()
        return frame

    def _unreachable(self) -> None:
        frame = self.ctrls[-1]
        del self.vals[frame.height:]
        frame.unreachable = frame.dead = True

    def _label(self, depth: int) -> Frame:
        ctrls = self.ctrls
        if not 0 <= depth < len(ctrls):
            raise Invalid(f"unknown label {depth}")
        return ctrls[-1 - depth]

    def _blocktype(self, bt: object) -> Sig:
        """Parameter and result lists of a block type (empty, a value type, or a type index)."""
        sig = self.blocktypes.get(bt)
        if sig is None:
            if isinstance(bt, ValType):
                sig = (NOTHING, [bt])
            elif isinstance(bt, int) and 0 <= bt < len(self.type_sigs):
                sig = self.type_sigs[bt]
            else:
                raise Invalid(f"unknown type {bt}")
            self.blocktypes[bt] = sig
        return sig

    # -- dispatch --------------------------------------------------------------------------------

    def _handlers(self) -> dict[int, Handler]:
        """Opcode -> handler for every instruction the fast path does not type."""
        by_op: dict[int, Handler] = {
            Opcode.UNREACHABLE: self._op_unreachable,
            Opcode.BLOCK: self._op_block,
            Opcode.LOOP: self._op_block,
            Opcode.IF: self._op_if,
            Opcode.ELSE: self._op_else,
            Opcode.END: self._op_end,
            Opcode.BR: self._op_br,
            Opcode.BR_IF: self._op_br_if,
            Opcode.BR_TABLE: self._op_br_table,
            Opcode.RETURN: self._op_return,
            Opcode.CALL: self._op_call,
            Opcode.CALL_INDIRECT: self._op_call_indirect,
            Opcode.DROP: self._op_drop,
            Opcode.SELECT: self._op_select,
            Opcode.SELECT_T: self._op_select_t,
            Opcode.LOCAL_GET: self._op_local_get,
            Opcode.LOCAL_SET: self._op_local_set,
            Opcode.LOCAL_TEE: self._op_local_tee,
            Opcode.GLOBAL_GET: self._op_global_get,
            Opcode.GLOBAL_SET: self._op_global_set,
            Opcode.TABLE_GET: self._op_table_get,
            Opcode.TABLE_SET: self._op_table_set,
            Opcode.TABLE_SIZE: self._op_table_size,
            Opcode.TABLE_GROW: self._op_table_grow,
            Opcode.TABLE_FILL: self._op_table_fill,
            Opcode.TABLE_COPY: self._op_table_copy,
            Opcode.TABLE_INIT: self._op_table_init,
            Opcode.ELEM_DROP: self._op_elem_drop,
            Opcode.MEMORY_INIT: self._op_memory_init,
            Opcode.DATA_DROP: self._op_data_drop,
            Opcode.REF_NULL: self._op_ref_null,
            Opcode.REF_IS_NULL: self._op_ref_is_null,
            Opcode.REF_FUNC: self._op_ref_func,
        }
        by_imm: dict[Imm, Handler] = {
            Imm.MEMARG: self._op_memarg,
            Imm.MEMIDX: self._op_memory,
            Imm.MEMORY_COPY: self._op_memory,
        }
        for code, row in OPS.items():
            if code not in by_op and code not in SIMPLE:
                by_op[code] = by_imm[row.imm]
        return by_op

    def _apply(self, code: int) -> None:
        """Type an instruction by its opcode-table row."""
        pops, pushes = SIGS[code]
        self._pop_vals(pops)
        self.vals += pushes

    # -- control instructions --------------------------------------------------------------------

    def _op_unreachable(self, ins: Instr) -> None:
        self._unreachable()

    def _op_block(self, ins: Instr) -> None:
        sig = self.blocktypes.get(ins[1]) or self._blocktype(ins[1])
        params = sig[0]
        if params:
            self._pop_vals(params)
        vals = self.vals
        ctrls = self.ctrls
        ctrls.append(Frame(FRAME_BY_OPCODE[ins[0]], params, sig[1], len(vals), ctrls[-1].dead))
        vals += params

    def _op_if(self, ins: Instr) -> None:
        self._pop_i32()
        self._op_block(ins)

    def _op_else(self, ins: Instr) -> None:
        if self.ctrls[-1].kind is not FrameKind.IF:
            raise Invalid("else without a matching if")
        frame = self._pop_ctrl()
        self._push_ctrl(FrameKind.ELSE, frame.start, frame.end)

    def _op_end(self, ins: Instr) -> None:
        ctrls = self.ctrls
        frame = ctrls[-1]
        if frame.kind is FrameKind.IF and frame.start != frame.end:
            raise Invalid("type mismatch: if without else must have equal parameter and result types")
        if len(ctrls) == 1:
            raise Invalid("end of the function before the end of its body")
        vals = self.vals
        end = frame.end
        n = len(end)
        if len(vals) == frame.height + n and (not n or vals[-n:] == end):
            ctrls.pop()  # the results are already in place: popping and pushing them is a no-op
        else:
            self._pop_ctrl()
            vals += end

    def _op_br(self, ins: Instr) -> None:
        self._pop_vals(self._label(ins[1]).labels)
        self._unreachable()

    def _op_br_if(self, ins: Instr) -> None:
        labels = self._label(ins[1]).labels
        self._pop_i32()
        if labels:
            self._pop_vals(labels)
            self.vals += labels

    def _op_br_table(self, ins: Instr) -> None:
        targets, default = ins.imm
        labels = self._label(default).labels
        if targets and max(targets) >= len(self.ctrls):
            raise Invalid(f"unknown label {max(targets)}")
        self._pop_i32()
        arity = len(labels)
        # Popping a label's types and pushing back what was popped is idempotent, so each
        # distinct target needs checking only once (br_table may list a million of them).
        for depth in set(targets):
            types = self.ctrls[-1 - depth].labels
            if len(types) != arity:
                raise Invalid("type mismatch: br_table targets have different arities")
            self.vals += self._pop_each(types)
        self._pop_vals(labels)
        self._unreachable()

    def _op_return(self, ins: Instr) -> None:
        self._pop_vals(self.returns)
        self._unreachable()

    def _op_call(self, ins: Instr) -> None:
        if not 0 <= ins.imm < len(self.func_sigs):
            raise Invalid(f"unknown function {ins.imm}")
        params, results = self.func_sigs[ins.imm]
        self._pop_vals(params)
        self.vals += results

    def _op_call_indirect(self, ins: Instr) -> None:
        type_index, table = ins.imm
        if self._table(table).elem is not ValType.FUNCREF:
            raise Invalid(f"type mismatch: call_indirect needs a funcref table, table {table} is not")
        if not 0 <= type_index < len(self.type_sigs):
            raise Invalid(f"unknown type {type_index}")
        params, results = self.type_sigs[type_index]
        self._pop_i32()
        self._pop_vals(params)
        self.vals += results

    # -- parametric instructions -----------------------------------------------------------------

    def _op_drop(self, ins: Instr) -> None:
        self._pop_val(None)

    def _op_select(self, ins: Instr) -> None:
        self._pop_i32()
        t1 = self._pop_val(None)
        t2 = self._pop_val(None)
        if t1 not in NUMTYPES or t2 not in NUMTYPES:
            raise Invalid("type mismatch: select without a type needs numeric operands")
        if t1 != t2 and t1 is not None and t2 is not None:
            raise Invalid(f"type mismatch: select operands differ: {t2} and {t1}")
        self.vals.append(t2 if t1 is None else t1)

    def _op_select_t(self, ins: Instr) -> None:
        types = ins.imm
        if len(types) != 1:
            raise Invalid("invalid result arity")
        t = types[0]
        self._pop_i32()
        self._pop_val(t)
        self._pop_val(t)
        self.vals.append(t)

    # -- variable instructions -------------------------------------------------------------------

    def _local(self, index: int) -> ValType:
        if not 0 <= index < len(self.locals):
            raise Invalid(f"unknown local {index}")
        return self.locals[index]

    def _global(self, index: int) -> GlobalType:
        if not 0 <= index < len(self.ctx.globals):
            raise Invalid(f"unknown global {index}")
        return self.ctx.globals[index]

    def _op_local_get(self, ins: Instr) -> None:
        index = ins[1]
        if not 0 <= index < len(self.locals):
            raise Invalid(f"unknown local {index}")
        self.vals.append(self.locals[index])

    def _op_local_set(self, ins: Instr) -> None:
        t = self._local(ins[1])
        vals = self.vals
        if vals and vals[-1] is t and len(vals) > self.ctrls[-1].height:
            vals.pop()
        else:
            self._pop_val(t)

    def _op_local_tee(self, ins: Instr) -> None:
        t = self._local(ins[1])
        vals = self.vals
        if not (vals and vals[-1] is t and len(vals) > self.ctrls[-1].height):
            self._pop_val(t)
            vals.append(t)

    def _op_global_get(self, ins: Instr) -> None:
        self.vals.append(self._global(ins.imm).valtype)

    def _op_global_set(self, ins: Instr) -> None:
        g = self._global(ins.imm)
        if not g.mutable:
            raise Invalid(f"global is immutable: global {ins.imm}")
        self._pop_val(g.valtype)

    # -- table instructions ----------------------------------------------------------------------

    def _table(self, index: int) -> TableType:
        if not 0 <= index < len(self.ctx.tables):
            raise Invalid(f"unknown table {index}")
        return self.ctx.tables[index]

    def _elem(self, index: int) -> ValType:
        if not 0 <= index < len(self.ctx.elems):
            raise Invalid(f"unknown elem segment {index}")
        return self.ctx.elems[index]

    def _op_table_get(self, ins: Instr) -> None:
        t = self._table(ins.imm).elem
        self._pop_i32()
        self.vals.append(t)

    def _op_table_set(self, ins: Instr) -> None:
        t = self._table(ins.imm).elem
        self._pop_val(t)
        self._pop_i32()

    def _op_table_size(self, ins: Instr) -> None:
        self._table(ins.imm)
        self._apply(ins.op)

    def _op_table_grow(self, ins: Instr) -> None:
        t = self._table(ins.imm).elem
        self._pop_i32()
        self._pop_val(t)
        self.vals.append(ValType.I32)

    def _op_table_fill(self, ins: Instr) -> None:
        t = self._table(ins.imm).elem
        self._pop_i32()
        self._pop_val(t)
        self._pop_i32()

    def _op_table_copy(self, ins: Instr) -> None:
        dst, src = ins.imm
        if self._table(dst).elem is not self._table(src).elem:
            raise Invalid(f"type mismatch: table.copy from table {src} to table {dst} of another type")
        self._apply(ins.op)

    def _op_table_init(self, ins: Instr) -> None:
        elem, table = ins.imm
        if self._table(table).elem is not self._elem(elem):
            raise Invalid(f"type mismatch: elem segment {elem} does not match table {table}")
        self._apply(ins.op)

    def _op_elem_drop(self, ins: Instr) -> None:
        self._elem(ins.imm)

    # -- memory instructions ---------------------------------------------------------------------

    def _memory(self, index: int) -> None:
        if not 0 <= index < self.ctx.mems:
            raise Invalid(f"unknown memory {index}")

    def _data(self, index: int) -> None:
        if not 0 <= index < self.ctx.datas:
            raise Invalid(f"unknown data segment {index}")

    def _op_memarg(self, ins: Instr) -> None:
        if not self.ctx.mems:
            raise Invalid("unknown memory 0")
        op = ins[0]
        if ins[1][0] > NATURAL_ALIGN[op]:
            raise Invalid("alignment must not be larger than natural")
        pops, pushes = SIGS[op]
        self._pop_vals(pops)
        self.vals += pushes

    def _op_memory(self, ins: Instr) -> None:
        self._memory(ins.imm or 0)
        self._apply(ins.op)

    def _op_memory_init(self, ins: Instr) -> None:
        self._memory(0)
        self._data(ins.imm)
        self._apply(ins.op)

    def _op_data_drop(self, ins: Instr) -> None:
        self._data(ins.imm)

    # -- reference instructions ------------------------------------------------------------------

    def _op_ref_null(self, ins: Instr) -> None:
        self.vals.append(ins.imm)

    def _op_ref_is_null(self, ins: Instr) -> None:
        t = self._pop_val(None)
        if t not in REFTYPES:
            raise Invalid(f"type mismatch: expected a reference, got {t}")
        self.vals.append(ValType.I32)

    def _op_ref_func(self, ins: Instr) -> None:
        if not 0 <= ins.imm < len(self.func_sigs):
            raise Invalid(f"unknown function {ins.imm}")
        if ins.imm not in self.ctx.refs:
            raise Invalid(f"undeclared function reference {ins.imm}")
        self.vals.append(ValType.FUNCREF)
