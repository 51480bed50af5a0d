"""Emission: the register form -> the Python source of one ``def`` per function.

Theory of operation
-------------------
*Straight-line code.* Registers are Python locals, but most are read exactly
once, right after they are written, so the emitter folds them: a register's
expression stays *pending* until its single use, where it is inlined
(``l2 = (l0 + l1) & 0xffffffff`` rather than ``s0 = l0; s1 = l1; ...``). A
pending expression is written to its register instead (*flushed*) when
something it reads is about to be assigned, at every control node (joins need
real registers), or when it grows too big. Expressions that are impure (read
memory or globals, may trap, call) keep their relative order: at most one is
pending at a time, and statements with effects flush it first.

*Control.* :mod:`.structure` decides the shape of each construct: structured
``while``/``if`` where CPython's nesting limits allow, a state machine where
they do not. Branches are resolved through a stack of Python loop *frames*
(see :class:`Frame`): the owner of the target label is either the innermost
frame (``break``/``continue``/``lbl = k; continue``) or an outer one (``br =
token; break``, tested after each loop). Branch values move into the target
label's registers by a (parallel) assignment first.

*Function shape.* ``def f7(d, l0, l1):`` takes the remaining call depth ``d``
and the parameters; it returns None, one value or a tuple. It begins with the
depth check, zeroes its declared locals, binds the memory's ``bytearray`` to
``m`` when it touches memory, and wraps the body in one ``try`` that turns
``IndexError``/``struct.error`` (memory bounds, detected by the access
itself) and ``ZeroDivisionError`` (inlined unsigned division) into traps. The
metered variant keeps the remaining gas in the local ``gas`` (charged per gas
block, checked at entry and loop headers) and syncs it with the instance's
``GAS`` around calls, at returns and when an exception leaves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from ..opcodes import BULK_UNIT, BULK_UNIT_GAS, OPS, Imm, Opcode
from ..types import FuncType, ValType
from .exprs import RULES, X, as_value, condition, const_text, paren
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
)
from .lower import MOVE_OPS
from .structure import Analysis, Need, ifconv_ok, ranges, tree_depth

MAX_FOLD = 12  # operations one folded expression may hold
_MOVES = frozenset({Opcode.LOCAL_GET, *MOVE_OPS.values()})
_BULK = frozenset({Opcode.MEMORY_FILL, Opcode.MEMORY_COPY, Opcode.MEMORY_INIT, Opcode.TABLE_FILL,
                   Opcode.TABLE_COPY, Opcode.TABLE_INIT})
_ZEROS: dict[ValType, str] = {
    ValType.I32: "0", ValType.I64: "0", ValType.F32: "0.0", ValType.F64: "0.0",
    ValType.FUNCREF: "None", ValType.EXTERNREF: "None",
}
_GROW = frozenset({Opcode.MEMORY_GROW, Opcode.TABLE_GROW})


@dataclass(frozen=True, slots=True)
class ModuleView:
    """What emission needs to know about the module: types of calls, globals, signatures."""

    func_types: tuple[FuncType, ...]
    types: tuple[FuncType, ...]
    global_mutable: tuple[bool, ...]
    type_sigs: tuple[int, ...]  # interned signature id of each type index


class FrameKind(IntEnum):
    """The Python loops the emitter opens."""

    BLOCK = 1  # while True: ... break       (branch to it: break)
    LOOP = 2  # while True: ...             (branch to it: continue)
    STATES = 3  # while True: dispatch on lbl (branch to a state: lbl = k; continue)


@dataclass(eq=False, slots=True)
class Frame:
    """An open Python loop; ``escapes`` are tokens of outer frames branched to from inside."""

    kind: FrameKind
    token: int
    escapes: set[int] = field(default_factory=set)
    exit_state: int = -1


class Mode(IntEnum):
    """How a branch reaches a label."""

    FUNC = 0  # return
    IFCONV = 1  # falls to the end of an if-converted block
    FRAME = 2  # the frame's own action (break / continue)
    STATE = 3  # lbl = state; continue in the frame


@dataclass(slots=True)
class Route:
    mode: Mode
    frame: Frame | None = None
    state: int = -1


Line = tuple[int, str]


@dataclass(slots=True)
class EmitResult:
    """One function's source and what its namespace must provide."""

    source: str
    constants: dict[str, float]


