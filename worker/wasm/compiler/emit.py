"""Emission: the register form -> the Python source of one ``def`` per function.

Theory of operation
-------------------
*Instructions.* Each instruction becomes Python by its rule in :mod:`.exprs`;
:mod:`.fold` inlines registers into the expressions that use them, keeping
impure work in order.

*Control.* :mod:`.structure` first reshapes the register form (switch
ladders become :class:`~.ir.Switch`, short ``return`` continuations are
copied into the branches that reach them, gas blocks merge) and decides the
shape of each construct: structured ``while``/``if`` where CPython's nesting
limits allow, a state machine (:mod:`.states`) where they do not. Branches
are resolved through a stack of Python loop frames (:mod:`.routes`): the
owner of the target label is either the innermost frame (``break``,
``continue``, ``lbl = k; continue``) or an outer one (``br = token; break``,
tested after each loop). Branch values move into the target label's
registers by a (parallel) assignment first.

*Function shape.* ``def f7(d, l0, l1):`` takes the stack budget left ``d``
(in frame units, see :mod:`.frames`) and the parameters; it returns None, one
value or a tuple; its calls pass ``d`` minus its own units. It begins with the
budget check, zeroes its declared locals, binds the memory's ``bytearray`` to
``m`` when it touches memory (and the typed views its aligned accesses use,
``w4 = MEM.w32``..., bound again after ``memory.grow`` and calls that may grow
it (see :mod:`.growth`), which replace them: ``runtime.memory``), and wraps the body in one ``try`` that turns
``IndexError``/``struct.error`` (memory bounds, detected by the access
itself) and ``ZeroDivisionError`` (inlined unsigned division) into traps. The
metered variant charges each gas block's price before it runs and checks the
meter at entry and loop headers (direct functions leave their entry to their
call sites, see :mod:`.direct`). The meter is the closure variable ``GAS``
(the instance's gas cell, see ``runtime.gas``): each metered ``def`` is
nested in a maker ``def gas_cell_f7(): GAS = 0 ...`` so that it compiles as
a closure over ``GAS``, and the runtime builds the function from the inner
code object with the instance's cell. A function with loops keeps the
remaining gas in the local ``gas`` and syncs it with ``GAS`` around calls,
at returns and when an exception leaves; a function without loops charges
``GAS`` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..opcodes import BULK_UNIT, BULK_UNIT_GAS, OPS, TABLE_BULK_UNIT, Imm, Opcode
from ..types import FuncType, ValType
from .align import (
    MAX_LOOP_NESTING,
    ZERO_OPS,
    assigned_first,
    entry_zeros,
    local_zeros,
    loop_zeros,
    result_zeros,
)
from .bounds import local_bounds
from .direct import Prepay, charge_calls, take_entry
from .exprs import (
    BOUND_RULES,
    SIGNED_RULES,
    VIEW_I32,
    VIEW_OPS,
    VIEW_U32,
    VIEWS,
    BoundRule,
    Rule,
    Scaled,
    View,
    X,
    as_value,
    condition,
    const_int,
    loose,
    paren,
    result_nan,
    rules_for,
)
from .fold import Folder, Line, loc_name, reg_name, result_wrap, target_name, truth
from .frames import frame_slots, stack_units
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
    Loc,
    Loop,
    Node,
    Op,
    Operand,
    Reg,
    Return,
    Switch,
    Unreachable,
)
from .lower import MOVE_OPS
from .nans import raw_locals
from .routes import Frame, FrameKind, Mode, Route
from .scaled import index_name, scaled_locals
from .signed import Signed, signed_locals
from .states import emit_states
from .structure import (
    Analysis,
    Need,
    has_loops,
    ifconv_ok,
    ranges,
    rewrite_switches,
    sink_gas,
    switch_runs,
    thread_returns,
)

_MOVES = frozenset({Opcode.LOCAL_GET, *MOVE_OPS.values()})
_BULK = frozenset({Opcode.MEMORY_FILL, Opcode.MEMORY_COPY, Opcode.MEMORY_INIT, Opcode.TABLE_FILL,
                   Opcode.TABLE_COPY, Opcode.TABLE_INIT})
_ZEROS: dict[ValType, str] = {
    ValType.I32: "0", ValType.I64: "0", ValType.F32: "0.0", ValType.F64: "0.0",
    ValType.FUNCREF: "None", ValType.EXTERNREF: "None",
}
METER = "GAS"  # the closure variable holding the instance's remaining gas (metered code)
MAKER_PREFIX = "gas_cell_f"  # the name of the def that makes ``GAS`` a closure variable
_TABLE_BULK = frozenset({Opcode.TABLE_FILL, Opcode.TABLE_COPY, Opcode.TABLE_INIT})
_GROW = frozenset({Opcode.MEMORY_GROW, Opcode.TABLE_GROW})
_PRICED = _BULK | _GROW  # instructions with a dynamic gas price
SHIFTS = frozenset({Opcode.I32_SHL, Opcode.I64_SHL})  # whose alignment rule needs the constant operand
_NO_READS: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ModuleView:
    """What emission needs to know about the module: types of calls, globals, signatures."""

    func_types: tuple[FuncType, ...]
    types: tuple[FuncType, ...]
    global_mutable: tuple[bool, ...]
    type_sigs: tuple[int, ...]  # interned signature id of each type index
    steady: frozenset[int] = frozenset()  # functions a call to which cannot grow memory (see .growth)


@dataclass(slots=True)
class EmitResult:
    """One function's source and what its namespace must provide."""

    source: str
    constants: dict[str, float]


