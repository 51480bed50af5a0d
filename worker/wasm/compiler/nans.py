"""Canonical NaNs: which float locals may hold a NaN that is not yet canonical.

Under the engine's ``canonical_nans`` option every instruction that can make
a NaN from arithmetic (``numeric.CANONICALIZED_OPS``) must give the canonical
NaN, while locals, parameters, loads and bit operations keep their bits. The
check costs a comparison per value, so the compiler makes it only where a
value can be seen (see ``exprs.canonical_rules``): a result that only feeds
more arithmetic, comparisons or truncations to integers needs none, because
those either propagate any NaN or do not care which NaN they meet.

This module extends that to locals. A float local is *raw* when every value
ever written to it comes from NaN-making arithmetic (directly, or through a
register or another raw local), or cannot be a NaN (a constant that is not
one, a conversion from an integer); its
initial value is ``0.0``, and parameters are never raw (a caller's NaN keeps
its bits). A raw local is stored without a check and read as a value that
may be any NaN (``X.nan``), so that it is canonicalized where it is used by
anything but arithmetic (``neg`` and ``abs`` included), comparisons and
truncations: a loop that keeps its
running values in locals (``zr = zr * zr - zi * zi + cr``) then pays nothing.
A non-NaN or canonical value is also a valid content of a raw local, so the
analysis only has to exclude values whose NaN bits must survive.

The analysis is conservative: a register's provenance is followed only
within one straight-line run of instructions (any control node forgets it),
and a local written from anything else (a call, a load, a parameter, a block
result, a local that is not raw) is not raw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..numeric import CANONICALIZED_OPS
from ..opcodes import OPS, Family, Opcode
from ..types import ValType
from .ir import Const, IRFunction, Loc, Node, Op, Operand, Reg
from .structure import CONSTRUCTS, children

_FLOATS = frozenset({ValType.F32, ValType.F64})
_MOVES = frozenset({Opcode.LOCAL_GET, Opcode.LOCAL_SET, Opcode.F32_CONST, Opcode.F64_CONST})
_NEVER_NAN = frozenset(info.op for info in OPS.values()
                       if info.family is Family.NUMERIC and ".convert_i" in info.name)
"""Float results that are never a NaN (integers converted to floats)."""
_ARITH = CANONICALIZED_OPS | _NEVER_NAN
"""Results recorded as ``ARITH``: NaN-making arithmetic, or never a NaN."""

# What a value is known to be, for the analysis.
ARITH = "arith"  # a NaN-making instruction's result, or a value that cannot be a NaN
OTHER = "other"  # anything whose NaN bits must be kept (or is unknown)
Source = str | int  # ARITH, OTHER, or the index of the local it was copied from


@dataclass(slots=True)
class _Facts:
    """Per local: the sources of the values written to it (and whether one of them is OTHER)."""

    sources: dict[int, set[Source]] = field(default_factory=dict)

    def add(self, local: int, source: Source) -> None:
        self.sources.setdefault(local, set()).add(source)


def raw_locals(func: IRFunction) -> frozenset[int]:
    """The float locals of ``func`` that may hold a not yet canonical NaN (see the module docstring)."""
    raw = {i for i in range(func.nparams, len(func.locals)) if func.locals[i] in _FLOATS}
    if not raw:  # most functions: no float local, nothing to walk
        return frozenset()
    facts = _Facts()
    _walk(func.body, facts)
    changed = True
    while changed:  # drop locals fed by a non-raw one, until nothing changes
        changed = False
        for local in sorted(raw):
            sources = facts.sources.get(local, set())
            if any(s == OTHER or (isinstance(s, int) and s not in raw) for s in sources):
                raw.discard(local)
                changed = True
    return frozenset(raw)


def _walk(nodes: list[Node], facts: _Facts) -> None:
    """Record the source of every local write in ``nodes`` and in the constructs they nest.

    Each node list is one straight run at most: registers are followed from
    an instruction to the next until any other node (control, gas) comes.
    The lists are visited in any order (the facts are sets).
    """
    work = [nodes]
    while work:
        regs: dict[int, Source] = {}  # register height -> source of its value, within this straight run
        for node in work.pop():
            if type(node) is Op:
                _op(node, regs, facts)
                continue
            if regs:
                regs = {}  # control: registers may now hold values of other paths
            if type(node) in CONSTRUCTS:
                work.extend(children(node))


def _op(node: Op, regs: dict[int, Source], facts: _Facts) -> None:
    op = node.op
    if op in _ARITH:
        source: Source = ARITH
    elif op in _MOVES and len(node.args) == 1:
        source = _source(node.args[0], regs)
    else:
        source = OTHER
    for out in node.outs:
        if type(out) is Loc:
            facts.add(out.i, source)
        elif type(out) is Reg:
            regs[out.h] = source


def _source(operand: Operand, regs: dict[int, Source]) -> Source:
    if type(operand) is Const:
        value = operand.value
        return ARITH if isinstance(value, float) and value == value else OTHER
    if type(operand) is Loc:
        return operand.i
    if type(operand) is Reg:
        return regs.get(operand.h, OTHER)
    return OTHER


__all__ = ["raw_locals"]
