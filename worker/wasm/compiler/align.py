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
  of 4. Registers are only followed within a straight run of instructions.

Every rule keeps the low bits exact under wrapping: an i32/i64 result is the
exact result modulo ``2**32``/``2**64``, whose low bits it shares.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..opcodes import Opcode
from ..types import ValType
from .ir import Const, Gas, IRFunction, Loc, Node, Op, Reg
from .structure import children

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
_SHIFTS = frozenset({Opcode.I32_SHL, Opcode.I64_SHL})


def result_zeros(op: Opcode, zeros: Sequence[int], consts: Sequence[int | None]) -> int:
    """The known zero bits of ``op``'s result from its operands' (``consts``: constant operands' values)."""
    rule = _RULES.get(op)
    return 0 if rule is None else rule(zeros, consts)


def local_zeros(func: IRFunction) -> dict[int, int]:
    """Integer locals (by index) whose every value has some known zero low bits, and how many."""
    known = {i: CAP for i in range(func.nparams, len(func.locals)) if func.locals[i] in _INTS}
    while _lower(func.body, known):
        pass
    return {i: z for i, z in known.items() if z}


def _lower(nodes: list[Node], known: dict[int, int]) -> bool:
    """Lower ``known`` to what the assignments in ``nodes`` allow; whether anything changed."""
    changed = False
    regs: dict[int, int] = {}  # registers written earlier in this straight run
    for node in nodes:
        kind = type(node)
        if kind is Gas:
            continue
        if kind is not Op:
            regs.clear()  # control: a register may have been written on another path
            for body in children(node):
                changed = _lower(body, known) or changed
            continue
        assert isinstance(node, Op)
        outs = node.outs
        rule = _RULES.get(node.op)
        zeros = 0
        if rule is not None and len(outs) == 1:
            zs = []
            for a in node.args:  # a loop, not comprehensions: this runs for most instructions
                if isinstance(a, Reg):
                    zs.append(regs.get(a.h, 0))
                elif isinstance(a, Loc):
                    zs.append(known.get(a.i, 0))
                else:
                    zs.append(const_zeros(a.value) if isinstance(a.value, int) else 0)
            shift = node.op in _SHIFTS
            consts = [a.value if isinstance(a, Const) else None for a in node.args] if shift else ()
            zeros = rule(zs, consts)
        for out in outs:
            if isinstance(out, Reg):
                regs[out.h] = zeros
            elif zeros < known.get(out.i, 0):
                known[out.i] = zeros
                changed = True
    return changed