class FunctionEmitter(Folder):
    """Emits one function; use :func:`emit_function`."""

    def __init__(self, func: IRFunction, view: ModuleView, metered: bool,
                 canonical_nans: bool = False) -> None:
        super().__init__()
        self.func = func
        self.view = view
        self.metered = metered
        self.plans = op_plans(canonical_nans, metered)  # the float semantics' rules and their decisions
        if canonical_nans:
            self.raw_locals = frozenset(f"l{i}" for i in raw_locals(func))
        self.units = stack_units(frame_slots(len(func.locals), func.max_height))  # of the budget ``d``
        # With loops, gas lives in a fast local synced with the meter around calls; without,
        # straight-line charges go to the meter itself and calls need no syncing.
        self.local_gas = metered and (has_loops(func.body) if func.loops is None else func.loops)
        self.gas = "gas" if self.local_gas else METER
        self.charge = f"{self.gas} -= "  # a gas block's charge, then its price
        self.check = f"if {self.gas} < 0: raise out_of_gas()"
        self.analysis = Analysis()
        self.loops = 1  # the try block
        self.frames: list[Frame] = []
        self.routes: dict[int, Route] = {func.func_label.id: Route(Mode.FUNC)}
        self.tokens = 0
        self.uses_br = False
        self.uses_memory = False
        self.views = _views_used(func.body) if func.accesses is None else _views_of(func.accesses)
        self.signed: set[int] = set()  # instructions (by id) emitted by their signed plans (see .signed)
        self.signed_locals: frozenset[int] = frozenset()
        self.scaled: dict[int, tuple[str, int]] = {}  # local -> (its index's name, shift) (see .scaled)
        if self.views:
            self.local_zeros = local_zeros(func)
            self.local_bounds = local_bounds(func)
            if VIEW_U32 in self.views:
                self.use_signed(signed_locals(func))
        self.uses_div = False
        self.tail_done = False
        self.refining = 0  # loops being emitted with refined zero bits (see emit_refined_loop)

    def use_signed(self, signed: Signed) -> None:
        """Emit the loads, stores and comparisons of signed locals by their signed rules (:mod:`.signed`)."""
        if not signed:
            return
        self.signed = signed.loads | signed.stores | signed.compares
        self.signed_locals = signed.locals
        self.signed_plans = signed_plans(self.metered)
        used = {*self.views, VIEW_I32}
        if not signed.unsigned_view:
            used.discard(VIEW_U32)
        self.views = tuple(view for view in VIEWS if view in used)

    # ------------------------------------------------------------ instructions

    def emit_op(self, node: Op) -> None:
        """One instruction: by its method in :data:`_OP_HANDLERS`, else by its rule (:meth:`emit_rule`)."""
        handler = _OP_HANDLERS.get(node.op)
        if handler is None:
            self.emit_rule(node)
        else:
            handler(self, node)

    def emit_move(self, node: Op) -> None:
        """``local.get`` and the register moves: the value stays pending in its register."""
        self.define(target_name(node.outs[0]), self.operand(node.args[0]))

    def emit_local_set(self, node: Op) -> None:
        """``local.set``: the local is written now (older impure work first)."""
        target = node.outs[0]
        if self.scaled and type(target) is Loc and target.i in self.scaled:
            self.assign_index(target.i, self.operand(node.args[0]))
            return
        self.assign(target_name(target), self.operand(node.args[0]))

    def assign_index(self, i: int, x: X) -> None:
        """``local.set`` of a scaled local: its index is written (see :mod:`.scaled`)."""
        name, shift = self.scaled[i]
        value = const_int(x)
        text: str | None = str(value >> shift) if value is not None else \
            x.scaled.value_index(shift) if x.scaled is not None else None
        if text is None:  # the value's low ``shift`` bits are zero (the loop's known zero bits)
            text = f"{paren(as_value(x))} >> {shift}"
        self.assign(name, X(text, False, False, x.impure, x.reads, x.size + 1))

    def emit_global_get(self, node: Op) -> None:
        """``global.get``: an immutable global's value by name, a mutable one's read as impure."""
        mutable = self.view.global_mutable[node.imm]
        name = f"gb{node.imm}.v" if mutable else f"gv{node.imm}"
        self.define(target_name(node.outs[0]), X(name, impure=mutable))

    def emit_drop(self, node: Op) -> None:
        """``drop``: a pure value is forgotten, an impure one still runs as a statement."""
        x = self.operand(node.args[0])
        if x.impure:
            self.flush_impure()
            self.line(as_value(x).text)

    def emit_direct_call(self, node: Op) -> None:
        """``call`` of ``f{imm}``."""
        args = [self.operand(a) for a in node.args]
        self.emit_call(node, f"f{node.imm}", args, node.imm not in self.view.steady)

    def emit_rule(self, node: Op) -> None:
        """An instruction with a rule in :mod:`.exprs`, as its :class:`OpPlan` directs."""
        plan = self.plans[node.op] if not self.signed or id(node) not in self.signed else \
            self.signed_plans[node.op]
        rule = plan.rule
        operands = node.args
        args = list(map(self.operand, operands))  # in stack order: pending values are taken in order
        if plan.keep:
            for i, always in plan.keep:
                if always or args[i].impure:
                    self.materialize_arg(args, i, operands)
        elif plan.keep_all:  # a dynamic price reads every operand: all of them plain names
            for i in range(len(args)):
                self.materialize_arg(args, i, operands)
        if plan.value_first and args[0].impure and args[1].impure:  # m[a] = v evaluates v first
            address = args[0]
            args[0] = self.materialize(address, self.home(operands[0]))
            if address.align and args[0] is not address:  # the register holds the same value: its
                args[0] = X(args[0].text, reads=args[0].reads, align=address.align)  # known zero bits too
        if plan.eqz and (args[0].cond or as_value(args[0]).atomic):
            # ``not c`` tests a comparison directly (not ``(1 if c else 0) == 0``)
            x = condition(args[0]) if args[0].cond else as_value(args[0])
            self.define(target_name(node.outs[0]), X(f"not {paren(x)}", False, True, x.impure, x.reads,
                                                     x.size + 1))
            return
        if plan.select:
            args = [as_value(args[0]), as_value(args[1]), condition(truth(args[2]))]
        elif plan.loose:
            loose_at = plan.loose
            args = [loose(a) if i in loose_at else as_value(a) for i, a in enumerate(args)]
        else:
            args = [a if not (a.nan or a.cond or a.wrap) else as_value(a) for a in args]
        if plan.memory:
            self.uses_memory = True
        if plan.div:
            self.uses_div = True
        text = plan.build(args, node.imm)
        impure = rule.impure
        size = 1
        reads: frozenset[str] = _NO_READS
        for a in args:  # one pass (not three generators): this runs for most instructions
            impure = impure or a.impure
            size += a.size
            if a.reads:
                reads = reads | a.reads if reads else a.reads
        if plan.bulk:
            self.charge_bulk(args[-1], node.op)
        if plan.stmt:
            if impure:
                self.flush_impure()
            if "\n" in text:  # a store through a view may be an if/else pair
                for part in text.split("\n"):
                    self.line(part)
            else:
                self.line(text)
            return
        wrap, big = result_wrap(rule, args) if rule.wraps else (0, False)
        if plan.bound is not None:
            width, rule_bound = plan.bound
            bound = rule_bound(args, width)
            if bound > 1 << width:
                bound = 0
            elif bound:  # the exact result is the wasm value: no mask needed
                wrap, big = 0, False
        else:
            bound = 0
        align, scaled = 0, None
        if plan.zeros and self.views:
            consts = [const_int(a) for a in args] if plan.shift else ()
            align = result_zeros(node.op, [a.align for a in args], consts)
            if plan.scaling:
                scaled = _scaled(node.op, args)
        nan = result_nan(rule, args) if plan.nan else 0
        x = X(text, rule.atomic, rule.cond, impure, reads, size, wrap, big, bound, nan, align, scaled)
        if plan.grow:
            self.emit_grow(node, args, x)
            return
        self.define(target_name(node.outs[0]), x)

    def emit_grow(self, node: Op, args: list[X], x: X) -> None:
        """``memory.grow``/``table.grow``: charged first when metered; the views bound again after."""
        if self.metered:
            self.flush_impure()
            self.charge_grow(node, args)
            self.assign(target_name(node.outs[0]), x)
            if node.op is Opcode.MEMORY_GROW:
                self.bind_views()
            return
        if self.views and node.op is Opcode.MEMORY_GROW:
            self.assign(target_name(node.outs[0]), x)
            self.bind_views()
            return
        self.define(target_name(node.outs[0]), x)

    def materialize_arg(self, args: list[X], i: int, operands: tuple[Operand, ...]) -> None:
        """Write operand ``args[i]`` to its home, first writing out earlier operands that read that home.

        Operands taken for one instruction are no longer pending, so writing a
        register does not flush them: an earlier operand folded over a value
        materialized in that register (a division's divisor) would read the new one.
        """
        home = self.home(operands[i])
        for j in range(i):
            if home in args[j].reads:
                self.materialize_arg(args, j, operands)  # its own home may be read by an earlier one
        args[i] = self.materialize(args[i], home)

    def charge_bulk(self, count: X, op: Opcode) -> None:
        self.flush_impure()
        unit = TABLE_BULK_UNIT if op in _TABLE_BULK else BULK_UNIT
        units = f"({paren(count)} + {unit - 1}) // {unit}"
        price = units if BULK_UNIT_GAS == 1 else f"{BULK_UNIT_GAS} * {units}"
        self.line(f"{self.gas} -= {price}")
        self.line(f"if {self.gas} < 0: raise out_of_gas()")

    def charge_grow(self, node: Op, args: list[X]) -> None:
        """Charge a grow before it allocates: its price if it will be granted, else nothing."""
        target = "MEM" if node.op is Opcode.MEMORY_GROW else f"T{node.imm}"
        price = "memory_grow_gas" if node.op is Opcode.MEMORY_GROW else "table_grow_gas"
        self.line(f"{self.gas} -= {price}({target}, {args[-1].text})")
        self.line(f"if {self.gas} < 0: raise out_of_gas()")

    def emit_call(self, node: Op, callee: str, args: list[X], grows: bool = True) -> None:
        """Call ``callee``; its views are bound again after it unless it cannot grow memory (``grows``)."""
        views = self.views if grows else ()
        call = f"{callee}({', '.join([f'd - {self.units}', *(as_value(a).text for a in args)])})"
        reads = frozenset().union(*(a.reads for a in args), ("e",) if callee == "e.fn" else ())
        x = X(call, True, False, True, reads, 1 + sum(a.size for a in args))
        outs = node.outs
        if self.local_gas:
            self.flush_impure()
            self.sync_out()
            self.emit_call_result(outs, x)
            self.line(f"gas = {METER}")
            if views:
                self.bind_views()
        elif views:  # the call may grow memory: its result is written and the views bound again
            self.flush_impure()
            self.emit_call_result(outs, x)
            self.bind_views()
        elif len(outs) == 1:
            self.define(str(outs[0]), x)
        else:
            self.flush_impure()
            self.emit_call_result(outs, x)

    def bind_views(self) -> None:
        """Read the function's views from the memory again (a call or a grow may have replaced them)."""
        for view in self.views:
            self.line(f"{view.name} = MEM.{view.attr}")

    def sync_out(self) -> None:
        """``GAS = gas``, unless the line before just read it back (``gas = GAS``)."""
        if self.out and self.out[-1] == (self.ind, f"gas = {METER}"):
            self.out.pop()
        else:
            self.line(f"{METER} = gas")

    def emit_call_result(self, outs: tuple[Reg | Loc, ...], x: X) -> None:
        for out in outs:
            self.flush_reading(target_name(out))
        if not outs:
            self.line(x.text)
        elif len(outs) == 1:
            self.line(f"{target_name(outs[0])} = {x.text}")
        else:
            self.line(f"{', '.join(str(o) for o in outs)} = {x.text}")

    def emit_call_indirect(self, node: Op) -> None:
        type_index, table = node.imm
        sig = f"sig{type_index}"  # bound per instance (runtime.prepared): interned ids differ by process
        args = [self.operand(a) for a in node.args]
        self.flush_impure()
        for k in range(len(args) - 1):
            if args[k].impure:
                self.materialize_arg(args, k, node.args)
        args[-1] = as_value(args[-1])
        self.materialize_arg(args, len(args) - 1, node.args)
        params, index = args[:-1], args[-1]
        self.flush_reading("e")
        i = index.text
        self.line(f"e = t{table}[{i}] if {i} < len(t{table}) else None")
        self.line(f"if e is None or e.sig != {sig}: raise call_indirect_trap(t{table}, {i}, {sig})")
        self.emit_call(node, "e.fn", params)

    # ------------------------------------------------------------ branches

    def moves(self, label: Label, values: tuple[Operand, ...], xs: list[X] | None = None) -> None:
        """Assign the carried values to the label's registers (in parallel)."""
        if xs is None:
            xs = [self.operand(v) for v in values]
        pairs = [(dst, as_value(x)) for dst, x in zip(label_names(label), xs, strict=True) if dst != x.text]
        if not pairs:
            return
        targets = {dst for dst, _ in pairs}
        sequential = all(not (x.reads & targets) for _, x in pairs)
        if sequential or len(pairs) == 1:
            for dst, x in pairs:
                self.line(f"{dst} = {x.text}")
        else:
            self.line(f"{', '.join(d for d, _ in pairs)} = {', '.join(x.text for _, x in pairs)}")

    def emit_return(self, xs: list[X]) -> None:
        if self.local_gas:
            self.sync_out()
        values = [as_value(x).text for x in xs]
        if not values:
            self.line("return")
        elif len(values) == 1:
            self.line(f"return {values[0]}")
        else:
            self.line(f"return ({', '.join(values)})")

    def jump(self, label: Label, xs: list[X]) -> None:
        """Branch to ``label`` carrying ``xs`` (already evaluated operands)."""
        route = self.routes[label.id]
        if route.mode is Mode.FUNC:
            self.emit_return(xs)
            return
        self.moves(label, (), xs)
        if route.mode is Mode.IFCONV:
            return
        frame = route.frame
        assert frame is not None
        inner = self.frames[-1]
        if route.mode is Mode.STATE:
            if frame is inner and route.state == frame.exit_state:
                self.line("break")
                return
            self.line(f"lbl = {route.state}")
        if frame is inner:
            self.line("continue" if route.mode is Mode.STATE or frame.kind is FrameKind.LOOP else "break")
            return
        self.uses_br = True
        self.line(f"br = {frame.token}")
        self.line("break")
        for other in reversed(self.frames):
            if other is frame:
                break
            other.escapes.add(frame.token)

    def after_frame(self, frame: Frame) -> None:
        """The ``if br:`` test after a Python loop that inner branches may have left early."""
        if not frame.escapes:
            return
        parent = self.frames[-1] if self.frames else None
        assert parent is not None, "a branch escaped every frame"
        own = parent.token in frame.escapes
        others = frame.escapes - {parent.token}
        action = "break" if parent.kind is FrameKind.BLOCK else "continue"
        if own and not others:
            self.line("if br:")
            self.line("br = 0", self.ind + 1)
            self.line(action, self.ind + 1)
            return
        if own:
            self.line(f"if br == {parent.token}:")
            self.line("br = 0", self.ind + 1)
            self.line(action, self.ind + 1)
        self.line("if br:")
        self.line("break", self.ind + 1)
        parent.escapes |= others

    def branch_xs(self, values: tuple[Operand, ...]) -> list[X]:
        return [self.operand(v) for v in values]

    # ------------------------------------------------------------ sequences

    def emit_nodes(self, nodes: list[Node], ifconv: Label | None = None,
                   loop_tail: Label | None = None) -> bool:
        """Emit a node list at the current indentation; whether control falls off its end."""
        handlers, emit_rule = _OP_HANDLERS, self.emit_rule
        for i, node in enumerate(nodes):
            if type(node) is Op:  # most nodes: emit_op inlined
                handler = handlers.get(node.op)
                if handler is None:
                    emit_rule(node)
                else:
                    handler(self, node)
            elif type(node) is Gas:
                if self.metered:
                    self.emit_gas(node)
            elif type(node) is Block or type(node) is Loop:
                self.flush_all()
                if type(node) is Loop and self.views and self.refining < MAX_LOOP_NESTING:
                    if not self.emit_refined_loop(node, nodes, i):
                        return False
                elif not self.emit_construct(node):
                    return False
            elif type(node) is If:
                if not self.emit_construct(node):
                    return False
            elif type(node) is BrIf:
                if self.emit_br_if_in(node, nodes, i, ifconv, loop_tail):
                    return True
            elif type(node) is Switch:
                self.emit_switch(node)
                return False
            else:
                self.emit_terminal(node)
                return False
        self.flush_all()
        return True

    def emit_refined_loop(self, node: Loop, nodes: list[Node], i: int) -> bool:
        """The loop at ``nodes[i]``, its locals' zero bits refined for its body (``align.loop_zeros``),
        its aligned pointers held as view indexes when that pays (:mod:`.scaled`)."""
        zeros = self.local_zeros
        fresh = assigned_first(node.body)
        inner = loop_zeros(node, nodes, i, zeros, self.func, fresh)
        outer = {k: zeros.get(k, 0) for k, z in inner.items() if z != zeros.get(k, 0)}
        scaled: dict[int, int] = {}
        if self.as_frame(node):  # held in a ``while``, whose exits the write-backs follow
            entry: list[dict[int, int]] = []  # the run before the loop's facts, made if a fresh local asks

            def held(k: int) -> int:  # converted on entry too: a fresh local's entry value must be aligned
                z = inner.get(k, zeros.get(k, 0))
                if k not in fresh:
                    return z
                if not entry:
                    entry.append(entry_zeros(nodes, i, zeros))
                return min(z, entry[0].get(k, zeros.get(k, 0)))
            scaled = scaled_locals(node, held, self.func.locals, _Excluded(self.signed_locals, self.scaled))
        if not outer and not scaled:
            return self.emit_construct(node)
        if outer:
            self.set_zeros({k: inner[k] for k in outer})
            self.refining += 1
        try:
            if scaled:
                return self.emit_scaled_loop(node, scaled, {k: inner.get(k, zeros.get(k, 0)) for k in scaled})
            return self.emit_construct(node)
        finally:
            if outer:
                self.refining -= 1
                self.set_zeros(outer)

    def emit_scaled_loop(self, node: Loop, scaled: dict[int, int], zeros: dict[int, int]) -> bool:
        """The loop with locals ``scaled`` (local -> shift) held as view indexes (see :mod:`.scaled`).

        Each index is taken from its local before the ``while`` and written back
        after it, which every way out of the loop but a return or a trap passes.
        """
        exits = []
        for i, shift in scaled.items():
            name, local = index_name(i), loc_name(i)
            self.line(f"{name} = {local} >> {shift}")
            exits.append(f"{local} = {name} << {shift}")
            self.scaled[i] = (name, shift)
            self.plain[local] = X(f"({name} << {shift})", reads=frozenset((name,)),
                                  bound=self.local_bounds.get(i, 0), align=zeros[i],
                                  scaled=Scaled(name, shift, 0, 1 << (32 - shift)))
        try:
            return self.emit_frame(node, exits)
        finally:
            for i in scaled:
                del self.scaled[i]
                self.plain.pop(loc_name(i), None)

    def set_zeros(self, values: dict[int, int]) -> None:
        """Set these locals' known zero bits (in place); their own values are made again with them.

        A scaled local's value (its index, shifted) stays as it is: it already says what it knows.
        """
        zeros, plain, scaled = self.local_zeros, self.plain, self.scaled
        for i, z in values.items():
            if z:
                zeros[i] = z
            else:
                zeros.pop(i, None)
            if i not in scaled:
                plain.pop(loc_name(i), None)

    def emit_br_if_in(self, node: BrIf, nodes: list[Node], i: int, ifconv: Label | None,
                      loop_tail: Label | None) -> bool:
        """A ``br_if`` at ``nodes[i]``; whether it took the rest of the list (if-conversion, loop tail)."""
        if node.label is ifconv:
            self.emit_ifconv(node, nodes[i + 1:], ifconv)
            return True
        if node.label is loop_tail and self.loop_tail_ok(node) and _only_gas(nodes[i + 1:]):
            cond = self.cond_text(node.cond)
            self.line(f"if not {paren(cond)}:")
            self.line("break", self.ind + 1)
            self.tail_done = True
            return True
        self.emit_br_if(node)
        return False

    def loop_tail_ok(self, node: BrIf) -> bool:
        return all(dst == str(v) for dst, v in zip(label_names(node.label), node.values, strict=True))

    def emit_terminal(self, node: Node) -> None:
        if isinstance(node, Br):
            xs = self.branch_xs(node.values)
            self.drop_pure()
            self.jump(node.label, xs)
        elif isinstance(node, Return):
            xs = self.branch_xs(node.values)
            self.drop_pure()
            self.emit_return(xs)
        elif isinstance(node, BrTable):
            self.emit_br_table(node)
        elif isinstance(node, Unreachable):
            self.drop_pure()
            self.line("raise unreachable_trap()")

    def emit_gas(self, node: Gas) -> None:
        if not self.metered:
            return
        charge = self.charge
        if node.cost:
            out = self.out
            last = out[-1] if out else None
            if last is not None and last[0] == self.ind and last[1].startswith(charge):
                out[-1] = (self.ind, f"{charge}{int(last[1][len(charge):]) + node.cost}")
            else:
                out.append((self.ind, f"{charge}{node.cost}"))
        if node.check:
            self.out.append((self.ind, self.check))

    def cond_text(self, operand: Operand) -> X:
        """The operand as a condition (evaluated after everything still pending)."""
        cond = truth(self.operand(operand))
        self.flush_all()
        return cond

    def emit_br_if(self, node: BrIf) -> None:
        cond = self.cond_text(node.cond)
        self.line(f"if {cond.text}:")
        self.ind += 1
        self.jump(node.label, self.branch_xs(node.values))
        self.ind -= 1

    def emit_ifconv(self, node: BrIf, rest: list[Node], label: Label) -> None:
        """``br_if`` to the if-converted block around us: the rest of the block goes in ``else``."""
        cond = self.cond_text(node.cond)
        mark = len(self.out)
        self.line(f"if {cond.text}:")
        self.ind += 1
        self.moves(label, node.values)
        moved = len(self.out) > mark + 1
        self.ind -= 1
        if not moved:
            del self.out[mark:]
            self.line(f"if not {paren(cond)}:")
        else:
            self.line("else:")
        self.ind += 1
        body_mark = len(self.out)
        self.emit_nodes(rest, label)
        if len(self.out) == body_mark:
            if moved:
                self.out.pop()  # the "else:"
            else:
                self.line("pass")
        self.ind -= 1

    def emit_br_table(self, node: BrTable) -> None:
        index = self.operand(node.index)
        self.flush_all()
        xs = [self.materialize(self.operand(v), self.home(v)) for v in node.values]
        index = self.materialize(as_value(index), self.home(node.index))
        runs = ranges(node.labels, node.default)
        if isinstance(node.index, Const):
            value = int(node.index.value)
            target = node.labels[value] if value < len(node.labels) else node.default
            self.jump(target, xs)
            return
        if self.table_dispatch(node, runs, index, xs):
            return
        targets = list({id(label): label for _, label in runs}.values())
        if node.values and len(runs) > len(targets):
            # each target's moves once: map the entries to target numbers, then a tree over targets
            index = self.target_index(node, targets, index)
            runs = list(enumerate(targets))
        self.br_tree(runs, 0, len(runs), index.text, xs)

    def target_index(self, node: BrTable, targets: list[Label], index: X) -> X:
        """A fresh name holding the number (in ``targets``) of the label ``index`` selects."""
        number = {id(label): k for k, label in enumerate(targets)}
        table = ", ".join(str(number[id(label)]) for label in node.labels)
        self.temps += 1
        mapped, i = f"t{self.temps}", index.text
        self.line(f"{mapped} = ({table},)[{i}] if {i} < {len(node.labels)} else {number[id(node.default)]}")
        return X(mapped, reads=frozenset((mapped,)))

    def table_dispatch(self, node: BrTable, runs: list[tuple[int, Label]], index: X, xs: list[X]) -> bool:
        """A jump table straight to states of the innermost state machine, when nothing moves."""
        if len(runs) < 4 or not self.frames:
            return False
        inner = self.frames[-1]
        states: list[int] = []
        for label in (*node.labels, node.default):
            route = self.routes[label.id]
            if route.mode is not Mode.STATE or route.frame is not inner:
                return False
            if any(dst != x.text for dst, x in zip(label_names(label), xs, strict=True)):
                return False
            states.append(route.state)
        table = ", ".join(str(s) for s in states[:-1])
        i = index.text
        self.line(f"lbl = ({table},)[{i}] if {i} < {len(states) - 1} else {states[-1]}")
        self.line("continue")
        return True

    def br_tree(self, runs: list[tuple[int, Label]], lo: int, hi: int, index: str, xs: list[X]) -> None:
        if hi - lo == 1:
            self.jump(runs[lo][1], xs)
            return
        mid = (lo + hi) // 2
        self.line(f"if {index} < {runs[mid][0]}:")
        self.ind += 1
        self.br_tree(runs, lo, mid, index, xs)
        self.ind -= 1
        self.line("else:")
        self.ind += 1
        self.br_tree(runs, mid, hi, index, xs)
        self.ind -= 1

    # ------------------------------------------------------------ switches

    def switch_index(self, node: Switch) -> X:
        """The switch's index as a plain name, evaluated after everything pending."""
        index = as_value(self.operand(node.index))
        self.flush_all()
        return self.materialize(index, self.home(node.index))

    def emit_switch(self, node: Switch) -> None:
        if isinstance(node.index, Const):
            value = int(node.index.value)
            case = node.table[value] if value < len(node.table) else node.default
            self.emit_nodes(node.cases[case])
            return
        index = self.switch_index(node)
        runs = switch_runs(node)
        if len(runs) > len(node.cases):  # a case serves several runs: map entries to cases first
            # into a fresh name: the index may be a local the cases read again
            table = ", ".join(str(c) for c in node.table)
            self.temps += 1
            mapped = f"t{self.temps}"
            self.assign(mapped, X(f"({table},)[{index.text}] if {index.text} < {len(node.table)} "
                                  f"else {node.default}", False))
            index = X(mapped, reads=frozenset((mapped,)))
            runs = [(number, number) for number in range(len(node.cases))]
        self.case_tree(node, runs, 0, len(runs), index.text)

    def case_tree(self, node: Switch, runs: list[tuple[int, int]], lo: int, hi: int, index: str) -> None:
        if hi - lo == 1:
            if self.emit_nodes(node.cases[runs[lo][1]]):
                self.line("pass")  # never reached: cases end in branches
            return
        mid = (lo + hi) // 2
        self.line(f"if {index} < {runs[mid][0]}:")
        self.ind += 1
        self.case_tree(node, runs, lo, mid, index)
        self.ind -= 1
        self.line("else:")
        self.ind += 1
        self.case_tree(node, runs, mid, hi, index)
        self.ind -= 1

    # ------------------------------------------------------------ structured constructs

    def emit_construct(self, node: Block | Loop | If, force_flat: bool = False) -> bool:
        if force_flat or not self.analysis.of(node).fits(self.loops, self.ind):
            if isinstance(node, Block | Loop) and not node.label.branches:
                return self.emit_nodes(node.body)
            return emit_states(self, node)
        if isinstance(node, If):
            return self.emit_if(node)
        if not node.label.branches:
            return self.emit_nodes(node.body)
        if isinstance(node, Block) and ifconv_ok(node):
            self.routes[node.label.id] = Route(Mode.IFCONV)
            self.emit_nodes(node.body, node.label)
            return True
        return self.emit_frame(node)

    def as_frame(self, node: Loop) -> bool:
        """Whether :meth:`emit_construct` emits the loop as a Python ``while`` (:meth:`emit_frame`)."""
        return bool(node.label.branches) and self.analysis.of(node).fits(self.loops, self.ind)

    def new_frame(self, kind: FrameKind) -> Frame:
        self.tokens += 1
        return Frame(kind, self.tokens)

    def emit_frame(self, node: Block | Loop, exits: list[str] | None = None) -> bool:
        """``node`` as a ``while True:`` frame; ``exits``: statements run after it, before its br tests."""
        is_loop = isinstance(node, Loop)
        frame = self.new_frame(FrameKind.LOOP if is_loop else FrameKind.BLOCK)
        self.routes[node.label.id] = Route(Mode.FRAME, frame)
        self.line("while True:")
        self.frames.append(frame)
        self.ind += 1
        self.loops += 1
        self.tail_done = False
        falls = self.emit_nodes(node.body, loop_tail=node.label if is_loop else None)
        if falls and not self.tail_done:
            self.line("break")
        self.tail_done = False
        self.loops -= 1
        self.ind -= 1
        self.frames.pop()
        for text in exits or ():
            self.line(text)
        self.after_frame(frame)
        return not is_loop or falls

    def emit_if(self, node: If) -> bool:
        cond = self.cond_text(node.cond)
        mark = len(self.out)
        self.line(f"if {cond.text}:")
        self.ind += 1
        then_falls = self.emit_nodes(node.then)
        then_empty = len(self.out) == mark + 1
        self.ind -= 1
        else_mark = len(self.out)
        self.line("else:")
        self.ind += 1
        else_falls = self.emit_nodes(node.orelse)
        else_empty = len(self.out) == else_mark + 1
        self.ind -= 1
        if else_empty:
            del self.out[else_mark:]
            if then_empty:
                self.line("pass", self.ind + 1)
        elif then_empty:
            else_lines = self.out[else_mark + 1:]
            del self.out[mark:]
            self.line(f"if not {paren(cond)}:")
            self.out.extend(else_lines)
        return then_falls or else_falls

    # ------------------------------------------------------------ state machines

