"""Python expression rules for every non-control instruction, grouped by family.

Each :class:`Rule` turns the Python expressions of an instruction's operands
into the Python expression (or statement) that computes it on the runtime
value representation (i32/i64 as unsigned ints, floats as floats, see
``numeric``). The simple integer instructions are inlined; wrapping ones
(add, sub, mul, shl...) leave their result unmasked (:attr:`X.wrap`) so that a
chain of them is masked once, by ``% 0x100000000`` (twice as fast as ``&``
when the value is already in range or just below it) or by ``& 0xffffffff``
for products and shifts; no mask at all when the operands are known small
enough that the exact result fits (:func:`result_bound`: byte loads, ``and``
with a constant, shifts by constants...). Signed comparisons flip the sign bit instead of
converting (``(a ^ 0x80000000) < (b ^ 0x80000000)``); everything with subtle
semantics calls the ``numeric`` helper of the same name (``i32_div_s``,
``f32_nearest``...), which the instance namespace provides. Comparisons yield
Python ``bool`` expressions (:attr:`X.cond`) so that ``if``/``br_if``/
``select`` can test them directly; as i32 values they become ``1``/``0``.

Rules also say how an expression may be moved by the emitter's folding:
``impure`` ones (memory and global reads, calls, anything that may trap) keep
their order relative to each other, ``dup`` operands are used twice and so
must be plain names, and ``lazy`` operands are evaluated conditionally and so
must be pure.

Only compiler-made names appear in rule output: ``m`` (the memory's
bytearray), ``t3``/``T3`` (table 3's element list / object), ``gv3``/``gb3``
(immutable global value / mutable global object), ``r3`` (function 3 as a
reference), helper names, and numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from ..numeric import CANONICALIZED_OPS
from ..numeric_float import (
    CANONICAL_NAN,
    SIGN_OPS_ARE_BITWISE,
    f32_from_bits,
    f32_round,
    f32_to_bits,
    f64_to_bits,
)
from ..opcodes import OPS, Family, Opcode
from ..types import ValType
from .align import const_zeros
from .ir import Const


@dataclass(frozen=True, slots=True)
class Scaled:
    """An i32 value known to be ``((base << shift) + add) mod 2**32`` (``base``: an operand's text).

    A view access at such an address indexes ``((base << (shift - s)) + (add >> s)) & mask``
    directly instead of shifting the address back (``s``: the view's shift), when ``add`` and the
    access's offset are multiples of the item size: ``w4[(l1 + 280) & 0x3fffffff]`` for the
    address ``(l1 << 2) + 1120``. No mask when ``base`` is an exact integer below ``bound`` small
    enough that the sum cannot reach it.
    """

    base: str
    shift: int
    add: int = 0
    bound: int = 0  # when not 0: ``base`` is an exact integer in [0, bound)

    def index(self, shift: int, offset: int) -> str | None:
        """The view index of the address plus ``offset`` for items of ``1 << shift`` bytes, or None."""
        low = (1 << shift) - 1
        if self.shift < shift or self.add & low or offset & low:
            return None
        text = self.wrapped(shift, "&", 0xFFFFFFFF >> shift)
        return f"({text}) + {offset >> shift}" if offset else text

    def value_index(self, shift: int) -> str | None:
        """The value itself shifted right by ``shift`` (its low bits known zero), or None.

        Written with ``%`` (a scaled local's step, :mod:`.scaled`): about twice as
        fast as ``&`` on a value in range or just outside it.
        """
        if self.shift < shift or self.add & ((1 << shift) - 1):
            return None
        return self.wrapped(shift, "%", 1 << (32 - shift))

    def wrapped(self, shift: int, op: str, reduce: int) -> str:
        """``((base << (self.shift - shift)) + (add >> shift))`` modulo ``2**(32 - shift)``.

        ``op``/``reduce``: ``&`` and the mask, or ``%`` and the modulus. A step
        in the upper half of the range is written as the subtraction it is
        (``(l1 << 2) - 8`` indexes ``(l1 - 2) & 0x3fffffff``). No reduction
        when ``base`` is bounded so that the sum stays in range.
        """
        base = self.base if self.shift == shift else f"({self.base} << {self.shift - shift})"
        add, modulus = self.add >> shift, 1 << (32 - shift)
        if add >= modulus >> 1:
            add -= modulus
        text = f"{base} + {add}" if add > 0 else f"{base} - {-add}" if add else base
        if add < 0 or not self.bound or ((self.bound - 1) << (self.shift - shift)) + add >= modulus:
            text = f"({text}) {op} {hex(reduce)}" if add else f"{text} {op} {hex(reduce)}"
        return text


@dataclass(unsafe_hash=True, slots=True)  # treated as immutable; a frozen init costs 3x
class X:
    """A Python expression with what the emitter must know to move it."""

    text: str
    atomic: bool = True  # usable as an operand without parentheses
    cond: bool = False  # a Python bool (comparison result), not yet an i32
    impure: bool = False  # reads mutable state, may trap or has effects
    reads: frozenset[str] = frozenset()  # local/register names it reads
    size: int = 1  # how many operations it folds (bounds nesting)
    wrap: int = 0  # 32/64: an integer only congruent to the value mod 2**wrap (needs a mask)
    big: bool = False  # with wrap: may be far outside the range (a product, a shift)
    bound: int = 0  # when not 0: the value is an exact integer in [0, bound) (see :func:`result_bound`)
    nan: int = 0  # a float that may be any NaN: its :class:`Nan` state, made canonical when stored
    align: int = 0  # an integer whose value's low ``align`` bits are known zero (see :mod:`.align`)
    scaled: Scaled | None = None  # an i32 known as ``(base << shift) + add`` (see :class:`Scaled`)


def paren(x: X) -> str:
    """``x`` ready to be an operand."""
    return x.text if x.atomic else f"({x.text})"


def as_value(x: X, keep_nan: bool = False) -> X:
    """The value as it must be stored: an i32 ``1``/``0`` from a condition, masks applied, NaNs canonical.

    ``keep_nan``: the value goes to a raw local (see :mod:`.nans`), which may hold any NaN that
    becomes the positive canonical one where it is used.
    """
    if x.nan:
        if keep_nan and x.nan == Nan.POSITIVE:
            return x
        canon = NAN_NAMES[Nan(x.nan)]
        if x.size == 1 and x.text.isidentifier():  # a raw local: no temporary needed
            text = f"({x.text} if {x.text} == {x.text} else {canon})"
        else:
            text = f"({NAN_TEMP} if ({NAN_TEMP} := {x.text}) == {NAN_TEMP} else {canon})"
        return X(text, True, False, x.impure, x.reads, x.size + 1)
    if x.cond:
        return X(f"1 if {x.text} else 0", False, False, x.impure, x.reads, x.size, bound=2)
    if x.wrap:
        # ``%`` returns an in-range left operand as it is (and fixes a negative one) about twice
        # as fast as ``&``; ``&`` wins when the value is far outside the range.
        norm = f"& {MASKS[x.wrap]}" if x.big else f"% {MODULI[x.wrap]}"
        return X(f"{paren(x)} {norm}", False, False, x.impure, x.reads, x.size + 1, 0, False, 0, 0, x.align,
                 x.scaled)
    return x


def loose(x: X) -> X:
    """The value for an operation that only needs it modulo 2**width: conditions become ints."""
    return as_value(x) if x.cond else x


MASKS: dict[int, str] = {32: "0xffffffff", 64: "0xffffffffffffffff"}
MODULI: dict[int, str] = {32: "0x100000000", 64: "0x10000000000000000"}


def condition(x: X) -> X:
    """``x`` as the test of a conditional expression: comparisons as they are, values in parentheses."""
    if x.cond or x.atomic:
        return x
    return X(f"({x.text})", True, False, x.impure, x.reads, x.size)


# ---------------------------------------------------------------- literals


def float_literal(value: float) -> str | None:
    """A Python literal for a finite float constant (None for NaN and infinities)."""
    if math.isnan(value) or math.isinf(value):
        return None
    return repr(value)


def const_text(c: Const) -> X:
    """A constant operand as an expression (non-finite floats get names from :func:`const_name`)."""
    if c.value is None:
        return X("None")
    if c.type in (ValType.I32, ValType.I64):
        value = int(c.value)
        return X(str(value) if value < 65536 else hex(value), bound=value + 1 if value >= 0 else 0,
                 align=const_zeros(value))
    if c.type in (ValType.F32, ValType.F64):
        text = float_literal(float(c.value))
        if text is None:
            return X(const_name(c))
        return X(text, atomic=not text.startswith("-"))
    raise ValueError(f"no literal for {c}")


def const_name(c: Const) -> str:
    """The namespace name of a non-finite float constant (by its bit pattern)."""
    if c.type is ValType.F32:
        return f"kf32_{f32_to_bits(float(c.value)):08x}"
    return f"kf64_{f64_to_bits(float(c.value)):016x}"


# ---------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Rule:
    """How one instruction becomes Python."""

    build: Callable[[list[X], Any], str]
    cond: bool = False
    impure: bool = False
    atomic: bool = False
    stmt: bool = False  # no result: the text is a statement
    dup: tuple[int, ...] = ()
    lazy: tuple[int, ...] = ()
    names: tuple[str, ...] = ()  # namespace helpers it uses (for the instance namespace)
    loose: tuple[int, ...] = ()  # operands it accepts unmasked (it only needs their low bits)
    wraps: int = 0  # the result is unmasked: only congruent mod 2**wraps
    wraps_if_all: bool = False  # ... and only when every operand is (``and``)
    wraps_if_any: bool = False  # ... and only when some operand is (``or``/``xor``)
    big: bool = False  # the unmasked result may be far outside the range (products, shifts)
    value_first: bool = False  # an assignment statement: Python evaluates the value before the address
    nan: bool = False  # the result may be any NaN: canonicalized where it is stored (canonical rules only)
    nan_from: tuple[int, ...] = ()  # a sign operation: the result's :class:`Nan` state by its operand's


def _fmt(template: str) -> Callable[[list[X], Any], str]:
    def build(args: list[X], imm: Any) -> str:
        return template.format(*[a.text if a.atomic else f"({a.text})" for a in args])  # paren() inlined
    return build


def _rule(template: str, **kw: Any) -> Rule:
    return Rule(_fmt(template), **kw)


def _helper(name: str, impure: bool = False) -> Rule:
    """A call of the namespace helper ``name`` with the operands in stack order."""
    def build(args: list[X], imm: Any) -> str:
        return f"{name}({', '.join(a.text for a in args)})"
    return Rule(build, impure=impure, atomic=True, names=(name,))


def const_int(x: X) -> int | None:
    """The integer ``x`` is a literal of, or None (names and parenthesized expressions fail fast)."""
    text = x.text
    if text[:1].isalpha() or text[:1] in _NOT_INT_STARTS:  # ``int()`` would raise: skip the exception
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


_NOT_INT_STARTS = frozenset("(_")


# -- integer family
#
# Signed comparisons compare the unsigned representations by sign halves instead of flipping the
# sign bit (``(a ^ 0x80000000) < (b ^ 0x80000000)``): the flipped value is a new, usually
# two-digit, int each time, while comparisons allocate nothing. Against a constant ``c`` the test
# is one chained comparison (``a <s c`` for ``c >= 0``: ``not (c <= a < 0x80000000)``); between
# two values it picks the unsigned comparison or a sign test by ``a``'s half, so both operands
# must be plain names (``dup``).

_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _signed_vs_const(a: str, op: str, c: int, sign: int) -> str:
    """``a op c`` on signed values, for ``a`` and ``c`` in their unsigned representations."""
    k, s = (str(c) if c < 65536 else hex(c)), hex(sign)
    if c < sign:  # c >= 0: a negative a (a >= sign) is below it
        return {"<": f"not ({k} <= {a} < {s})", "<=": f"not ({k} < {a} < {s})",
                ">": f"{k} < {a} < {s}", ">=": f"{k} <= {a} < {s}"}[op]
    return {"<": f"{s} <= {a} < {k}", "<=": f"{s} <= {a} <= {k}",
            ">": f"not ({s} <= {a} <= {k})", ">=": f"not ({s} <= {a} < {k})"}[op]


def _int_rules(w: int) -> dict[str, Rule]:
    mask, sign, bits = (1 << w) - 1, 1 << (w - 1), w - 1
    m, s = hex(mask), hex(sign)

    def signed_cmp(op: str) -> Rule:
        def build(args: list[X], imm: Any) -> str:
            x, y, o = args[0], args[1], op
            if const_int(x) is not None and const_int(y) is None:
                x, y, o = y, x, _FLIPPED[o]
            c = const_int(y)
            if c is not None:
                return _signed_vs_const(paren(x), o, c, sign)
            if o in (">", ">="):
                x, y, o = y, x, _FLIPPED[o]
            a, b = paren(x), paren(y)
            return f"(({a} {o} {b} < {s}) if {a} < {s} else ({b} < {s} or {a} {o} {b}))"
        return Rule(build, cond=True, dup=(0, 1))

    def shift(kind: str) -> Rule:
        def build(args: list[X], imm: Any) -> str:
            a, b = args
            k = const_int(b)
            count = str(k & bits) if k is not None else f"({paren(b)} & {bits})"
            if kind == "shl":
                return f"{paren(a)} << {count}"
            if kind == "shr_u":
                return f"{paren(a)} >> {count}"
            return f"((({paren(a)} ^ {s}) - {s}) >> {count}) & {m}"
        if kind == "shl":
            return Rule(build, loose=(0, 1), wraps=w, big=True)
        return Rule(build, loose=(1,))

    def rotate(left: bool) -> Rule:
        name = f"i{w}_rot{'l' if left else 'r'}"

        def build(args: list[X], imm: Any) -> str:
            a, b = args
            k = const_int(b)
            if k is None:
                return f"{name}({a.text}, {b.text})"
            k = (k if left else -k) & bits
            if k == 0:
                return paren(a)
            return f"({a.text} << {k}) | ({a.text} >> {w - k})"
        return Rule(build, dup=(0,), names=(name,), wraps=w, big=True)

    def extend(from_bits: int) -> Rule:
        low, top = (1 << from_bits) - 1, 1 << (from_bits - 1)
        return _rule(f"(({{0}} & {hex(low)}) ^ {hex(top)}) - {hex(top)}", loose=(0,), wraps=w)

    rules = {
        "eqz": _rule("{0} == 0", cond=True),
        "eq": _rule("{0} == {1}", cond=True),
        "ne": _rule("{0} != {1}", cond=True),
        "lt_u": _rule("{0} < {1}", cond=True),
        "gt_u": _rule("{0} > {1}", cond=True),
        "le_u": _rule("{0} <= {1}", cond=True),
        "ge_u": _rule("{0} >= {1}", cond=True),
        "lt_s": signed_cmp("<"),
        "gt_s": signed_cmp(">"),
        "le_s": signed_cmp("<="),
        "ge_s": signed_cmp(">="),
        "clz": _rule(f"{w} - {{0}}.bit_length()"),
        "ctz": _helper(f"i{w}_ctz"),
        "popcnt": _rule("{0}.bit_count()"),
        "add": _rule("{0} + {1}", loose=(0, 1), wraps=w),
        "sub": _rule("{0} - {1}", loose=(0, 1), wraps=w),
        "mul": _rule("{0} * {1}", loose=(0, 1), wraps=w, big=True),
        "div_u": _rule("{0} // {1}", impure=True),
        "rem_u": _rule("{0} % {1}", impure=True),
        "div_s": _helper(f"i{w}_div_s", impure=True),
        "rem_s": _helper(f"i{w}_rem_s", impure=True),
        "and": _rule("{0} & {1}", loose=(0, 1), wraps=w, wraps_if_all=True),
        "or": _rule("{0} | {1}", loose=(0, 1), wraps=w, wraps_if_any=True),
        "xor": _rule("{0} ^ {1}", loose=(0, 1), wraps=w, wraps_if_any=True),
        "shl": shift("shl"),
        "shr_u": shift("shr_u"),
        "shr_s": shift("shr_s"),
        "rotl": rotate(True),
        "rotr": rotate(False),
        "extend8_s": extend(8),
        "extend16_s": extend(16),
    }
    if w == 64:
        rules["extend32_s"] = extend(32)
    return rules


# -- float family

F32_ROUND_NAMES = ("f32p", "f32u")


def f32_rounded(text: str) -> str:
    """``text`` (a double) rounded to f32: ``numeric_float.f32_round`` inlined as its two C calls."""
    return f"f32u(f32p({text}))[0]"


# An f32 result compared with a constant need not be rounded: rounding is monotonic, so
# ``f32(s) > c`` holds exactly when ``s`` lies above the midpoint between ``c`` and the next f32
# (or on it, when the tie rounds up: the next f32's significand is even), and likewise for the
# other orders. ``s`` is the double the rounding would have been applied to; NaN compares false
# both ways. Only normal constants away from the range's ends are taken.

def _unrounded(text: str) -> str | None:
    """``E`` when ``text`` is exactly the rounding ``f32u(f32p(E))[0]`` (see :func:`f32_rounded`)."""
    head, tail = "f32u(f32p(", "))[0]"
    if not (text.startswith(head) and text.endswith(tail)):
        return None
    depth = 0
    for i, ch in enumerate(text):  # the call's own parenthesis must close right before "[0]"
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if not depth:
                return text[len(head):-len(tail)] if i == len(text) - len(tail) + 1 else None
    return None


def _float_const(x: X) -> float | None:
    try:
        return float(x.text)
    except ValueError:
        return None


def f32_threshold(op: str, c: float) -> tuple[str, float] | None:
    """``(op2, t)`` such that ``f32_round(s) op c`` iff ``s op2 t`` for every double ``s``, or None."""
    if not 2.0**-125 < abs(c) < 2.0**127 or f32_round(c) != c:
        return None
    bits = f32_to_bits(c)
    step = 1 if c > 0 else -1  # the bit pattern's step toward +inf
    up_bits, down_bits = bits + step, bits - step
    up, down = f32_from_bits(up_bits), f32_from_bits(down_bits)
    if op in (">", "<="):
        t, tie_true = (c + up) / 2, (up_bits if op == ">" else bits) & 1 == 0
    else:
        t, tie_true = (down + c) / 2, (bits if op == ">=" else down_bits) & 1 == 0
    strict = {">": ">", ">=": ">", "<": "<", "<=": "<"}[op]
    return (strict + "=" if tie_true else strict), t


def _f32_order(op: str) -> Callable[[list[X], Any], str]:
    """The f32 comparison ``op``, testing an unrounded result against a constant when it can."""
    def build(args: list[X], imm: Any) -> str:
        x, o, c = args[0], op, _float_const(args[1])
        if c is None:
            x, o, c = args[1], _FLIPPED[op], _float_const(args[0])
        inner = _unrounded(x.text) if c is not None else None
        found = f32_threshold(o, c) if inner is not None and c is not None else None
        if found is not None:
            return f"({inner}) {found[0]} {found[1]!r}"
        return f"{paren(args[0])} {op} {paren(args[1])}"
    return build


def _float_rules(w: int) -> dict[str, Rule]:
    rnd = w == 32

    def arith(op: str) -> Rule:
        if rnd:
            return _rule(f32_rounded(f"{{0}} {op} {{1}}"), atomic=True, names=F32_ROUND_NAMES)
        return _rule(f"{{0}} {op} {{1}}")

    def div() -> Rule:
        name = f"f{w}_div"

        def build(args: list[X], imm: Any) -> str:
            a, b = args
            quotient = f"{paren(a)} / {paren(b)}"
            if rnd:
                quotient = f32_rounded(quotient)
            return f"{quotient} if {b.text} else {name}({a.text}, {b.text})"
        return Rule(build, dup=(0, 1), names=(name, *F32_ROUND_NAMES))

    def order(op: str) -> Rule:
        return Rule(_f32_order(op), cond=True) if rnd else _rule(f"{{0}} {op} {{1}}", cond=True)

    rules = {
        "eq": _rule("{0} == {1}", cond=True),
        "ne": _rule("{0} != {1}", cond=True),
        "lt": order("<"),
        "gt": order(">"),
        "le": order("<="),
        "ge": order(">="),
        "add": arith("+"),
        "sub": arith("-"),
        "mul": arith("*"),
        "div": div(),
    }
    if SIGN_OPS_ARE_BITWISE:
        rules["neg"] = _rule("-{0}")
        rules["abs"] = _rule("abs({0})", atomic=True, names=("abs",))
        rules["copysign"] = Rule(lambda a, imm: f"copysign({a[0].text}, {a[1].text})", atomic=True,
                                 names=("copysign",))
    return rules


def _conversion_rules() -> dict[str, Rule]:
    return {
        "i32.wrap_i64": _rule("{0} & 0xffffffff", loose=(0,)),
        "i64.extend_i32_s": _rule("({0} ^ 0x80000000) - 0x80000000", wraps=64),
        "i64.extend_i32_u": _rule("{0}", atomic=True),  # the i32 value is its own u64 extension
        "f64.convert_i32_s": _rule("float(({0} ^ 0x80000000) - 0x80000000)", atomic=True,
                                   names=("float",)),
        "f64.convert_i32_u": _rule("float({0})", atomic=True, names=("float",)),
        "f64.convert_i64_s": _rule("float(({0} ^ 0x8000000000000000) - 0x8000000000000000)", atomic=True,
                                   names=("float",)),
        "f64.convert_i64_u": _rule("float({0})", atomic=True, names=("float",)),
        "f32.convert_i32_s": _rule(f32_rounded("float(({0} ^ 0x80000000) - 0x80000000)"), atomic=True,
                                   names=("float", *F32_ROUND_NAMES)),
        "f32.convert_i32_u": _rule(f32_rounded("float({0})"), atomic=True, names=("float", *F32_ROUND_NAMES)),
    }


def _numeric_rules() -> dict[Opcode, Rule]:
    by_name: dict[str, Rule] = {}
    for w in (32, 64):
        by_name.update({f"i{w}.{k}": v for k, v in _int_rules(w).items()})
        by_name.update({f"f{w}.{k}": v for k, v in _float_rules(w).items()})
    by_name.update(_conversion_rules())
    rules: dict[Opcode, Rule] = {}
    for info in OPS.values():
        if info.family is not Family.NUMERIC:
            continue
        rule = by_name.get(info.name)
        if rule is None:  # the numeric helper of the same name
            trapping = ".trunc_f" in info.name
            rule = _helper(info.name.replace(".", "_"), impure=trapping)
        rules[info.op] = rule
    return rules


# -- memory family: the effective address is the operand plus the static offset


def _ea(addr: X, offset: int) -> str:
    value = const_int(addr)
    if value is not None:
        return str(value + offset)
    return f"{paren(addr)} + {offset}" if offset else addr.text


def _load(template: str, *names: str) -> Rule:
    def build(args: list[X], imm: Any) -> str:
        return template.format(ea=_ea(args[0], imm[1]))
    return Rule(build, impure=True, atomic=template.endswith(("]", ")")), names=names)


def _store(template: str, *names: str) -> Rule:
    """A store through a helper call: ``{ea}`` the address, ``{v}`` the value as it is."""
    def build(args: list[X], imm: Any) -> str:
        return template.format(ea=_ea(args[0], imm[1]), v=args[1].text)
    return Rule(build, impure=True, stmt=True, names=names)


def _narrow_store(template: str, mask: int, *names: str) -> Rule:
    """A store of the value's low bits (``{v}``, masked by ``mask``), unmasked when its bound fits.

    A value known to lie in ``[0, mask]`` (:attr:`X.bound`: a byte load, an
    ``and`` with a small constant...) is its own low bits: ``m[a] = m[b]``
    copies a byte without ``& 0xff``.
    """
    def build(args: list[X], imm: Any) -> str:
        value = args[1]
        low = paren(value) if 0 < value.bound <= mask + 1 else f"{paren(value)} & {mask:#x}"
        return template.format(ea=_ea(args[0], imm[1]), v=low)
    return Rule(build, impure=True, stmt=True, names=names, loose=(1,), value_first=template.startswith("m["))


# Aligned accesses of 4 and 8 bytes index a typed view of the memory (``w4[ea >> 2]``, see
# ``runtime.memory``), about twice as fast as a ``struct`` accessor; an unaligned address takes the
# accessor. A constant address is aligned or not when compiled, and so is an address whose
# alignment is known (:attr:`X.align`, see :mod:`.align`) with an offset that keeps it; any other
# address is tested (``ea & 3``) through a walrus temporary unless it is a plain name. A load's
# temporary (``ea``) is read right after it is assigned, before anything else runs, so nested
# loads may share it; a store's (``sa``) is assigned before its value is computed, which may hold
# loads, so it has its own.


@dataclass(frozen=True, slots=True)
class View:
    """A typed view of the memory: its local name, its ``Memory`` attribute and its item size."""

    name: str
    attr: str
    size: int

    @property
    def shift(self) -> int:
        return self.size.bit_length() - 1


VIEW_U32 = View("w4", "w32", 4)
VIEW_U64 = View("w8", "w64", 8)
VIEW_F64 = View("wd", "wf64", 8)
VIEW_I32 = View("wi", "wi32", 4)  # signed: only for the locals of ``compiler.signed``
VIEWS: tuple[View, ...] = (VIEW_U32, VIEW_U64, VIEW_F64, VIEW_I32)
LOAD_TEMP, STORE_TEMP = "ea", "sa"


def _index(ea: str, shift: int) -> str:
    """The view index of the aligned effective address ``ea``."""
    return f"{ea} >> {shift}" if ea.isidentifier() else f"({ea}) >> {shift}"


def _view_place(view: View, args: list[X], imm: Any, temp: str) -> tuple[str | None, str, str | None]:
    """Where an access through ``view`` at ``args[0] + offset`` goes: ``(item, ea, test)``.

    ``item`` is the view item of an aligned access (None: a constant address
    that is not aligned, always the fallback at ``ea``); ``test`` is None
    when the address is known aligned, else the expression whose low bits
    say whether it is, at run time (``ea`` then names its value, in ``temp``
    when it is not a plain name).
    """
    shift, low = view.shift, view.size - 1
    value = const_int(args[0])
    if value is not None:
        ea = value + imm[1]
        return (None if ea & low else f"{view.name}[{ea >> shift}]"), f"{ea}", None
    address = _ea(args[0], imm[1])
    scaled = args[0].scaled.index(shift, imm[1]) if args[0].scaled else None
    if scaled is not None:
        return f"{view.name}[{scaled}]", address, None
    if args[0].align >= shift and not imm[1] & low:
        return f"{view.name}[{_index(address, shift)}]", address, None
    if address.isidentifier():
        return f"{view.name}[{address} >> {shift}]", address, address
    return f"{view.name}[{temp} >> {shift}]", temp, f"({temp} := {address})"


def _view_load(view: View, fallback: str) -> Rule:
    """A load through ``view`` when aligned, else ``fallback(m, ea)[0]``."""
    low = view.size - 1

    def build(args: list[X], imm: Any) -> str:
        item, ea, test = _view_place(view, args, imm, LOAD_TEMP)
        if item is None:
            return f"{fallback}(m, {ea})[0]"
        return item if test is None else f"({item} if not {test} & {low} else {fallback}(m, {ea})[0])"
    return Rule(build, impure=True, atomic=True, names=(fallback,))


def _view_store(view: View, fallback: str, mask: str = "") -> Rule:
    """A store through ``view`` when aligned, else ``fallback(m, ea, v)``: one or two lines."""
    low = view.size - 1

    def build(args: list[X], imm: Any) -> str:
        v = f"{paren(args[1])} & {mask}" if mask else args[1].text
        item, ea, test = _view_place(view, args, imm, STORE_TEMP)
        if item is None:
            return f"{fallback}(m, {ea}, {v})"
        if test is None:
            return f"{item} = {v}"
        return f"if {test} & {low}: {fallback}(m, {ea}, {v})\nelse: {item} = {v}"
    # value_first: the aligned form is an assignment, which evaluates the value before the address
    return Rule(build, impure=True, stmt=True, names=(fallback,), loose=(1,) if mask else (),
                value_first=True)


def _statement(template: str, *names: str) -> Rule:
    """A statement with effects: ``{args}`` are the operands, ``{imm}`` the immediate."""
    def build(args: list[X], imm: Any) -> str:
        return template.format(args=", ".join(a.text for a in args), imm=imm)
    return Rule(build, impure=True, stmt=True, names=names)


_MEMORY_RULES: dict[Opcode, Rule] = {
    Opcode.I32_LOAD: _view_load(VIEW_U32, "ld_u32"),
    Opcode.I64_LOAD: _view_load(VIEW_U64, "ld_u64"),
    Opcode.F32_LOAD: _load("f32_load(m, {ea})", "f32_load"),
    Opcode.F64_LOAD: _view_load(VIEW_F64, "ld_f64"),
    Opcode.I32_LOAD8_S: _load("((m[{ea}] ^ 0x80) - 0x80) & 0xffffffff"),
    Opcode.I32_LOAD8_U: _load("m[{ea}]"),
    Opcode.I32_LOAD16_S: _load("ld_i16(m, {ea})[0] & 0xffffffff", "ld_i16"),
    Opcode.I32_LOAD16_U: _load("ld_u16(m, {ea})[0]", "ld_u16"),
    Opcode.I64_LOAD8_S: _load("((m[{ea}] ^ 0x80) - 0x80) & 0xffffffffffffffff"),
    Opcode.I64_LOAD8_U: _load("m[{ea}]"),
    Opcode.I64_LOAD16_S: _load("ld_i16(m, {ea})[0] & 0xffffffffffffffff", "ld_i16"),
    Opcode.I64_LOAD16_U: _load("ld_u16(m, {ea})[0]", "ld_u16"),
    Opcode.I64_LOAD32_S: _load("ld_i32(m, {ea})[0] & 0xffffffffffffffff", "ld_i32"),
    Opcode.I64_LOAD32_U: _view_load(VIEW_U32, "ld_u32"),
    Opcode.I32_STORE: _view_store(VIEW_U32, "st_u32"),
    Opcode.I64_STORE: _view_store(VIEW_U64, "st_u64"),
    Opcode.F32_STORE: _store("f32_store(m, {ea}, {v})", "f32_store"),
    Opcode.F64_STORE: _view_store(VIEW_F64, "st_f64"),
    Opcode.I32_STORE8: _narrow_store("m[{ea}] = {v}", 0xff),
    Opcode.I32_STORE16: _narrow_store("st_u16(m, {ea}, {v})", 0xffff, "st_u16"),
    Opcode.I64_STORE8: _narrow_store("m[{ea}] = {v}", 0xff),
    Opcode.I64_STORE16: _narrow_store("st_u16(m, {ea}, {v})", 0xffff, "st_u16"),
    Opcode.I64_STORE32: _view_store(VIEW_U32, "st_u32", "0xffffffff"),
    Opcode.MEMORY_SIZE: Rule(lambda a, imm: "len(m) >> 16", impure=True, names=("len",)),
    Opcode.MEMORY_GROW: Rule(lambda a, imm: f"memory_grow(MEM, {a[0].text})", impure=True, atomic=True,
                             names=("memory_grow",)),
    Opcode.MEMORY_FILL: _statement("memory_fill(m, {args})", "memory_fill"),
    Opcode.MEMORY_COPY: _statement("memory_copy(m, {args})", "memory_copy"),
    Opcode.MEMORY_INIT: _statement("memory_init(m, D, {imm}, {args})", "memory_init"),
    Opcode.DATA_DROP: _statement("D[{imm}] = b''"),
}

# Signed locals (see :mod:`.signed`): the i32 loads into them and stores of them go through the
# signed view, and their comparisons are plain ones, with constant operands in their signed form.
SIGNED_LOAD = _view_load(VIEW_I32, "ld_i32")
SIGNED_STORE = _view_store(VIEW_I32, "st_i32")


def _signed_operand(x: X) -> str:
    """An operand of a comparison of signed locals: a local as it is, a constant as a signed number."""
    c = const_int(x)
    if c is None:
        return paren(x)
    return str(c - (1 << 32)) if c >= 1 << 31 else x.text


def _signed_compare(op: str) -> Rule:
    def build(args: list[X], imm: Any) -> str:
        return f"{_signed_operand(args[0])} {op} {_signed_operand(args[1])}"
    return Rule(build, cond=True)


SIGNED_RULES: dict[Opcode, Rule] = {
    Opcode.I32_LOAD: SIGNED_LOAD,
    Opcode.I32_STORE: SIGNED_STORE,
    Opcode.I32_EQ: _signed_compare("=="),
    Opcode.I32_NE: _signed_compare("!="),
    Opcode.I32_LT_S: _signed_compare("<"),
    Opcode.I32_GT_S: _signed_compare(">"),
    Opcode.I32_LE_S: _signed_compare("<="),
    Opcode.I32_GE_S: _signed_compare(">="),
}
"""The instructions that read or write a signed local, as the emitter writes them then."""

VIEW_OPS: dict[Opcode, View] = {
    Opcode.I32_LOAD: VIEW_U32, Opcode.I64_LOAD32_U: VIEW_U32, Opcode.I32_STORE: VIEW_U32,
    Opcode.I64_STORE32: VIEW_U32, Opcode.I64_LOAD: VIEW_U64, Opcode.I64_STORE: VIEW_U64,
    Opcode.F64_LOAD: VIEW_F64, Opcode.F64_STORE: VIEW_F64,
}
"""The instructions that access memory through a view, and through which one."""


# -- variables, parametric, tables and references


def _texts(args: list[X]) -> str:
    return ", ".join(a.text for a in args)


_OTHER_RULES: dict[Opcode, Rule] = {
    Opcode.SELECT: Rule(lambda a, imm: f"{paren(a[0])} if {a[2].text} else {paren(a[1])}", lazy=(0, 1)),
    Opcode.SELECT_T: Rule(lambda a, imm: f"{paren(a[0])} if {a[2].text} else {paren(a[1])}", lazy=(0, 1)),
    Opcode.GLOBAL_SET: _statement("gb{imm}.v = {args}"),
    Opcode.TABLE_GET: Rule(lambda a, imm: f"table_get(t{imm}, {a[0].text})", impure=True, atomic=True,
                           names=("table_get",)),
    Opcode.TABLE_SET: _statement("table_set(t{imm}, {args})", "table_set"),
    Opcode.TABLE_SIZE: Rule(lambda a, imm: f"len(t{imm})", impure=True, atomic=True, names=("len",)),
    Opcode.TABLE_GROW: Rule(lambda a, imm: f"table_grow(T{imm}, {a[0].text}, {a[1].text})", impure=True,
                            atomic=True, names=("table_grow",)),
    Opcode.TABLE_FILL: _statement("table_fill(t{imm}, {args})", "table_fill"),
    Opcode.TABLE_COPY: Rule(lambda a, imm: f"table_copy(t{imm[0]}, t{imm[1]}, {_texts(a)})",
                            impure=True, stmt=True, names=("table_copy",)),
    Opcode.TABLE_INIT: Rule(lambda a, imm: f"table_init(t{imm[1]}, E, {imm[0]}, {_texts(a)})",
                            impure=True, stmt=True, names=("table_init",)),
    Opcode.ELEM_DROP: _statement("E[{imm}] = ()"),
    Opcode.REF_IS_NULL: _rule("{0} is None", cond=True),
    Opcode.REF_FUNC: Rule(lambda a, imm: f"r{imm}", atomic=True),
}

RULES: dict[Opcode, Rule] = {**_numeric_rules(), **_MEMORY_RULES, **_OTHER_RULES}
"""Opcode -> its rule, for every instruction except control, locals and global.get."""


# ---------------------------------------------------------------- canonical NaNs
#
# With the engine's ``canonical_nans`` option, every instruction that can make a NaN from
# arithmetic (``numeric.CANONICALIZED_OPS``) gives the positive canonical NaN. Those
# instructions also propagate NaNs (a NaN operand gives a NaN result), so a chain of them is
# canonicalized once, where its value leaves the chain: their results are marked
# :attr:`X.nan` and their operands taken as they are (``loose``), and :func:`as_value` adds
# ``(q if (q := v) == q else CANON)`` when the value is stored, passed, returned or used by
# anything else (``copysign``, ``reinterpret``, ``select``, a store). Comparisons and
# float-to-integer truncations do not care which NaN they meet (a NaN compares unordered,
# truncation traps or saturates to 0 alike), so they take their operands unchecked too.
# ``neg`` and ``abs`` also take them unchecked: only the sign of the canonical NaN they
# would have met changes, so their result is marked with the sign its check must give
# (:class:`Nan`: ``-canon(x) == negcanon(-x)``, ``abs(canon(x)) == canon(abs(x))``). One
# temporary name serves every check: each reads it right after assigning it, before anything
# else runs.

class Nan(IntEnum):
    """What a float expression's NaN check must give, if the value turns out to be a NaN."""

    NONE = 0  # no check: the value is not a NaN made by arithmetic (its bits are kept)
    POSITIVE = 1  # the positive canonical NaN
    NEGATIVE = 2  # the negative canonical NaN (a negated arithmetic NaN)


NAN_TEMP = "q"  # the walrus temporary of the NaN check (a compiler-made name no other rule uses)
CANONICAL_NAN_NAME = const_name(Const(CANONICAL_NAN, ValType.F64))
"""The namespace name of the canonical NaN (the constant's own name, see :func:`const_name`)."""
NEGATIVE_CANONICAL_NAN_NAME = const_name(Const(-CANONICAL_NAN, ValType.F64))
"""The namespace name of the negated canonical NaN."""
NAN_NAMES: dict[Nan, str] = {Nan.POSITIVE: CANONICAL_NAN_NAME, Nan.NEGATIVE: NEGATIVE_CANONICAL_NAN_NAME}

_SIGN_OPS: dict[Opcode, tuple[int, ...]] = {
    **dict.fromkeys((Opcode.F32_NEG, Opcode.F64_NEG), (Nan.NONE, Nan.NEGATIVE, Nan.POSITIVE)),
    **dict.fromkeys((Opcode.F32_ABS, Opcode.F64_ABS), (Nan.NONE, Nan.POSITIVE, Nan.POSITIVE)),
}
"""Sign operations: the :class:`Nan` state of their result, indexed by their operand's."""

_NAN_BLIND = frozenset(
    info.op for info in OPS.values()
    if info.family is Family.NUMERIC and info.name[0] in "fi" and (
        (info.name[0] == "f" and info.name.split(".")[1] in ("eq", "ne", "lt", "gt", "le", "ge"))
        or ".trunc_f" in info.name or ".trunc_sat_f" in info.name)
)
"""Float comparisons and truncations to integers: their result does not depend on which NaN."""


def canonical_rules(rules: dict[Opcode, Rule]) -> dict[Opcode, Rule]:
    """``rules`` for canonical NaNs: NaN-making results marked, operands of NaN chains unchecked."""
    out = dict(rules)
    for op in CANONICALIZED_OPS | _NAN_BLIND:
        arity = len(OPS[op].pops or ())
        out[op] = replace(rules[op], loose=tuple(range(arity)))
    for op in CANONICALIZED_OPS:
        out[op] = replace(out[op], nan=True)
    for op, states in _SIGN_OPS.items():
        out[op] = replace(rules[op], loose=(0,), nan_from=states)
    return out


def result_nan(rule: Rule, args: list[X]) -> int:
    """The :class:`Nan` state of ``rule``'s result on ``args``."""
    if rule.nan:
        return Nan.POSITIVE
    return rule.nan_from[args[0].nan] if rule.nan_from else Nan.NONE


CANONICAL_RULES: dict[Opcode, Rule] = canonical_rules(RULES)
"""Opcode -> its rule under the ``canonical_nans`` option."""


def rules_for(canonical_nans: bool) -> dict[Opcode, Rule]:
    """The rule table of the engine's float semantics: the spec's, or with canonical NaNs."""
    return CANONICAL_RULES if canonical_nans else RULES

# Every helper a rule may call, so the runtime can check that its namespace provides them.
HELPER_NAMES: frozenset[str] = frozenset(n for rule in RULES.values() for n in rule.names)


# ---------------------------------------------------------------- value bounds (mask elision)
#
# A wrapping operation needs its mask only when its exact result may leave the range. When the
# operands' values are known to be small (a byte load, an ``and`` with a constant, a shift right, a
# constant), the exact result is bounded too, and when that bound fits the width the result is
# already the wasm value: ``((m[a] ^ (c & 255)) << 2) + 1024`` needs no ``& 0xffffffff``. Bounds are
# exclusive and only ever known for exact non-negative integers (``X.bound``); 0 means unknown.

BoundRule = Callable[[list[X], int], int]

IntBound = Callable[[int, int, "int | None", int], int]
"""A bound rule on numbers: (first operand's bound, second's, the constant count if any, width) -> bound.

The emitter applies it to expressions (:data:`BOUND_RULES`), ``compiler.bounds``
to the values of locals; one rule each, so both always agree."""


def _add_bound(a: int, b: int, k: int | None, w: int) -> int:
    return a + b - 1 if a and b else 0


def _mul_bound(a: int, b: int, k: int | None, w: int) -> int:
    return (a - 1) * (b - 1) + 1 if a and b else 0


def _and_bound(a: int, b: int, k: int | None, w: int) -> int:
    # x & y with y >= 0 lies in [0, y], whatever x is (even an unmasked negative intermediate)
    return min(a, b) if a and b else a or b


def _or_bound(a: int, b: int, k: int | None, w: int) -> int:
    return 1 << max((a - 1).bit_length(), (b - 1).bit_length()) if a and b else 0


def _shl_bound(a: int, b: int, k: int | None, w: int) -> int:
    return ((a - 1) << (k & (w - 1))) + 1 if a and k is not None else 0


def _shr_u_bound(a: int, b: int, k: int | None, w: int) -> int:
    top = (a or 1 << w) - 1  # the operand is masked: below 2**w
    return (top >> (k & (w - 1) if k is not None else 0)) + 1


def _fixed(bound: int) -> IntBound:
    return lambda a, b, k, w: bound


def _int_bounds() -> dict[Opcode, tuple[int, IntBound, bool]]:
    rules: dict[Opcode, tuple[int, IntBound, bool]] = {}
    by_op = {"add": _add_bound, "mul": _mul_bound, "and": _and_bound, "or": _or_bound,
             "xor": _or_bound, "shl": _shl_bound, "shr_u": _shr_u_bound}
    loads = {"load8_u": 1 << 8, "load16_u": 1 << 16, "load32_u": 1 << 32}
    for info in OPS.values():
        prefix, _, name = info.name.partition(".")
        if prefix not in ("i32", "i64"):
            continue
        w = int(prefix[1:])
        if name in by_op:
            rules[info.op] = (w, by_op[name], name in ("shl", "shr_u"))
        elif name in loads:
            rules[info.op] = (w, _fixed(loads[name]), False)
    return rules


INT_BOUNDS: dict[Opcode, tuple[int, IntBound, bool]] = _int_bounds()
"""Integer opcode -> (its width, how its result's bound follows from its operands', whether the rule
reads the second operand as a constant count)."""


def _on_expressions(rule: IntBound, counted: bool) -> BoundRule:
    def bound(args: list[X], w: int) -> int:
        second = args[1] if len(args) > 1 else None
        count = const_int(second) if counted and second is not None else None
        return rule(args[0].bound, 0 if second is None else second.bound, count, w)
    return bound


def _bound_rules() -> dict[Opcode, tuple[int, BoundRule]]:
    return {op: (w, _on_expressions(rule, counted)) for op, (w, rule, counted) in INT_BOUNDS.items()}


BOUND_RULES: dict[Opcode, tuple[int, BoundRule]] = _bound_rules()
"""Integer opcode -> (its width, how its result's bound follows from its operands')."""


def result_bound(op: Opcode, args: list[X]) -> tuple[int, int]:
    """(width, exclusive bound of the exact result or 0) of ``op`` on ``args``."""
    entry = BOUND_RULES.get(op)
    if entry is None:
        return 0, 0
    w, rule = entry
    return w, rule(args, w)
