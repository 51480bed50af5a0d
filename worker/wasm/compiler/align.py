"""Known alignment of integer values: how many low bits are certainly zero (at most :data:`CAP`).

A load or store whose address is known to be a multiple of its size indexes
the memory's typed view without testing the address (``w4[ea >> 2]``, see
``exprs``). Alignment is known two ways:

- *in an expression*, from its structure: ``(l3 << 2) + 1120`` is a
  multiple of 4 whatever ``l3`` holds (:func:`result_zeros`, applied by the
  emitter as it folds, :attr:`~.exprs.X.align`);
- *for a local*, over the whole function (:func:`local_zeros`): the fewest
  zero bits of any value ever assigned to it (its initial zero has them all,
  a parameter none), found by iterating from "all" down to a fixed point, so
  that a pointer stepped by 4 in a loop (``l5 = l5 + 4``) stays a multiple
  of 4. Registers are only followed within a straight run of instructions;
- *for a local inside a loop* (:func:`loop_zeros`): the same fixed point
  over the loop's body alone, starting from what the local holds when the
  loop is entered, as the straight run of instructions just before the
  loop computes it. Compilers reuse locals: a parameter or a counter that
  later serves as an aligned pointer has no known zero bits over the whole
  function, but has them throughout the loop that steps it. A local that
  every turn of the loop assigns before anything in the loop reads it
  (:func:`assigned_first`) starts from "all": what it held on entry is
  never read there (a quicksort's ``j`` pointer, set afresh each turn,
  while the same local holds ``j + 1`` between the turns).

Every rule keeps the low bits exact under wrapping: an i32/i64 result is the
exact result modulo ``2**32``/``2**64``, whose low bits it shares.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..opcodes import Opcode
from ..types import ValType
from .ir import Const, Gas, IRFunction, Loc, Loop, Node, Op, Reg
from .structure import CONSTRUCTS, children, control_operands

CAP = 3
"""The most zero bits tracked: 8-byte alignment is the largest any access needs."""

_INTS = frozenset({ValType.I32, ValType.I64})

MAX_PASSES = 16
"""Passes over a body before the fixed point is given up (then no local has known zero bits).

Each pass lowers at least one local's known bits or ends the iteration; a
chain of copies (each local set from the next, read before that one is
set) lowers one link per pass, so without a cap the work grows with the
square of the function's length."""


def const_zeros(value: int) -> int:
    """The zero low bits of an integer constant (``CAP`` for 0 and multiples of ``2**CAP``)."""
    low = value & ((1 << CAP) - 1)
    return CAP if not low else (low & -low).bit_length() - 1


def _shl(widthmask: int) -> Callable[[Sequence[int], Sequence[int | None]], int]:
    def zeros(z: Sequence[int], k: Sequence[int | None]) -> int:
        shift = k[1]
        return z[0] if shift is None else min(CAP, z[0] + (shift & widthmask))
    return zeros


def _min(z: Sequence[int], k: Sequence[int | None]) -> int:
    return min(z[0], z[1])


def _first(z: Sequence[int], k: Sequence[int | None]) -> int:
    return z[0]


_RULES: dict[Opcode, Callable[[Sequence[int], Sequence[int | None]], int]] = {
    Opcode.I32_ADD: _min, Opcode.I64_ADD: _min, Opcode.I32_SUB: _min, Opcode.I64_SUB: _min,
    Opcode.I32_OR: _min, Opcode.I64_OR: _min, Opcode.I32_XOR: _min, Opcode.I64_XOR: _min,
    Opcode.SELECT: _min, Opcode.SELECT_T: _min,
    Opcode.I32_MUL: lambda z, k: min(CAP, z[0] + z[1]), Opcode.I64_MUL: lambda z, k: min(CAP, z[0] + z[1]),
    Opcode.I32_AND: lambda z, k: max(z[0], z[1]), Opcode.I64_AND: lambda z, k: max(z[0], z[1]),
    Opcode.I32_SHL: _shl(31), Opcode.I64_SHL: _shl(63),
    Opcode.I32_WRAP_I64: _first, Opcode.I64_EXTEND_I32_U: _first,
    Opcode.LOCAL_GET: _first, Opcode.LOCAL_SET: _first, Opcode.I32_CONST: _first, Opcode.I64_CONST: _first,
}  # fmt: skip
"""The instructions whose result keeps known zero bits, by rule; any other result has none known."""