_OP_HANDLERS: dict[Opcode, Callable[[FunctionEmitter, Op], None]] = {
    Opcode.LOCAL_SET: FunctionEmitter.emit_local_set,
    Opcode.GLOBAL_GET: FunctionEmitter.emit_global_get,
    Opcode.DROP: FunctionEmitter.emit_drop,
    Opcode.CALL: FunctionEmitter.emit_direct_call,
    Opcode.CALL_INDIRECT: FunctionEmitter.emit_call_indirect,
    **dict.fromkeys(_MOVES, FunctionEmitter.emit_move),
}
"""The instructions without a rule in :mod:`.exprs`, by their emitter method (any other: ``emit_rule``)."""


def label_names(label: Label) -> list[str]:
    """The names of the label's registers (``str`` of ``label.regs``, without making the registers)."""
    base = label.base
    return [reg_name(base + i) for i in range(label.arity)]


def _only_gas(nodes: list[Node]) -> bool:
    """Whether the nodes are only empty gas blocks (no code in either variant)."""
    return all(isinstance(n, Gas) and not n.cost and not n.check for n in nodes)


_USES_MEMORY = frozenset(
    {op for op, info in OPS.items() if info.imm is Imm.MEMARG}
    | {Opcode.MEMORY_SIZE, Opcode.MEMORY_GROW, Opcode.MEMORY_FILL, Opcode.MEMORY_COPY, Opcode.MEMORY_INIT}
)