class FunctionEmitter:
    """Emits one function; use :func:`emit_function`."""

    def __init__(self, func: IRFunction, view: ModuleView, metered: bool) -> None:
        self.func = func
        self.view = view
        self.metered = metered
        self.analysis = Analysis()
        self.out: list[Line] = []
        self.ind = 2
        self.loops = 1  # the try block
        self.frames: list[Frame] = []
        self.routes: dict[int, Route] = {func.func_label.id: Route(Mode.FUNC)}
        self.pending: dict[str, X] = {}
        self.tokens = 0
        self.constants: dict[str, float] = {}
        self.uses_br = False
        self.uses_memory = False
        self.uses_div = False
        self.temps = 0
        self.tail_done = False

    # ------------------------------------------------------------ lines

    def line(self, text: str, ind: int | None = None) -> None:
        self.out.append((self.ind if ind is None else ind, text))

    def _terminal(self) -> bool:
        """Whether the last emitted line ends control flow at the current level."""
        if not self.out:
            return False
        ind, text = self.out[-1]
        return ind == self.ind and text.startswith(("return", "raise", "break", "continue"))

    # ------------------------------------------------------------ operands and folding

    def operand(self, operand: Operand) -> X:
        if isinstance(operand, Reg):
            name = f"s{operand.h}"
            pending = self.pending.pop(name, None)
            return pending if pending is not None else X(name, reads=frozenset((name,)))
        if isinstance(operand, Loc):
            name = f"l{operand.i}"
            return X(name, reads=frozenset((name,)))
        return self.constant(operand)

    def constant(self, const: Const) -> X:
        x = const_text(const)
        if x.text.startswith("kf"):
            self.constants[x.text] = float(const.value)
        return x

    def assign(self, target: str, x: X) -> None:
        """Emit ``target = x`` after flushing whatever still reads the old ``target``."""
        self.flush_reading(target)
        x = as_value(x)
        if x.text != target:
            self.line(f"{target} = {x.text}")

    def flush_reading(self, name: str) -> None:
        for reg in [r for r, x in self.pending.items() if name in x.reads]:
            x = self.pending.pop(reg, None)
            if x is not None:
                self.assign(reg, x)

    def flush_impure(self) -> None:
        for reg in [r for r, x in self.pending.items() if x.impure]:
            x = self.pending.pop(reg, None)
            if x is not None:
                self.assign(reg, x)

    def flush_all(self) -> None:
        while self.pending:
            reg = next(iter(self.pending))
            self.assign(reg, self.pending.pop(reg))

    def drop_pure(self) -> None:
        """Forget pending values a branch discards; impure ones still run."""
        self.flush_impure()
        self.pending.clear()

    def define(self, reg: str, x: X) -> None:
        """``reg`` now holds ``x``: keep it pending for its single use, or write it."""
        if x.impure:
            self.flush_impure()
        if x.size > MAX_FOLD:
            self.assign(reg, x)
        else:
            self.pending[reg] = x

    def materialize(self, x: X, home: str) -> X:
        """``x`` as a plain name (writing it to ``home`` if it is an expression)."""
        if x.atomic and not x.cond and not x.impure and x.size == 1:
            return x
        self.assign(home, x)
        return X(home, reads=frozenset((home,)))

    def _home(self, operand: Operand) -> str:
        if isinstance(operand, Reg):
            return f"s{operand.h}"
        self.temps += 1
        return f"t{self.temps}"

    # ------------------------------------------------------------ instructions

    def emit_op(self, node: Op) -> None:
        op = node.op
        if op in _MOVES:
            x = self.operand(node.args[0])
            self.define(str(node.outs[0]), x)
        elif op is Opcode.LOCAL_SET:
            self.assign(str(node.outs[0]), self.operand(node.args[0]))
        elif op is Opcode.GLOBAL_GET:
            mutable = self.view.global_mutable[node.imm]
            name = f"gb{node.imm}.v" if mutable else f"gv{node.imm}"
            self.define(str(node.outs[0]), X(name, impure=mutable))
        elif op is Opcode.DROP:
            x = self.operand(node.args[0])
            if x.impure:
                self.flush_impure()
                self.line(as_value(x).text)
        elif op is Opcode.CALL:
            args = [self.operand(a) for a in node.args]
            self.emit_call(node, f"f{node.imm}", args)
        elif op is Opcode.CALL_INDIRECT:
            self.emit_call_indirect(node)
        else:
            self.emit_rule(node)

    def emit_rule(self, node: Op) -> None:
        rule = RULES[node.op]
        args = [self.operand(a) for a in node.args]
        if rule.dup or rule.lazy or (self.metered and node.op in _BULK | _GROW):
            keep = set(rule.dup) | set(rule.lazy)
            if self.metered and node.op in _BULK | _GROW:
                keep = set(range(len(args)))
            for i in sorted(keep):
                if i in rule.dup or args[i].impure or i not in rule.lazy:
                    args[i] = self.materialize(args[i], self._home(node.args[i]))
        if node.op in (Opcode.SELECT, Opcode.SELECT_T):
            args = [as_value(args[0]), as_value(args[1]), condition(args[2])]
        else:
            args = [as_value(a) for a in args]
        if node.op in (Opcode.I32_EQZ, Opcode.I64_EQZ) and args[0].cond:
            x = args[0]
            self.define(str(node.outs[0]), X(f"not {paren(x)}", False, True, x.impure, x.reads, x.size + 1))
            return
        if node.op in _USES_MEMORY:
            self.uses_memory = True
        if node.op in (Opcode.I32_DIV_U, Opcode.I32_REM_U, Opcode.I64_DIV_U, Opcode.I64_REM_U):
            self.uses_div = True
        text = rule.build(args, node.imm)
        impure = rule.impure or any(a.impure for a in args)
        if self.metered and node.op in _BULK:
            self.charge_bulk(args[-1])
        if rule.stmt:
            if impure:
                self.flush_impure()
            self.line(text)
            return
        reads = frozenset().union(*(a.reads for a in args))
        x = X(text, rule.atomic, rule.cond, impure, reads, 1 + sum(a.size for a in args))
        if self.metered and node.op in _GROW:
            self.flush_impure()
            self.assign(str(node.outs[0]), x)
            self.charge_grow(node, args)
            return
        self.define(str(node.outs[0]), x)

    def charge_bulk(self, count: X) -> None:
        self.flush_impure()
        units = f"({paren(count)} + {BULK_UNIT - 1}) // {BULK_UNIT}"
        self.line(f"gas -= {units}" if BULK_UNIT_GAS == 1 else f"gas -= {BULK_UNIT_GAS} * {units}")
        self.line("if gas < 0: raise out_of_gas()")

    def charge_grow(self, node: Op, args: list[X]) -> None:
        result = str(node.outs[0])
        count = args[-1].text
        unit = "grow_page_gas" if node.op is Opcode.MEMORY_GROW else "grow_elems_gas"
        self.line(f"if {result} != 0xffffffff: gas -= {unit}({count})")

    def emit_call(self, node: Op, callee: str, args: list[X]) -> None:
        call = f"{callee}({', '.join(['d - 1', *(as_value(a).text for a in args)])})"
        reads = frozenset().union(*(a.reads for a in args), ("e",) if callee == "e.fn" else ())
        x = X(call, True, False, True, reads, 1 + sum(a.size for a in args))
        outs = node.outs
        if self.metered:
            self.flush_impure()
            self.line("GAS = gas")
            self.emit_call_result(outs, x)
            self.line("gas = GAS")
        elif len(outs) == 1:
            self.define(str(outs[0]), x)
        else:
            self.flush_impure()
            self.emit_call_result(outs, x)

    def emit_call_result(self, outs: tuple[Reg | Loc, ...], x: X) -> None:
        for out in outs:
            self.flush_reading(str(out))
        if not outs:
            self.line(x.text)
        elif len(outs) == 1:
            self.line(f"{outs[0]} = {x.text}")
        else:
            self.line(f"{', '.join(str(o) for o in outs)} = {x.text}")

    def emit_call_indirect(self, node: Op) -> None:
        type_index, table = node.imm
        sig = self.view.type_sigs[type_index]
        args = [self.operand(a) for a in node.args]
        self.flush_impure()
        index = self.materialize(as_value(args[-1]), self._home(node.args[-1]))
        params = [a if not a.impure else self.materialize(a, self._home(o))
                  for a, o in zip(args[:-1], node.args[:-1], strict=True)]
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
        pairs = [(str(dst), as_value(x)) for dst, x in zip(label.regs, xs, strict=True) if str(dst) != x.text]
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
        if self.metered:
            self.line("GAS = gas")
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
        for i, node in enumerate(nodes):
            if isinstance(node, Op):
                self.emit_op(node)
            elif isinstance(node, Gas):
                self.emit_gas(node)
            elif isinstance(node, Block | Loop | If):
                if not isinstance(node, If):
                    self.flush_all()
                if not self.emit_construct(node):
                    return False
            elif isinstance(node, BrIf):
                if node.label is ifconv:
                    self.emit_ifconv(node, nodes[i + 1:], ifconv)
                    return True
                if node.label is loop_tail and i == len(nodes) - 1 and self.loop_tail_ok(node):
                    cond = self.cond_text(node.cond)
                    self.line(f"if not {paren(cond)}:")
                    self.line("break", self.ind + 1)
                    self.tail_done = True
                    return True
                self.emit_br_if(node)
            else:
                self.emit_terminal(node)
                return False
        self.flush_all()
        return True

    def loop_tail_ok(self, node: BrIf) -> bool:
        return all(str(dst) == str(v) for dst, v in zip(node.label.regs, node.values, strict=True))

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
        if node.cost:
            self.line(f"gas -= {node.cost}")
        if node.check:
            self.line("if gas < 0: raise out_of_gas()")

    def cond_text(self, operand: Operand) -> X:
        cond = self.operand(operand)
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
        xs = [self.materialize(self.operand(v), self._home(v)) for v in node.values]
        index = self.materialize(as_value(index), self._home(node.index))
        runs = ranges(node.labels, node.default)
        if isinstance(node.index, Const):
            value = int(node.index.value)
            target = node.labels[value] if value < len(node.labels) else node.default
            self.jump(target, xs)
            return
        if self.table_dispatch(node, runs, index, xs):
            return
        self.br_tree(runs, 0, len(runs), index.text, xs)

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
            if any(str(dst) != x.text for dst, x in zip(label.regs, xs, strict=True)):
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

    # ------------------------------------------------------------ structured constructs

    def emit_construct(self, node: Block | Loop | If, force_flat: bool = False) -> bool:
        need = self.analysis.of(node)
        if force_flat or not need.fits(self.loops, self.ind):
            if isinstance(node, Block | Loop) and not node.label.branches:
                return self.emit_nodes(node.body)
            return self.emit_states(node)
        if isinstance(node, If):
            return self.emit_if(node)
        if not node.label.branches:
            return self.emit_nodes(node.body)
        if isinstance(node, Block) and ifconv_ok(node):
            self.routes[node.label.id] = Route(Mode.IFCONV)
            self.emit_nodes(node.body, node.label)
            return True
        return self.emit_frame(node)

    def new_frame(self, kind: FrameKind) -> Frame:
        self.tokens += 1
        return Frame(kind, self.tokens)

    def emit_frame(self, node: Block | Loop) -> bool:
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

    def emit_states(self, root: Block | Loop | If) -> bool:
        """Flatten ``root`` into ``while True:`` over states dispatched on ``lbl``."""
        frame = self.new_frame(FrameKind.STATES)
        bound = tree_depth(3 * self.analysis.count_constructs(root) + 2)
        machine = _Machine(self, frame, self.ind + 1 + bound)
        saved_out, saved_ind = self.out, self.ind
        self.frames.append(frame)
        self.loops += 1
        machine.start()
        falls = machine.flatten([root], force_root=True)
        if falls:
            self.flush_all()
            self.line("break")
        states = machine.finish()
        self.loops -= 1
        self.frames.pop()
        self.out, self.ind = saved_out, saved_ind
        self.line("lbl = 0")
        self.line("while True:")
        self._dispatch(states, 0, len(states), self.ind + 1, machine.state_ind)
        self.after_frame(frame)
        return True

    def _dispatch(self, states: list[list[Line]], lo: int, hi: int, ind: int, state_ind: int) -> None:
        if hi - lo == 1:
            shift = ind - state_ind
            body = states[lo] or [(state_ind, "break")]
            self.out.extend((i + shift, text) for i, text in body)
            return
        mid = (lo + hi) // 2
        self.line(f"if lbl < {mid}:", ind)
        self._dispatch(states, lo, mid, ind + 1, state_ind)
        self.line("else:", ind)
        self._dispatch(states, mid, hi, ind + 1, state_ind)