ZERO_OPS = frozenset(_RULES)
_SHIFT_RULES = frozenset({_RULES[Opcode.I32_SHL], _RULES[Opcode.I64_SHL]})
_LOW = (1 << CAP) - 1
_CONST_ZEROS = tuple(const_zeros(low) for low in range(_LOW + 1))
""":func:`const_zeros` by the constant's low bits (all it depends on)."""


def result_zeros(op: Opcode, zeros: Sequence[int], consts: Sequence[int | None]) -> int:
    """The known zero bits of ``op``'s result from its operands' (``consts``: constant operands' values)."""
    rule = _RULES.get(op)
    return 0 if rule is None else rule(zeros, consts)


_Rule = Callable[[Sequence[int], Sequence[int | None]], int]
_Step = tuple[_Rule, tuple[int, ...], tuple[int | None, ...], int, bool]
"""One instruction of :func:`local_zeros`'s program: rule, operand slots, shift constants, result
slot, and whether that slot is a local's (lowered to the result) or a register's (set to it)."""


def local_zeros(func: IRFunction) -> dict[int, int]:
    """Integer locals (by index) whose every value has some known zero low bits, and how many.

    The function is read once into a small program over *slots* (see
    :class:`_Program`): the constants 0..CAP, the locals, and the results of
    the instructions that feed a local's assignment within their straight
    run. Iterating that program, rather than the function's tree, to the
    fixed point gives the same result (every rule is monotone, so any order
    of lowering reaches the same greatest fixed point) for a fraction of the
    work.
    """
    types, first = func.locals, func.nparams
    if not any(t in _INTS for t in types[first:]):
        return {}
    known = {i: CAP for i in range(first, len(types)) if types[i] in _INTS}  # never assigned: still zero
    known.update(_fixed_point(func.body, types, first, lambda i: CAP))
    return {i: z for i, z in known.items() if z}


def _fixed_point(body: list[Node], types: Sequence[ValType], first: int,
                 start: Callable[[int], int]) -> dict[int, int]:
    """The known zero bits over ``body`` of the integer locals from index ``first`` that it mentions.

    A local assigned a value with nothing known has 0; the others start at
    ``start(i)``, lowered by every assignment in ``body`` until nothing
    changes. The work is proportional to ``body``, not to the number of locals.
    """
    program = _Program(types, first)
    program.read(body)
    vals = [*range(CAP + 1), *([0] * (program.slots - CAP - 1))]
    for i, slot in program.local_slots.items():
        if program.tracks(i) and i not in program.zeroed:
            vals[slot] = start(i)
    steps = program.linked()
    changed, passes = True, 0
    while changed:
        if passes == MAX_PASSES:  # not settled (a long chain of copies): nothing known of any local
            return dict.fromkeys([i for i in program.local_slots if program.tracks(i)], 0)
        changed, passes = False, passes + 1
        for rule, args, consts, dest, local in steps:
            zeros = vals[args[0]] if rule is _first else rule([vals[a] for a in args], consts)
            if not local:
                vals[dest] = zeros
            elif zeros < vals[dest]:
                vals[dest] = zeros
                changed = True
    known = dict.fromkeys(program.zeroed, 0)
    for i, slot in program.local_slots.items():
        if program.tracks(i) and i not in program.zeroed:
            known[i] = vals[slot]
    return known


def _arg_zeros(value: object) -> int:
    """The known zero bits of a constant operand (an integer's; none of a float's)."""
    return _CONST_ZEROS[value & _LOW] if isinstance(value, int) else 0


def _shift_consts(rule: _Rule, args: Sequence[object]) -> tuple[int | None, ...]:
    """A shift's constant operands, which its rule reads (other rules read none)."""
    if rule not in _SHIFT_RULES:
        return ()
    return tuple(a.value if type(a) is Const else None for a in args)