_SCALING = frozenset({Opcode.I32_SHL, Opcode.I32_ADD, Opcode.I32_SUB})


@dataclass(frozen=True, slots=True)
class OpPlan:
    """What :meth:`FunctionEmitter.emit_rule` decides from the opcode alone, decided once per opcode.

    The rule's operand sets become the checks the emitter runs per
    instruction (which operands to write to plain names, which to take
    unmasked), and the opcode's memberships in the emitter's sets become flags.
    """

    rule: Rule
    build: Callable[[list[X], object], str]
    keep: tuple[tuple[int, bool], ...]  # operands to make plain names: (index, always, or only when impure)
    keep_all: bool  # metered dynamic price: every operand a plain name
    loose: frozenset[int]  # operands taken unmasked
    value_first: bool
    eqz: bool
    select: bool
    memory: bool  # the function touches memory
    div: bool  # an inlined division: ZeroDivisionError is a trap
    bulk: bool  # metered bulk instruction: charged by its count
    stmt: bool
    bound: tuple[int, BoundRule] | None  # see ``exprs.result_bound``
    zeros: bool  # keeps known zero low bits (see :mod:`.align`)
    shift: bool  # ... depending on a constant shift count
    scaling: bool  # may make a :class:`~.exprs.Scaled` address
    nan: bool  # the result's NaN state depends on the rule (see ``exprs.result_nan``)
    grow: bool  # memory.grow / table.grow


