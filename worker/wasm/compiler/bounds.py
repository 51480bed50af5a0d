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

from collections.abc import Sequence

from ..opcodes import OPS, Opcode
from ..types import ValType
from .exprs import BOUND_RULES, X, const_text
from .ir import Const, Gas, IRFunction, Loc, Node, Op, Reg
from .structure import CONSTRUCTS, children

WIDEN_AFTER = 2
"""Times a local's bound may be raised; raised once more (a counter), it becomes unknown."""

MAX_PASSES = 8
"""Passes before the analysis gives up on the whole function (each pass reads the whole body once)."""

_INTS = frozenset({ValType.I32, ValType.I64})
_RANGE = {ValType.I32: 1 << 32, ValType.I64: 1 << 64}
_COPIES = frozenset({Opcode.LOCAL_GET, Opcode.LOCAL_SET, Opcode.LOCAL_TEE})
_SELECTS = frozenset({Opcode.SELECT, Opcode.SELECT_T})
_TESTS = frozenset(
    info.op for info in OPS.values()
    if info.name.partition(".")[2] in {"eqz", "eq", "ne", "lt", "lt_s", "lt_u", "gt", "gt_s", "gt_u",
                                       "le", "le_s", "le_u", "ge", "ge_s", "ge_u"})
"""Comparisons and tests: their i32 result is 0 or 1."""

_UNKNOWN = X("")


def local_bounds(func: IRFunction) -> dict[int, int]:
    """Integer locals (by index, parameters excepted) whose every value lies in ``[0, bound)``, and bound."""
    types, first = func.locals, func.nparams
    tracked = {i for i in range(first, len(types)) if types[i] in _INTS}
    if not tracked:
        return {}
    runs = _runs(func.body)
    bounds = dict.fromkeys(tracked, 1)  # the initial zero
    raised = dict.fromkeys(tracked, 0)  # how many passes raised each bound
    for _ in range(MAX_PASSES):
        grown = _pass(runs, bounds, tracked)
        if not grown:  # the fixed point: a bound of the whole range says nothing
            return {i: b for i, b in bounds.items() if 0 < b < _RANGE[types[i]]}
        for i, bound in grown.items():
            raised[i] += 1
            bounds[i] = 0 if raised[i] > WIDEN_AFTER else bound
    return {}  # no fixed point yet (a long chain of locals each feeding the next): nothing is known


def _runs(body: list[Node]) -> list[list[Op]]:
    """The body's straight runs of instructions, each in order (gas charges do not break a run)."""
    runs: list[list[Op]] = []
    work = [body]
    while work:
        run: list[Op] = []
        for node in work.pop():
            if type(node) is Op:
                run.append(node)
            elif type(node) is not Gas:
                if run:
                    runs.append(run)
                    run = []
                if type(node) in CONSTRUCTS:
                    work.extend(children(node))
        if run:
            runs.append(run)
    return runs


def _pass(runs: list[list[Op]], bounds: dict[int, int], tracked: set[int]) -> dict[int, int]:
    """The tracked locals whose bound an assignment raises, with the raised bound (0: unknown)."""
    grown: dict[int, int] = {}
    for run in runs:
        registers: dict[int, int] = {}
        for node in run:
            outs = node.outs
            if not outs:
                continue
            bound = _bound(node, registers, bounds) if len(outs) == 1 else 0
            for out in outs:
                if type(out) is Reg:
                    registers[out.h] = bound
                elif type(out) is Loc and out.i in tracked:
                    now = grown.get(out.i, bounds[out.i])
                    if now and (not bound or bound > now):
                        grown[out.i] = bound
    return grown


def _operand(a: object, registers: dict[int, int], bounds: dict[int, int]) -> X:
    if type(a) is Reg:
        return X("r", bound=registers.get(a.h, 0))
    if type(a) is Loc:
        return X("l", bound=bounds.get(a.i, 0))
    if type(a) is Const and a.type in _INTS:
        return const_text(a)  # its literal text too: the shift rules read the count from it
    return _UNKNOWN


def _bound(node: Op, registers: dict[int, int], bounds: dict[int, int]) -> int:
    """The exclusive bound of ``node``'s one result (0: unknown)."""
    op = node.op
    if op in _TESTS:
        return 2
    args: Sequence[X] = [_operand(a, registers, bounds) for a in node.args]
    if op in _COPIES:
        return args[0].bound
    if op in _SELECTS:
        a, b = args[0].bound, args[1].bound
        return max(a, b) if a and b else 0
    entry = BOUND_RULES.get(op)
    if entry is None:
        return 0
    width, rule = entry
    bound = rule(list(args), width)
    return bound if bound <= 1 << width else 0