class _Program:
    """The assignments of a body as :data:`_Step` s over slots (see :func:`local_zeros`).

    Slots ``0..CAP`` hold the constants ``0..CAP`` (a register whose value is
    unknown reads slot 0); the others are given out as the body mentions
    locals and as assignments need register values. Each straight run is
    read backwards from the assignments of tracked locals (integers from
    index ``first``), so only the instructions whose results reach one make
    a step; each register slot has one writer. Tracked locals assigned a
    value with nothing known are ``zeroed``.
    """

    def __init__(self, types: Sequence[ValType], first: int) -> None:
        self.types, self.first = types, first
        self.slots = CAP + 1  # the next slot given out
        self.local_slots: dict[int, int] = {}
        self.steps: list[_Step] = []
        self.zeroed: set[int] = set()

    def tracks(self, i: int) -> bool:
        return i >= self.first and self.types[i] in _INTS

    def local(self, i: int) -> int:
        slot = self.local_slots.get(i)
        if slot is None:
            slot = self.local_slots[i] = self.slots
            self.slots += 1
        return slot

    def read(self, nodes: list[Node]) -> None:
        """Add the steps of ``nodes``, each list of a construct its own straight runs."""
        work = [nodes]
        while work:
            self._runs(work.pop(), work)

    def _runs(self, nodes: list[Node], work: list[list[Node]]) -> None:
        wanted: dict[int, int] = {}  # register height -> the slot a later instruction of the run reads it in
        steps: list[_Step] = []
        tracks = self.tracks
        step = self._step
        for node in reversed(nodes):
            if type(node) is Op:
                outs = node.outs
                if len(outs) == 1:
                    out = outs[0]
                    if type(out) is Reg:
                        if wanted and out.h in wanted:
                            step(node, wanted.pop(out.h), -1, wanted, steps)
                    elif type(out) is Loc and tracks(out.i):
                        step(node, self.local(out.i), out.i, wanted, steps)
                elif outs:
                    for out in outs:  # no rule gives several results: nothing known of them
                        if type(out) is Reg:
                            wanted.pop(out.h, None)
                        elif type(out) is Loc and tracks(out.i):
                            self.zeroed.add(out.i)
            elif type(node) is not Gas:
                if wanted:
                    wanted = {}  # control: a register may have been written on another path
                if type(node) in CONSTRUCTS:
                    work.extend(children(node))
        if steps:
            steps.reverse()
            self.steps.extend(steps)

    def _step(self, node: Op, dest: int, local: int, wanted: dict[int, int], steps: list[_Step]) -> None:
        """The step of ``node`` writing slot ``dest`` (local ``local``, or -1: a register's)."""
        rule = _RULES.get(node.op)
        if rule is None:  # nothing known of the result: a register slot stays 0
            if local >= 0:
                self.zeroed.add(local)
            return
        args = []
        for a in node.args:
            if type(a) is Reg:
                slot = wanted.get(a.h)
                if slot is None:
                    slot = wanted[a.h] = self.slots
                    self.slots += 1
                args.append(slot)
            elif type(a) is Loc:
                args.append(self.local(a.i))
            else:
                assert isinstance(a, Const)
                args.append(_arg_zeros(a.value))
        steps.append((rule, tuple(args), _shift_consts(rule, node.args), dest, local >= 0))

    def linked(self) -> list[_Step]:
        """The steps, register copies dropped: their readers read the copied slot instead.

        Each register slot has one writer, so a copy's slot always equals its
        source (within the pass that computes it; the fixed point is the same).
        """
        alias: dict[int, int] = {}
        kept: list[_Step] = []
        for rule, args, consts, dest, local in self.steps:
            if alias:
                args = tuple([alias.get(a, a) for a in args])
            if rule is _first and not local:
                alias[dest] = args[0]
            else:
                kept.append((rule, args, consts, dest, local))
        return kept


MAX_LOOP_NESTING = 4
"""Loops nested deeper than this inside refined loops keep their enclosing loop's facts.

Each refinement reads its loop's body once, so a node is read at most this
many times more than by :func:`local_zeros`: compile time stays linear in
the function's size however deeply its loops nest."""