def _plan(op: Opcode, rule: Rule, metered: bool) -> OpPlan:
    priced = metered and op in _PRICED
    if priced and (rule.dup or rule.lazy):
        raise AssertionError(f"{op.name}: a priced instruction's operands are all plain names")
    return OpPlan(
        rule=rule,
        build=rule.build,
        keep=() if priced else tuple((i, i in rule.dup or i not in rule.lazy)
                                     for i in sorted({*rule.dup, *rule.lazy})),
        keep_all=priced,
        loose=frozenset(rule.loose),
        value_first=rule.value_first,
        eqz=op in (Opcode.I32_EQZ, Opcode.I64_EQZ),
        select=op in (Opcode.SELECT, Opcode.SELECT_T),
        memory=op in _USES_MEMORY,
        div=op in (Opcode.I32_DIV_U, Opcode.I32_REM_U, Opcode.I64_DIV_U, Opcode.I64_REM_U),
        bulk=metered and op in _BULK,
        stmt=rule.stmt,
        bound=BOUND_RULES.get(op),
        zeros=op in ZERO_OPS,
        shift=op in SHIFTS,
        scaling=op in _SCALING,
        nan=rule.nan or bool(rule.nan_from),
        grow=op in _GROW,
    )


_PLANS: dict[tuple[bool, bool], dict[Opcode, OpPlan]] = {}
_SIGNED_PLANS: dict[bool, dict[Opcode, OpPlan]] = {}


