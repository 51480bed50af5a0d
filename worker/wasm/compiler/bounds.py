"""Known bounds of integer locals: a local every value of which is small needs no mask where it is used.

The emitter drops a wrapping mask when it knows the exact result cannot
leave the range (:attr:`.exprs.X.bound`, :data:`.exprs.BOUND_RULES`): a byte
load, an ``and`` with a constant, a shift right, sums and products of such.
Within one expression that is enough; but compilers keep such values in
locals (an interpreter's decoded register numbers, a loop's byte), and a
local read back had no bound, so ``(l1 << 2) + 1120`` as a word index
became ``w4[(l1 + 280) & 0x3fffffff]``.

:func:`local_bounds` gives each integer local (not a parameter, whose value
comes from the caller) an exclusive bound over the whole function, when
every value ever assigned to it is bounded: its initial zero, and each
assignment's value as the same rules bound it, reading other locals'
bounds. A least fixed point, found by iterating; a local whose bound is
raised more than :data:`WIDEN_AFTER` times (a counter: ``l4 = l4 + 1``)
is given up, and a function whose bounds have not settled after
:data:`MAX_PASSES` passes has none known, so the work stays linear in the
function's size.
Registers are followed within a straight run of instructions only, as
:mod:`.align` does: a register written on another path is unknown.

Every rule bounds the wasm value (the exact result, when it fits the
width; else nothing is known), which is what a local holds.
"""

from __future__ import annotations

from ..opcodes import Opcode
from ..types import ValType
from .exprs import INT_BOUNDS, RULES, IntBound
from .ir import Const, Gas, IRFunction, Loc, Node, Op, Reg
from .structure import CONSTRUCTS, children

WIDEN_AFTER = 2
"""Times a local's bound may be raised; raised once more (a counter), it becomes unknown."""

MAX_PASSES = 8
"""Passes before the analysis gives up on the whole function (each pass reads the whole body once)."""

_INTS = frozenset({ValType.I32, ValType.I64})
_RANGE = {ValType.I32: 1 << 32, ValType.I64: 1 << 64}
_TESTS = frozenset(op for op, rule in RULES.items() if rule.cond)
"""Comparisons and tests (the emitter's condition rules): their i32 result is 0 or 1."""


def _copy(a: int, b: int, k: int | None, w: int) -> int:
    return a


def _select(a: int, b: int, k: int | None, w: int) -> int:
    return max(a, b) if a and b else 0


def _test(a: int, b: int, k: int | None, w: int) -> int:
    return 2


_RULES: dict[Opcode, tuple[int, IntBound, bool]] = {
    **INT_BOUNDS,
    **dict.fromkeys((Opcode.LOCAL_GET, Opcode.LOCAL_SET, Opcode.LOCAL_TEE), (64, _copy, False)),
    **dict.fromkeys((Opcode.SELECT, Opcode.SELECT_T), (64, _select, False)),
    **dict.fromkeys(_TESTS, (32, _test, False)),
}
"""Opcode -> (width, rule, whether it reads a constant count): what a local's value can be bounded by."""

_Arg = tuple[int, int]  # (kind, value): a register's height, a local's index, or a constant's bound
_REG, _LOC, _CONST = 0, 1, 2
_Step = tuple[IntBound, int, _Arg, _Arg, "int | None", int, int]
"""One instruction: rule, width, its two operands, its constant count, and where its result goes
(kind ``_REG`` or ``_LOC``, and the register's height or the local's index)."""

_NOTHING: _Arg = (_CONST, 0)


NARROW_LOADS = frozenset({Opcode.I32_LOAD8_U, Opcode.I32_LOAD16_U, Opcode.I64_LOAD8_U, Opcode.I64_LOAD16_U,
                          Opcode.I64_LOAD32_U})
"""The loads whose values are small: only a function with one of them is analysed.

Small values come mostly from such loads (a byte, a character, an opcode); masks and shifts make
them too, but in code without narrow loads the analysis found too little to pay for itself (it
costs a few percent of compiling a function)."""


def local_bounds(func: IRFunction) -> dict[int, int]:
    """Integer locals (by index, parameters excepted) whose every value lies in ``[0, bound)``, and bound.

    Only for a function with a narrow load (:data:`NARROW_LOADS`); any other has none known.
    """
    types, first = func.locals, func.nparams
    tracked = {i for i in range(first, len(types)) if types[i] in _INTS}
    if not tracked or not _narrow(func):
        return {}
    runs, unknown = _program(func.body, tracked)
    bounds = dict.fromkeys(tracked, 1)  # the initial zero
    for i in unknown:
        bounds[i] = 0
    if not any(bounds.values()):
        return {}
    raised = dict.fromkeys(tracked, 0)  # how many passes raised each bound
    for _ in range(MAX_PASSES):
        grown = _pass(runs, bounds)
        if not grown:  # the fixed point: a bound of the whole range says nothing
            return {i: b for i, b in bounds.items() if 0 < b < _RANGE[types[i]]}
        for i, bound in grown.items():
            raised[i] += 1
            bounds[i] = 0 if raised[i] > WIDEN_AFTER else bound
    return {}  # no fixed point yet (a long chain of locals each feeding the next): nothing is known