class _Machine:
    """Collects the states of one flattened region (see :func:`FunctionEmitter.emit_states`)."""

    def __init__(self, em: FunctionEmitter, frame: Frame, state_ind: int) -> None:
        self.em = em
        self.frame = frame
        self.state_ind = state_ind
        self.states: list[list[Line]] = []
        self.current = -1

    def new_state(self) -> int:
        self.states.append([])
        return len(self.states) - 1

    def switch(self, state: int) -> None:
        self.em.flush_all()
        self.em.out = self.states[state]
        self.em.ind = self.state_ind
        self.current = state

    def start(self) -> None:
        self.switch(self.new_state())

    def goto(self, state: int) -> None:
        self.em.flush_all()
        if state == self.frame.exit_state:
            self.em.line("break")
        else:
            self.em.line(f"lbl = {state}")
            self.em.line("continue")

    def finish(self) -> list[list[Line]]:
        self.em.flush_all()
        return self.states

    def flatten(self, nodes: list[Node], force_root: bool = False) -> bool:
        em = self.em
        for i, node in enumerate(nodes):
            if isinstance(node, Block | Loop | If):
                if not isinstance(node, If):
                    em.flush_all()
                fits = not force_root and em.analysis.of(node).fits(em.loops, em.ind)
                if fits:
                    if not em.emit_construct(node):
                        return False
                    continue
                if isinstance(node, If):
                    if not self.flat_if(node):
                        return False
                elif not node.label.branches:
                    if not self.flatten(node.body):
                        return False
                elif isinstance(node, Block):
                    if not self.flat_block(node, force_root):
                        return False
                elif not self.flat_loop(node):
                    return False
            elif isinstance(node, Op):
                em.emit_op(node)
            elif isinstance(node, Gas):
                em.emit_gas(node)
            elif isinstance(node, BrIf):
                em.emit_br_if(node)
            else:
                em.emit_terminal(node)
                return False
        em.flush_all()
        return True

    def flat_block(self, node: Block, root: bool) -> bool:
        end = self.new_state()
        if root:
            self.frame.exit_state = end
        self.em.routes[node.label.id] = Route(Mode.STATE, self.frame, end)
        if self.flatten(node.body):
            self.goto(end)
        self.switch(end)
        if root:
            self.em.line("break")
            return False
        return True

    def flat_loop(self, node: Loop) -> bool:
        self.em.flush_all()
        if self.em.out:
            head = self.new_state()
            self.goto(head)
            self.switch(head)
        else:
            head = self.current
        self.em.routes[node.label.id] = Route(Mode.STATE, self.frame, head)
        return self.flatten(node.body)

    def flat_if(self, node: If) -> bool:
        em = self.em
        cond = em.cond_text(node.cond)
        join = self.new_state()
        other = self.new_state() if node.orelse else join
        em.line(f"if not {paren(cond)}:")
        em.ind += 1
        self.goto(other)
        em.ind -= 1
        if self.flatten(node.then):
            self.goto(join)
        falls = True
        if node.orelse:
            self.switch(other)
            if self.flatten(node.orelse):
                self.goto(join)
        self.switch(join)
        return falls