def signed_plans(metered: bool) -> dict[Opcode, OpPlan]:
    """Opcode -> the plan of its :data:`~.exprs.SIGNED_RULES` rule (made once per process and variant)."""
    plans = _SIGNED_PLANS.get(metered)
    if plans is None:
        plans = _SIGNED_PLANS[metered] = {op: _plan(op, rule, metered) for op, rule in SIGNED_RULES.items()}
    return plans


def op_plans(canonical_nans: bool, metered: bool) -> dict[Opcode, OpPlan]:
    """Opcode -> its :class:`OpPlan` for one float semantics and variant (made once per process)."""
    plans = _PLANS.get((canonical_nans, metered))
    if plans is None:
        rules = rules_for(canonical_nans)
        plans = _PLANS[canonical_nans, metered] = {op: _plan(op, rule, metered) for op, rule in rules.items()}
    return plans


def _scaled(op: Opcode, args: list[X]) -> Scaled | None:
    """What a shift by a constant, or a constant added to or taken from a scaled value, makes known."""
    a, b = args
    if op is Opcode.I32_SHL:
        k = const_int(b)
        return Scaled(paren(a), k & 31, 0, a.bound) if k is not None and 2 <= k & 31 <= 3 else None
    if b.scaled is not None and op is Opcode.I32_ADD:
        a, b = b, a
    if a.scaled is None:  # most sums: nothing scaled, the constant need not be parsed
        return None
    c = const_int(b)
    if c is None:
        return None
    if op is Opcode.I32_SUB:
        c = -c
    return Scaled(a.scaled.base, a.scaled.shift, (a.scaled.add + c) & 0xFFFFFFFF, a.scaled.bound)


