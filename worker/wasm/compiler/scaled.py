"""Scaled locals: an aligned pointer kept as its memory view's index while a loop runs.

A C loop steps a pointer through an array (``p += 4``) and reads or writes
through it (``*p``). Held as a byte address, each access shifts it back to
the view's index (``w4[l5 >> 2]``), and a store whose address is not proven
aligned also tests it. When :mod:`.align` proves the local a multiple of the
item size throughout a loop, the loop can hold the index instead: ``p5 =
l5 >> 2`` before the loop, ``w4[p5]`` for the accesses, ``p5 = (p5 + 1) %
0x40000000`` for the step, ``l5 = p5 << 2`` after it. It is the same value:
an address ``a`` with its low ``k`` bits zero is exactly ``(a >> k) << k``,
and stepping it by ``c`` modulo ``2**32`` steps the index by ``c >> k``
modulo ``2**(32 - k)``.

:func:`scaled_locals` chooses the locals of one loop to hold so. Taken are
integer locals (a parameter too: its value is read on entry like any other)
that

- have at least 2 known zero low bits throughout the loop (``zeros``);
- are written in the loop only by ``local.set`` (the emitter's one write
  path that converts: a call writing a local directly rules it out);
- are not held in another form already (``exclude``: signed locals, and
  those an enclosing loop already scales);
- serve as the address of view accesses that can index by them (directly,
  or plus or minus a constant within the same straight run; the item no
  wider than the known alignment, the constant and the access's offset
  multiples of it) more often than they are read for anything else, which
  then pays a shift (``(p5 << 2)``).

The shift kept is the one most of those accesses use (4-byte items: 2;
8-byte: 3); accesses of the other width count as other reads. Every exit from the loop's Python
``while`` runs the statement after it, so the local is written back there;
a ``return`` or a trap leaves the function and needs nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Container

from ..opcodes import Opcode
from ..types import ValType
from .exprs import VIEW_OPS
from .ir import Const, Loc, Loop, Op, Reg
from .structure import CONSTRUCTS, children, control_operands

MIN_SHIFT = 2
"""The narrowest item a view indexes (4 bytes); narrower accesses go through the bytearray."""
_OFFSET_OPS = frozenset({Opcode.I32_ADD, Opcode.I32_SUB})
_LOCAL_SET = Opcode.LOCAL_SET


class _Eligible(dict[int, int]):
    """Local -> its known zero bits if it may be scaled, else 0; filled as the loop mentions locals.

    Only the locals the loop mentions are looked at: the work is the loop's, however many
    locals the function has (a function of many loops, each over its own local, stays linear).
    """

    def __init__(self, zeros: Callable[[int], int], types: tuple[ValType, ...],
                 exclude: Container[int]) -> None:
        super().__init__()
        self.zeros, self.types, self.exclude = zeros, types, exclude

    def __missing__(self, i: int) -> int:
        z = self.zeros(i)
        z = z if z >= MIN_SHIFT and self.types[i] is ValType.I32 and i not in self.exclude else 0
        self[i] = z
        return z


def scaled_locals(loop: Loop, zeros: Callable[[int], int], types: tuple[ValType, ...],
                  exclude: Container[int]) -> dict[int, int]:
    """The locals worth holding as view indexes throughout ``loop``, with the shift of each.

    ``zeros(i)``: local ``i``'s known zero low bits throughout the loop and on entering it.
    """
    eligible = _Eligible(zeros, types, exclude)
    addressed: dict[int, Counter[int]] = {}  # local -> view shift -> accesses that can index by it
    other: Counter[int] = Counter()  # local -> reads of it for anything else
    written_otherwise: set[int] = set()
    work = [loop.body]
    while work:
        offsets: dict[int, tuple[int, int]] = {}  # register -> (local, constant): their sum (this run)
        for node in work.pop():
            if type(node) is Op:
                _op(node, eligible, offsets, addressed, other, written_otherwise)
            else:
                offsets = {}
                if type(node) in CONSTRUCTS:
                    work.extend(children(node))
                _reads(control_operands(node), eligible, other)
    chosen: dict[int, int] = {}
    for i, shifts in addressed.items():
        shift = max(shifts, key=lambda s: (shifts[s], -s))  # the most accesses index by it (then the smaller)
        if i not in written_otherwise and shifts[shift] > other[i] + sum(shifts.values()) - shifts[shift]:
            chosen[i] = shift
    return chosen


def _op(node: Op, eligible: _Eligible, offsets: dict[int, tuple[int, int]],
        addressed: dict[int, Counter[int]], other: Counter[int], written_otherwise: set[int]) -> None:
    """Count one instruction's uses of the eligible locals (see :func:`scaled_locals`).

    An access indexes by the local when its item is no wider than the local's known alignment and
    both the constant added to the local and the access's offset are multiples of the item; any
    other access through it is counted as a read of it as a number.
    """
    op, args = node.op, node.args
    view = VIEW_OPS.get(op)
    start = 0
    if view is not None and view.shift >= MIN_SHIFT:
        address = args[0]
        found = (address.i, 0) if type(address) is Loc else \
            offsets.pop(address.h, None) if type(address) is Reg else None
        if found is not None and eligible[found[0]]:
            local, delta = found
            low = view.size - 1
            if view.shift <= eligible[local] and not delta & low and not node.imm[1] & low:
                addressed.setdefault(local, Counter())[view.shift] += 1
            else:
                other[local] += 1
            start = 1
    elif op in _OFFSET_OPS and type(node.outs[0]) is Reg:
        a, b = args
        if type(a) is Loc and eligible[a.i] and type(b) is Const:  # counted where the sum is used
            offsets[node.outs[0].h] = (a.i, -b.value if op is Opcode.I32_SUB else b.value)
            return
        if op is Opcode.I32_ADD and type(b) is Loc and eligible[b.i] and type(a) is Const:
            offsets[node.outs[0].h] = (b.i, a.value)
            return
    if op is _LOCAL_SET and type(args[0]) is Reg:
        target, found = node.outs[0], offsets.get(args[0].h)
        if type(target) is Loc and found is not None and found[0] == target.i:
            offsets.pop(args[0].h)  # a step (``l5 = l5 + 4``): the index steps as cheaply
            return
    for a in args[start:]:
        if type(a) is Loc:
            if eligible[a.i]:
                other[a.i] += 1
        elif type(a) is Reg and a.h in offsets:
            other[offsets.pop(a.h)[0]] += 1  # a sum read as a number
    for out in node.outs:
        if type(out) is Reg:
            offsets.pop(out.h, None)
        elif op is not _LOCAL_SET and type(out) is Loc and eligible[out.i]:
            written_otherwise.add(out.i)


def _reads(operands: tuple[object, ...], eligible: _Eligible, other: Counter[int]) -> None:
    for a in operands:
        if type(a) is Loc and eligible[a.i]:
            other[a.i] += 1


def index_name(i: int) -> str:
    """The Python name holding local ``i``'s view index while it is scaled."""
    return f"p{i}"
