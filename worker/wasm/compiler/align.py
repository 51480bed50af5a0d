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
  function, but has them throughout the loop that steps it.

Every rule keeps the low bits exact under wrapping: an i32/i64 result is the
exact result modulo ``2**32``/``2**64``, whose low bits it shares.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..opcodes import Opcode
from ..types import ValType
from .ir import Const, Gas, IRFunction, Loc, Loop, Node, Op, Reg
from .structure import CONSTRUCTS, children

CAP = 3
"""The most zero bits tracked: 8-byte alignment is the largest any access needs."""

_INTS = frozenset({ValType.I32, ValType.I64})


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
    nlocals = len(func.locals)
    tracked = [i for i in range(func.nparams, nlocals) if func.locals[i] in _INTS]
    if not tracked:
        return {}
    return _fixed_point(func.body, nlocals, tracked, dict.fromkeys(tracked, CAP))


def _fixed_point(body: list[Node], nlocals: int, tracked: Sequence[int] | frozenset[int],
                 start: dict[int, int]) -> dict[int, int]:
    """The known zero bits of the ``tracked`` locals over ``body``, starting from ``start`` (by local).

    Locals assigned a value with nothing known start at 0; the others at
    ``start``, lowered by every assignment until nothing changes.
    """
    program = _Program(nlocals, frozenset(tracked))
    program.read(body)
    vals = [*range(CAP + 1), *([0] * nlocals), *([0] * program.registers)]
    base = CAP + 1
    for i in tracked:
        if i not in program.zeroed:
            vals[base + i] = start.get(i, 0)
    steps = program.linked()
    changed = True
    while changed:
        changed = False
        for rule, args, consts, dest, local in steps:
            zeros = vals[args[0]] if rule is _first else rule([vals[a] for a in args], consts)
            if not local:
                vals[dest] = zeros
            elif zeros < vals[dest]:
                vals[dest] = zeros
                changed = True
    return {i: vals[base + i] for i in tracked if vals[base + i]}


class _Program:
    """The assignments of a function as :data:`_Step` s over slots (see :func:`local_zeros`).

    Slots ``0..CAP`` hold the constants ``0..CAP`` (a register whose value is
    unknown reads slot 0), then one slot per local, then one per register
    value some assignment needs. Each straight run is read backwards from
    the assignments of tracked locals, so only the instructions whose
    results reach one make a step; each register slot has one writer. Locals
    assigned a value with nothing known (``zeroed``) start at 0.
    """

    def __init__(self, nlocals: int, tracked: frozenset[int]) -> None:
        self.base = CAP + 1
        self.first_register = self.base + nlocals
        self.tracked = tracked
        self.registers = 0
        self.steps: list[_Step] = []
        self.zeroed: set[int] = set()

    def read(self, nodes: list[Node]) -> None:
        """Add the steps of ``nodes``, each list of a construct its own straight runs."""
        work = [nodes]
        while work:
            self._runs(work.pop(), work)

    def _runs(self, nodes: list[Node], work: list[list[Node]]) -> None:
        wanted: dict[int, int] = {}  # register height -> the slot a later instruction of the run reads it in
        steps: list[_Step] = []
        tracked = self.tracked
        base = self.base
        step = self._step
        for node in reversed(nodes):
            if type(node) is Op:
                outs = node.outs
                if len(outs) == 1:
                    out = outs[0]
                    if type(out) is Reg:
                        if wanted and out.h in wanted:
                            step(node, wanted.pop(out.h), False, wanted, steps)
                    elif type(out) is Loc and out.i in tracked:
                        step(node, base + out.i, True, wanted, steps)
                elif outs:
                    for out in outs:  # no rule gives several results: nothing known of them
                        if type(out) is Reg:
                            wanted.pop(out.h, None)
                        elif type(out) is Loc and out.i in tracked:
                            self.zeroed.add(out.i)
            elif type(node) is not Gas:
                if wanted:
                    wanted = {}  # control: a register may have been written on another path
                if type(node) in CONSTRUCTS:
                    work.extend(children(node))
        if steps:
            steps.reverse()
            self.steps.extend(steps)

    def _step(self, node: Op, dest: int, local: bool, wanted: dict[int, int], steps: list[_Step]) -> None:
        """The step of ``node`` writing slot ``dest``; its register operands become wanted."""
        rule = _RULES.get(node.op)
        if rule is None:  # nothing known of the result: a register slot stays 0
            if local:
                self.zeroed.add(dest - self.base)
            return
        args = []
        for a in node.args:
            if type(a) is Reg:
                slot = wanted.get(a.h)
                if slot is None:
                    slot = wanted[a.h] = self.first_register + self.registers
                    self.registers += 1
                args.append(slot)
            elif type(a) is Loc:
                args.append(self.base + a.i)
            else:
                assert isinstance(a, Const)
                value = a.value
                args.append(_CONST_ZEROS[value & _LOW] if isinstance(value, int) else 0)
        consts: tuple[int | None, ...] = ()
        if rule in _SHIFT_RULES:
            consts = tuple(a.value if type(a) is Const else None for a in node.args)
        steps.append((rule, tuple(args), consts, dest, local))

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
               func: IRFunction) -> dict[int, int]:
    """The known zero bits of the integer locals throughout ``loop`` (those with any).

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
    """
    nlocals = len(func.locals)
    tracked = frozenset(i for i in range(nlocals) if func.locals[i] in _INTS)
    return _fixed_point(loop.body, nlocals, tracked, _entry_zeros(before, end, facts))


def _entry_zeros(before: Sequence[Node], end: int, facts: dict[int, int]) -> dict[int, int]:
    """Each local's known zero bits after the straight run ending at ``before[end - 1]``."""
    start = end
    while start and type(before[start - 1]) in _STRAIGHT:
        start -= 1
    locals_ = dict(facts)
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
                    known.append(locals_.get(a.i, 0))
                else:
                    assert isinstance(a, Const)
                    value = a.value
                    known.append(_CONST_ZEROS[value & _LOW] if isinstance(value, int) else 0)
            consts: tuple[int | None, ...] = ()
            if rule in _SHIFT_RULES:
                consts = tuple(a.value if type(a) is Const else None for a in node.args)
            zeros = rule(known, consts)
        for out in outs:
            if type(out) is Reg:
                registers[out.h] = zeros
            elif type(out) is Loc:
                locals_[out.i] = zeros
    return locals_


_STRAIGHT = (Op, Gas)
"""The nodes of a straight run: they fall through to the next, and only instructions write."""