def _narrow(func: IRFunction) -> bool:
    """Whether the function has a narrow load: from what lowering recorded, else (hand-built IR) a walk."""
    if func.accesses is not None:
        return bool(func.accesses & NARROW_LOADS)
    work = [func.body]
    while work:
        for node in work.pop():
            if type(node) is Op and node.op in NARROW_LOADS:
                return True
            if type(node) in CONSTRUCTS:
                work.extend(children(node))
    return False


def _program(body: list[Node], tracked: set[int]) -> tuple[list[list[_Step]], set[int]]:
    """The straight runs of ``body`` as steps, only those whose results reach an assignment of a
    tracked local; and the tracked locals some instruction without a rule assigns (nothing known)."""
    runs: list[list[_Step]] = []
    unknown: set[int] = set()
    work = [body]
    while work:
        run: list[Op] = []
        for node in work.pop():
            if type(node) is Op:
                run.append(node)
            elif type(node) is not Gas:
                if run:
                    _add_run(run, runs, tracked, unknown)
                    run = []
                if type(node) in CONSTRUCTS:
                    work.extend(children(node))
        if run:
            _add_run(run, runs, tracked, unknown)
    return runs, unknown


def _add_run(run: list[Op], runs: list[list[_Step]], tracked: set[int], unknown: set[int]) -> None:
    """The steps of one straight run, read backwards from its assignments of tracked locals."""
    wanted: set[int] = set()  # registers a later step reads
    steps: list[_Step] = []
    for node in reversed(run):
        outs = node.outs
        if len(outs) != 1:
            for out in outs:
                if type(out) is Loc and out.i in tracked:
                    unknown.add(out.i)
                elif type(out) is Reg and out.h in wanted:  # unknown from here on: a step says so
                    wanted.discard(out.h)
                    steps.append(_unknown_register(out.h))
            continue
        out = outs[0]
        if type(out) is Reg:
            if out.h not in wanted:
                continue
            wanted.discard(out.h)
            kind, where = _REG, out.h
        elif type(out) is Loc and out.i in tracked:
            kind, where = _LOC, out.i
        else:
            continue
        entry = _RULES.get(node.op)
        if entry is None:  # nothing known of its result
            if kind == _LOC:
                unknown.add(where)
            else:  # the register may hold an earlier instruction's value until here: overwritten
                steps.append(_unknown_register(where))
            continue
        width, rule, counted = entry
        args = node.args
        first = _arg(args[0], wanted) if args else _NOTHING
        second = _arg(args[1], wanted) if len(args) > 1 else _NOTHING
        count = args[1].value if counted and len(args) > 1 and type(args[1]) is Const else None
        steps.append((rule, width, first, second, count, kind, where))
    if steps:
        steps.reverse()
        runs.append(steps)


def _unknown_register(h: int) -> _Step:
    """A step that makes register ``h`` unknown (an instruction without a rule wrote it)."""
    return (_copy, 64, _NOTHING, _NOTHING, None, _REG, h)


def _arg(a: object, wanted: set[int]) -> _Arg:
    if type(a) is Reg:
        wanted.add(a.h)
        return (_REG, a.h)
    if type(a) is Loc:
        return (_LOC, a.i)
    if type(a) is Const and a.type in _INTS and a.value >= 0:
        return (_CONST, int(a.value) + 1)
    return _NOTHING


def _pass(runs: list[list[_Step]], bounds: dict[int, int]) -> dict[int, int]:
    """The tracked locals whose bound an assignment raises, with the raised bound (0: unknown)."""
    grown: dict[int, int] = {}
    for run in runs:
        registers: dict[int, int] = {}
        for rule, width, (ka, va), (kb, vb), count, kind, where in run:
            a = va if ka == _CONST else registers.get(va, 0) if ka == _REG else bounds.get(va, 0)
            b = vb if kb == _CONST else registers.get(vb, 0) if kb == _REG else bounds.get(vb, 0)
            bound = rule(a, b, count, width)
            if bound > 1 << width:
                bound = 0
            if kind == _LOC:
                now = grown.get(where, bounds[where])
                if now and (not bound or bound > now):
                    grown[where] = bound
            else:
                registers[where] = bound
    return grown