_USES_MEMORY = frozenset(
    {op for op, info in OPS.items() if info.imm is Imm.MEMARG}
    | {Opcode.MEMORY_SIZE, Opcode.MEMORY_GROW, Opcode.MEMORY_FILL, Opcode.MEMORY_COPY, Opcode.MEMORY_INIT}
)


def _header(func: IRFunction, em: FunctionEmitter, body: list[Line]) -> list[Line]:
    """The ``def`` line, depth check, locals, bindings and the body's ``try``."""
    params = ", ".join(["d", *(f"l{i}" for i in range(func.nparams))])
    ftype = func.type
    lines: list[Line] = [
        (0, f"# wasm function {func.index}: {ftype}, {len(func.locals) - func.nparams} locals, "
            f"stack {func.max_height}"),
        (0, f"def f{func.index}({params}):"),
    ]
    if em.metered:
        lines.append((1, "global GAS"))
    lines.append((1, "if not d: raise stack_exhausted()"))
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
    if em.metered:
        lines.append((1, "gas = GAS"))
    handlers: list[tuple[str, str]] = []
    if em.uses_memory:
        handlers.append(("MEMORY_ERRORS", "out_of_bounds_trap"))
    if em.uses_div:
        handlers.append(("ZeroDivisionError", "divide_by_zero_trap"))
    if not handlers and not em.metered:
        return lines + [(i - 1, text) for i, text in body]
    lines.append((1, "try:"))
    lines.extend(body)
    for exc, trap in handlers:
        lines.append((1, f"except {exc}:"))
        if em.metered:
            lines.append((2, "if gas < GAS: GAS = gas"))
        lines.append((2, f"raise {trap}() from None"))
    if em.metered:
        lines.append((1, "except BaseException:"))
        lines.append((2, "if gas < GAS: GAS = gas"))
        lines.append((2, "raise"))
    return lines


def emit_function(func: IRFunction, view: ModuleView, metered: bool) -> EmitResult:
    """The Python source of one function (``def f{index}``) and its float constants."""
    em = FunctionEmitter(func, view, metered)
    if em.emit_nodes(func.body):
        em.emit_return([])
    lines = _header(func, em, em.out)
    source = "\n".join("    " * ind + text for ind, text in lines) + "\n"
    return EmitResult(source, em.constants)


__all__ = ["EmitResult", "ModuleView", "Need", "emit_function"]