def loop_zeros(loop: Loop, before: Sequence[Node], end: int, facts: dict[int, int],
               func: IRFunction, fresh: frozenset[int] = frozenset()) -> dict[int, int]:
    """What is known of the integer locals throughout ``loop`` where it may differ from ``facts``.

    ``before[:end]`` are the nodes its list runs before the loop; ``facts``
    holds for every local anywhere in the region around the loop (the
    function, or an enclosing loop). In structured code, a loop is entered
    only by falling into it from ``before[end - 1]``, so the straight run of
    instructions ending there (no construct, no branch) ran just before, in
    order: simulated over known zero bits, starting from ``facts``, it gives
    each local's value on entry. Inside the loop a local holds its entry
    value or one assigned in the loop, so the fixed point of
    :func:`local_zeros` over the loop's body, started from the entry values
    instead of "all", holds throughout the loop; each time the loop is
    entered again (an enclosing loop's next turn), the run before it has
    run again.

    ``fresh`` (:func:`assigned_first` of the body): locals whose value on
    entry nothing in the loop reads; they start from "all", so only the
    loop's own assignments count. What the result says of them holds where
    the loop reads them, not on entry.

    Only the locals the run assigns or the loop mentions are returned (a
    local absent keeps ``facts``): the work is proportional to the run and
    the loop, however many locals the function has.
    """
    entry = entry_zeros(before, end, facts)
    inner = _fixed_point(loop.body, func.locals, 0,
                         lambda i: CAP if i in fresh else entry.get(i, facts.get(i, 0)))
    return {**entry, **inner}


def assigned_first(body: list[Node]) -> frozenset[int]:
    """The locals every turn of a loop with this body assigns before anything in the body reads them.

    The body's own list is read in order: an instruction reads its operands,
    then a local it writes that nothing has read yet is *fresh*; any other
    node (a construct, a branch) reads every local it mentions, at any depth.
    A turn either runs that list in order or leaves it (a branch out, or
    back to the loop's head, where the next turn starts over), so every
    read of a fresh local in the loop sees a value the same turn assigned.
    """
    seen: set[int] = set()
    fresh: set[int] = set()
    for node in body:
        if type(node) is Op:
            for a in node.args:
                if type(a) is Loc:
                    seen.add(a.i)
            for out in node.outs:
                if type(out) is Loc and out.i not in seen:
                    fresh.add(out.i)
                    seen.add(out.i)
        elif type(node) is not Gas:
            _mentions(node, seen)
    return frozenset(fresh)


def _mentions(node: Node, seen: set[int]) -> None:
    """Add every local ``node`` reads or writes, at any depth, to ``seen``."""
    work = [node]
    while work:
        item = work.pop()
        operands: tuple[object, ...]
        if type(item) is Op:
            operands = (*item.args, *item.outs)
        else:
            operands = control_operands(item)
            if type(item) in CONSTRUCTS:
                for nodes in children(item):
                    work.extend(nodes)
        for a in operands:
            if type(a) is Loc:
                seen.add(a.i)


def entry_zeros(before: Sequence[Node], end: int, facts: dict[int, int]) -> dict[int, int]:
    """The known zero bits of the locals the straight run ending at ``before[end - 1]`` assigns."""
    start = end
    while start and type(before[start - 1]) in _STRAIGHT:
        start -= 1
    assigned: dict[int, int] = {}
    registers: dict[int, int] = {}
    for node in before[start:end]:
        if type(node) is not Op or not node.outs:
            continue
        outs = node.outs
        rule = _RULES.get(node.op) if len(outs) == 1 else None
        zeros = 0
        if rule is not None:
            known = []
            for a in node.args:
                if type(a) is Reg:
                    known.append(registers.get(a.h, 0))
                elif type(a) is Loc:
                    known.append(assigned.get(a.i, facts.get(a.i, 0)))
                else:
                    assert isinstance(a, Const)
                    known.append(_arg_zeros(a.value))
            zeros = rule(known, _shift_consts(rule, node.args))
        for out in outs:
            if type(out) is Reg:
                registers[out.h] = zeros
            elif type(out) is Loc:
                assigned[out.i] = zeros
    return assigned


_STRAIGHT = (Op, Gas)
"""The nodes of a straight run: they fall through to the next, and only instructions write."""
