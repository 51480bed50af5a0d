"""Straight-line emission: registers folded into the expressions that use them.

Theory of operation
-------------------
Registers are Python locals, but most are read exactly once, right after
they are written, so the emitter folds them: a register's expression stays
*pending* until its single use, where it is inlined (``l2 = (l0 + l1) %
0x100000000`` rather than ``s0 = l0; s1 = l1; s0 = ...; l2 = s0``). A pending
expression is written to its register instead (*flushed*) when something it
reads is about to be assigned, at every control node (joins need real
registers), or when it grows too big.

Expressions that are impure (read memory or globals, may trap, call) keep
their relative order. Pending entries are kept in creation order, which is
stack order, and an operation always consumes a suffix of the stack, so
inlining never reorders them; flushing an impure entry first flushes the
older impure ones, and a statement with effects flushes every impure entry
it does not consume. Pure expressions may move freely: a trap ends the call,
and nothing can observe a local that was written early.

The bookkeeping is linear: besides the pending entries themselves, the
folder keeps the impure ones in order and, for every name, the entries that
read it, so that flushing what reads a name, or the impure entries, touches
only the entries it writes out (a deep stack of pending values would
otherwise be rescanned at every assignment).

Integer results of wrapping operations stay unmasked while they feed other
wrapping operations (only the low bits matter there) and are masked once,
where a full value is needed (see ``exprs.X.wrap``).
"""

from __future__ import annotations

from itertools import takewhile

from ..numeric_float import F32_CELL_ROUNDS
from ..types import ValType
from .exprs import Rule, X, as_value, const_text
from .f32cell import ROUNDING, hoisted
from .ir import Const, Loc, Operand, Reg

MAX_FOLD = 48  # operations one folded expression may hold (bounds nesting and line length)

Line = tuple[int, str]
NAMED = 256  # register and local names made once for the process
REG_NAMES = tuple(f"s{h}" for h in range(NAMED))
LOC_NAMES = tuple(f"l{i}" for i in range(NAMED))
_INT_TYPES = frozenset({ValType.I32, ValType.I64})


