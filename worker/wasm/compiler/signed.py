"""Signed locals: i32 locals kept as Python's signed ints, so that signed comparisons are one ``<``.

An i32 is held as its unsigned value (see ``numeric``), so a signed
comparison of two values tests their sign halves first
(``((a < b < 0x80000000) if a < 0x80000000 else ...)``, see ``exprs``),
about twice the time of a plain ``<``. C code compares signed values it
loads from memory all the time (a sort's ``a[i] < pivot``), and such a value
often lives only in a local that is loaded, compared and stored back.

:func:`signed_locals` finds the i32 locals (not parameters, whose values
come from the caller) that can hold the *signed* value instead, because
every place that writes or reads them agrees:

- a write is a ``local.set`` of an ``i32.load`` made in the same straight
  run of instructions and read by nothing else (the emitter loads it
  through the signed view of the memory, ``wi[ea >> 2]``), of another such
  local, or of a constant below ``2**31`` (the same number either way);
  the initial zero is one too;
- a read is an operand of ``i32.eq``/``ne``/``lt_s``/``gt_s``/``le_s``/
  ``ge_s`` whose other operand is such a local or a constant (given in its
  signed form), of ``i32.eqz``, the value of an ``i32.store`` (stored
  through the signed view), or a ``local.set`` of another such local.

Anything else (arithmetic, a call argument, a branch's value, a
``select``, a copy into a register) rules the local out, and with it every
local it meets in a copy or a comparison: these form groups that are kept
or dropped whole. A group is kept only if one of its reads is an ordering
comparison (the only gain). The emitter then takes the loads, stores and
comparisons found here by their identity (:class:`Signed`); the wasm values
are the same, only their Python form differs, and nothing else ever sees it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..opcodes import Opcode
from ..types import ValType
from .exprs import SIGNED_RULES, VIEW_OPS, VIEW_U32
from .ir import Const, Gas, IRFunction, Loc, Node, Op, Reg
from .lower import SIGNED_ORDERINGS
from .structure import CONSTRUCTS, children, control_operands

_COMPARES = frozenset(op for op, rule in SIGNED_RULES.items() if rule.cond)
"""The comparisons of signed locals the emitter writes plainly (its signed condition rules)."""
_SIGN = 1 << 31


@dataclass(slots=True)
class Signed:
    """What the emitter does differently: the locals, and the instructions by ``id``."""

    locals: frozenset[int] = frozenset()
    loads: set[int] = field(default_factory=set)  # i32.load into a signed local: the signed view
    stores: set[int] = field(default_factory=set)  # i32.store of a signed local: the signed view
    compares: set[int] = field(default_factory=set)  # comparisons of signed locals: plain, constants signed
    unsigned_view: bool = True  # some access still goes through the unsigned 32-bit view

    def __bool__(self) -> bool:
        return bool(self.locals)


class _Groups:
    """Union-find over local indexes; a group is ruled out when any member is."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, i: int) -> int:
        parent = self.parent
        root = parent.setdefault(i, i)
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def join(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[a] = b


def signed_locals(func: IRFunction) -> Signed:
    """The locals of ``func`` that can hold signed values, and the instructions that then change.

    Only a function with an ``i32.load`` and a signed ordering of locals and constants (as lowering
    recorded them, see ``lower.SIGNED_ORDERINGS``; a hand-built one is walked) can have any.
    """
    accesses = func.accesses
    if accesses is not None and not (Opcode.I32_LOAD in accesses and accesses & SIGNED_ORDERINGS):
        return Signed()
    types, first = func.locals, func.nparams
    candidates = {i for i in range(first, len(types)) if types[i] is ValType.I32}
    if not candidates:
        return Signed()
    groups = _Groups()
    out: set[int] = set()  # ruled out
    ordered: set[int] = set()  # read by an ordering comparison
    loads: list[tuple[int, int]] = []  # (local, id of the load it takes)
    stores: list[tuple[int, int]] = []
    compares: list[tuple[tuple[int, ...], int]] = []
    local_set, i32_load = Opcode.LOCAL_SET, Opcode.I32_LOAD
    work = [func.body]
    while work:
        if len(out) == len(candidates):  # nothing can be kept: stop early
            return Signed()
        loaded: dict[int, Op] = {}  # register -> the i32.load that wrote it, in this straight run
        for node in work.pop():
            if type(node) is Op:
                op, args = node.op, node.args
                if op is local_set:
                    target = node.outs[0]
                    if type(target) is Loc and target.i in candidates:
                        value = args[0]
                        if type(value) is Reg and value.h in loaded:
                            loads.append((target.i, id(loaded.pop(value.h))))
                        elif type(value) is Loc and value.i in candidates:
                            groups.join(target.i, value.i)
                        elif not (type(value) is Const and 0 <= value.value < _SIGN):
                            out.add(target.i)
                        continue
                reads_candidate = False
                for a in args:
                    if type(a) is Loc:
                        reads_candidate = reads_candidate or a.i in candidates
                    elif loaded and type(a) is Reg:
                        loaded.pop(a.h, None)  # a load's value read here is no longer only a local's
                if reads_candidate:
                    _reads(node, candidates, groups, out, ordered, stores, compares)
                for written in node.outs:
                    if type(written) is Reg:
                        if loaded:
                            loaded.pop(written.h, None)
                    elif type(written) is Loc and written.i in candidates:
                        out.add(written.i)  # written by anything but local.set (a call's result)
                if op is i32_load and type(node.outs[0]) is Reg:
                    loaded[node.outs[0].h] = node
            elif type(node) is not Gas:
                loaded = {}
                if type(node) in CONSTRUCTS:
                    work.extend(children(node))
                _rule_out(control_operands(node), candidates, out)
    dropped = {groups.find(i) for i in out}
    kept_groups = {groups.find(i) for i in ordered} - dropped
    kept = frozenset(i for i in candidates if groups.find(i) in kept_groups)
    if not kept:
        return Signed()
    signed = Signed(
        locals=kept,
        loads={op for i, op in loads if i in kept},
        stores={op for i, op in stores if i in kept},
        compares={op for members, op in compares if members[0] in kept},
    )
    signed.unsigned_view = bool(_viewed(func.body) - signed.loads - signed.stores)
    return signed


def _rule_out(operands: tuple[object, ...], candidates: set[int], out: set[int]) -> None:
    """Operands no signed local may be (a condition's, a branch's, a return's)."""
    for a in operands:
        if type(a) is Loc and a.i in candidates:
            out.add(a.i)


def _viewed(body: list[Node]) -> set[int]:
    """The accesses (by id) of ``body`` through the unsigned 32-bit view."""
    found: set[int] = set()
    work = [body]
    while work:
        for node in work.pop():
            if type(node) is Op:
                if VIEW_OPS.get(node.op) is VIEW_U32:
                    found.add(id(node))
            elif type(node) in CONSTRUCTS:
                work.extend(children(node))
    return found


def _reads(node: Op, candidates: set[int], groups: _Groups, out: set[int], ordered: set[int],
           stores: list[tuple[int, int]], compares: list[tuple[tuple[int, ...], int]]) -> None:
    """An instruction other than ``local.set`` that reads candidate locals (see the module docstring)."""
    op, args = node.op, node.args
    locals_read = [a.i for a in args if type(a) is Loc and a.i in candidates]
    if op in _COMPARES:
        if all(type(a) is Const or (type(a) is Loc and a.i in candidates) for a in args):
            for i in locals_read[1:]:
                groups.join(locals_read[0], i)
            compares.append((tuple(locals_read), id(node)))
            if op in SIGNED_ORDERINGS:
                ordered.add(locals_read[0])
        else:
            out.update(locals_read)
    elif op is Opcode.I32_STORE and type(args[1]) is Loc and args[1].i in candidates:
        stores.append((args[1].i, id(node)))
        if type(args[0]) is Loc and args[0].i in candidates:  # an address: used as a number
            out.add(args[0].i)
    elif op is not Opcode.I32_EQZ:
        out.update(locals_read)