def _views_used(nodes: list[Node]) -> tuple[View, ...]:
    """The memory views the function's aligned accesses use, in :data:`~.exprs.VIEWS` order."""
    used: set[View] = set()
    view_ops = VIEW_OPS
    stack = [nodes]
    while stack:
        for node in stack.pop():
            if type(node) is Op:
                view = view_ops.get(node.op)
                if view is not None:
                    used.add(view)
            elif type(node) is Block or type(node) is Loop:
                stack.append(node.body)
            elif type(node) is If:
                stack.append(node.then)
                stack.append(node.orelse)
            elif type(node) is Switch:
                stack.extend(node.cases)
    return tuple(view for view in VIEWS if view in used)


def _views_of(ops: frozenset[Opcode]) -> tuple[View, ...]:
    """The memory views instructions ``ops`` use, in :data:`~.exprs.VIEWS` order (as :func:`_views_used`)."""
    used = {VIEW_OPS.get(op) for op in ops}
    return tuple(view for view in VIEWS if view in used)


@dataclass(frozen=True, slots=True)
class _Excluded:
    """The locals a loop may not scale: signed ones, and those an enclosing loop scales (no copy made)."""

    signed: frozenset[int]
    scaled: dict[int, tuple[str, int]]

    def __contains__(self, i: object) -> bool:
        return i in self.signed or i in self.scaled