class Folder:
    """The pending-expression machinery and the output lines of one function."""

    def __init__(self) -> None:
        self.out: list[Line] = []
        self.ind = 2
        self.pending: dict[str, X] = {}  # in creation order
        self.impure: dict[str, None] = {}  # the impure pending entries, in creation order
        self.readers: dict[str, dict[str, None]] = {}  # name -> pending entries reading it, in order
        self.constants: dict[str, float] = {}
        self.temps = 0
        self.raw_locals: frozenset[str] = frozenset()  # canonical NaNs: locals that may hold any NaN
        self.plain: dict[str, X] = {}  # a register's or local's own value, made once per name
        self.plain_consts: dict[tuple[ValType, int], X] = {}  # integer constants, made once per value
        self.local_zeros: dict[int, int] = {}  # locals whose values have known zero low bits (see .align)
        self.local_bounds: dict[int, int] = {}  # locals whose values are all below a bound (see .bounds)

    # ------------------------------------------------------------ lines

    def line(self, text: str, ind: int | None = None) -> None:
        at = self.ind if ind is None else ind
        if F32_CELL_ROUNDS and ROUNDING in text:  # an assignment's f32 roundings go through the cell
            lines = hoisted(text, self.temp)
            if lines is not None:
                self.out.extend((at, each) for each in lines)
                return
        self.out.append((at, text))

    def temp(self) -> str:
        """A fresh temporary's name."""
        self.temps += 1
        return f"t{self.temps}"

    # ------------------------------------------------------------ operands and folding

    def operand(self, operand: Operand) -> X:
        if type(operand) is Reg:
            h = operand.h
            name = REG_NAMES[h] if h < NAMED else f"s{h}"
            pending = self.take(name) if name in self.pending else None
            if pending is not None:
                return pending
            plain = self.plain.get(name)
            if plain is None:
                plain = self.plain[name] = X(name, reads=frozenset((name,)))
            return plain
        if type(operand) is Loc:
            i = operand.i
            name = LOC_NAMES[i] if i < NAMED else f"l{i}"
            plain = self.plain.get(name)
            if plain is None:
                plain = self.plain[name] = X(name, reads=frozenset((name,)), nan=name in self.raw_locals,
                                             bound=self.local_bounds.get(i, 0),
                                             align=self.local_zeros.get(i, 0))
            return plain
        if type(operand) is Const:
            return self.constant(operand)
        raise TypeError(f"not an operand: {operand!r}")

    def constant(self, const: Const) -> X:
        if const.type in _INT_TYPES:  # integers (never -0.0 or NaN): one expression per value
            key = (const.type, const.value)
            x = self.plain_consts.get(key)
            if x is None:
                x = self.plain_consts[key] = const_text(const)
            return x
        x = const_text(const)
        if x.text.startswith("kf"):
            self.constants[x.text] = float(const.value)
        return x

    def assign(self, target: str, x: X) -> None:
        """Emit ``target = x`` (``x`` no longer pending): older impure work runs first."""
        if x.impure:
            self.flush_impure()
        self.write(target, x)

    def write(self, target: str, x: X) -> None:
        self.flush_reading(target)
        if x.nan or x.cond or x.wrap:  # else as_value would return it as it is
            x = as_value(x, target in self.raw_locals)
        if x.text != target:
            self.line(f"{target} = {x.text}")

    def take(self, reg: str) -> X | None:
        """Remove ``reg``'s pending expression (if any) from the bookkeeping and return it."""
        x = self.pending.pop(reg, None)
        if x is not None:
            self.impure.pop(reg, None)
            for name in x.reads:
                readers = self.readers[name]
                del readers[reg]
                if not readers:
                    del self.readers[name]
        return x

    def put(self, reg: str, x: X) -> None:
        """Make ``x`` the newest pending expression, held for ``reg``."""
        if reg in self.pending:
            self.take(reg)
        self.pending[reg] = x
        if x.impure:
            self.impure[reg] = None
        for name in x.reads:
            self.readers.setdefault(name, {})[reg] = None

    def flush_one(self, reg: str) -> None:
        x = self.take(reg)
        if x is not None:
            self.write(reg, x)

    def flush_reading(self, name: str) -> None:
        """Write out pending expressions that read ``name`` before it changes."""
        readers = self.readers.get(name)
        if not readers:
            return
        for reg in list(readers):
            x = self.pending.get(reg)
            if x is not None and x.impure:
                self.flush_impure(upto=reg)
            self.flush_one(reg)

    def flush_impure(self, upto: str | None = None) -> None:
        """Write out pending impure expressions in their order (those older than ``upto``)."""
        if not self.impure:
            return
        older = list(takewhile(lambda reg: reg != upto, self.impure))
        for reg in older:
            self.flush_one(reg)

    def flush_all(self) -> None:
        while self.pending:
            self.flush_one(next(iter(self.pending)))

    def drop_pure(self) -> None:
        """Forget pending values a branch discards; impure ones still run."""
        self.flush_impure()
        self.pending.clear()
        self.readers.clear()

    def define(self, reg: str, x: X) -> None:
        """``reg`` now holds ``x``: keep it pending for its single use, or write it."""
        if x.size > MAX_FOLD:
            self.assign(reg, x)
        else:
            self.put(reg, x)

    def materialize(self, x: X, home: str) -> X:
        """``x`` as a plain name (writing it to ``home`` if it is an expression)."""
        if x.atomic and not x.cond and not x.impure and not x.wrap and x.size == 1:
            return x
        self.assign(home, x)
        return X(home, reads=frozenset((home,)))

    def home(self, operand: Operand) -> str:
        if type(operand) is Reg:
            return target_name(operand)
        return self.temp()


def reg_name(h: int) -> str:
    """The Python name of the register at height ``h``."""
    return REG_NAMES[h] if h < NAMED else f"s{h}"


def loc_name(i: int) -> str:
    """The Python name of local ``i``."""
    return LOC_NAMES[i] if i < NAMED else f"l{i}"


def target_name(target: Reg | Loc) -> str:
    """The Python name of a register or local (``str(target)``, without formatting the common ones)."""
    if type(target) is Reg:
        return REG_NAMES[target.h] if target.h < NAMED else f"s{target.h}"
    if type(target) is Loc:
        return LOC_NAMES[target.i] if target.i < NAMED else f"l{target.i}"
    return str(target)


def truth(x: X) -> X:
    """``x`` ready to be tested for non-zero: a condition as it is, an integer masked."""
    return x if x.cond else as_value(x)


def result_wrap(rule: Rule, args: list[X]) -> tuple[int, bool]:
    """Whether the result of ``rule`` on ``args`` still needs its mask, and whether it may be big.

    A sum of two masked values is at most one bit out of range; anything more
    (products, shifts, longer sums) is *big* and gets ``&`` rather than ``%``.
    """
    wrapped = [a for a in args if a.wrap]  # one pass over the operands (no generators)
    if rule.wraps_if_all:
        wrap = rule.wraps if len(wrapped) == len(args) else 0
    elif rule.wraps_if_any:
        wrap = rule.wraps if wrapped else 0
    else:
        wrap = rule.wraps
    if not wrap:  # most results: no mask, so bigness does not matter
        return 0, False
    if rule.big or (wrapped and rule.loose):
        return wrap, True
    for a in args:
        if a.big:
            return wrap, True
    return wrap, False