Segment = tuple[list[Line], int]
"""Lines of the source and the indentation added to each when rendered (so the body is never copied)."""


class _Indents(dict[int, str]):
    """Indentation strings by level, each made once."""

    def __missing__(self, level: int) -> str:
        text = self[level] = "    " * level
        return text


_INDENTS = _Indents()


def _render(segments: list[Segment]) -> str:
    """The source text of ``segments``, one line each, ending in a newline."""
    indents = _INDENTS
    parts: list[str] = []
    for lines, shift in segments:
        if shift:
            parts += [indents[ind + shift] + text for ind, text in lines]
        else:
            parts += [indents[ind] + text for ind, text in lines]
    parts.append("")  # the final newline
    return "\n".join(parts)


def _header(func: IRFunction, em: FunctionEmitter, body: list[Line]) -> list[Segment]:
    """The ``def`` line, depth check, locals, bindings and the body's ``try``, around ``body``."""
    params = ", ".join(["d", *(f"l{i}" for i in range(func.nparams))])
    ftype = func.type
    lines: list[Line] = [
        (0, f"# wasm function {func.index}: {ftype}, {len(func.locals) - func.nparams} locals, "
            f"stack {func.max_height}"),
        (0, f"def f{func.index}({params}):"),
    ]
    if em.metered:
        lines.append((1, f"nonlocal {METER}"))
    lines.append((1, "if not d: raise stack_exhausted()" if em.units == 1
                  else f"if d < {em.units}: raise stack_exhausted()"))
    by_zero: dict[str, list[str]] = {}
    for i in range(func.nparams, len(func.locals)):
        by_zero.setdefault(_ZEROS[func.locals[i]], []).append(f"l{i}")
    for zero, names in by_zero.items():
        for start in range(0, len(names), 32):
            lines.append((1, " = ".join(names[start:start + 32]) + f" = {zero}"))
    if em.uses_br:
        lines.append((1, "br = 0"))
    if em.uses_memory:
        lines.append((1, "m = M"))
        lines.extend((1, f"{view.name} = MEM.{view.attr}") for view in em.views)
    if em.local_gas:
        entry = body[0][1] if body and body[0][0] == 2 and body[0][1].startswith("gas -= ") else None
        if entry is not None:
            body = body[1:]
            lines.append((1, f"gas = {METER} - {entry[7:]}"))
        else:
            lines.append((1, f"gas = {METER}"))
    handlers: list[tuple[str, str]] = []
    if em.uses_memory:
        handlers.append(("MEMORY_ERRORS", "out_of_bounds_trap"))
    if em.uses_div:
        handlers.append(("ZeroDivisionError", "divide_by_zero_trap"))
    if not handlers and not em.local_gas:
        return [(lines, 0), (body, -1)]
    lines.append((1, "try:"))
    tail: list[Line] = []
    for exc, trap in handlers:
        tail.append((1, f"except {exc}:"))
        if em.local_gas:
            tail.append((2, f"if gas < {METER}: {METER} = gas"))
        tail.append((2, f"raise {trap}() from None"))
    if em.local_gas:
        tail.append((1, "except BaseException:"))
        tail.append((2, f"if gas < {METER}: {METER} = gas"))
        tail.append((2, "raise"))
    return [(lines, 0), (body, 0), (tail, 0)]


def _closure_maker(index: int, segments: list[Segment]) -> list[Segment]:
    """Nest a metered ``def f{index}`` in a maker that makes ``GAS`` its closure variable."""
    (first, shift), *rest = segments
    comment, *head = first  # the comment stays above the maker
    maker = [
        comment,
        (0, f"def {MAKER_PREFIX}{index}():"),
        (1, f"global f{index}"),  # recursion calls the global f{index}
        (1, f"{METER} = 0"),
    ]
    return [
        (maker, 0),
        (head, shift + 1),
        *((lines, added + 1) for lines, added in rest),
        ([(1, f"return f{index}")], 0),
    ]


def prepare(func: IRFunction) -> None:
    """Reshape the register form for emission: switches, return threading, gas blocks.

    Switch ladders end in a ``br_table``: without one (as lowering recorded) there is none.
    """
    if func.tables is not False:
        rewrite_switches(func.body)
    thread_returns(func.body, merge=True)  # and merge_gas
    sink_gas(func.body)


def entry_price(func: IRFunction) -> int:
    """What a direct call to ``func`` pays for it at the call site (see :mod:`.direct`)."""
    prepare(func)
    return take_entry(func.body)


def emit_function(func: IRFunction, view: ModuleView, metered: bool,
                  prepay: Prepay | None = None, canonical_nans: bool = False,
                  prepared: bool = False) -> EmitResult:
    """The Python source of one function (``def f{index}``) and its float constants.

    ``canonical_nans``: the engine option of that name (see ``exprs.canonical_rules``).

    ``prepay`` (metered only) gives the entry price of each direct function
    (None for the others); this function, when direct, leaves its entry to
    its callers, and its calls to direct functions pay their entry prices.
    ``prepared``: ``func`` comes from :func:`entry_price` (reshaped, its entry
    already taken), so neither is done again.
    """
    if not prepared:
        prepare(func)
    if metered and prepay is not None:
        if prepay(func.index) is not None and not prepared:
            take_entry(func.body)
        if func.calls is not False:  # (None: not known)
            charge_calls(func.body, prepay)
    em = FunctionEmitter(func, view, metered, canonical_nans)
    if em.emit_nodes(func.body):
        em.emit_return([])
    segments = _header(func, em, em.out)
    if metered:
        segments = _closure_maker(func.index, segments)
    source = _render(segments)
    return EmitResult(source, em.constants)


__all__ = ["MAKER_PREFIX", "METER", "EmitResult", "ModuleView", "Need", "emit_function", "entry_price"]
