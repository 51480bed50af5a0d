"""The numeric and memory-access instructions of the reference, as tables built from their names.

Every numeric instruction of the opcode table is named ``type.op`` or
``type.op_type2_sign``; :data:`NUMERIC` maps its :class:`~..opcodes.Opcode`
to ``(arity, function)``, the function taking the operands' bit patterns in
stack order and returning the result's. The rows are derived from the names
by a few family tables (integer, float, conversion), so that a missing or
misread instruction fails at import instead of silently.
:data:`LOADS` and :data:`STORES` describe each memory access by its width in
bytes and how the bytes become a value (sign extension) and back (wrapping).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from ..opcodes import OPS, Family, Imm, Opcode
from . import floats, ints

Operation = Callable[..., int]

_INT_OPS: dict[str, Callable[..., int]] = {
    "add": ints.add, "sub": ints.sub, "mul": ints.mul, "div_s": ints.div_s, "div_u": ints.div_u,
    "rem_s": ints.rem_s, "rem_u": ints.rem_u, "and": ints.and_, "or": ints.or_, "xor": ints.xor,
    "shl": ints.shl, "shr_s": ints.shr_s, "shr_u": ints.shr_u, "rotl": ints.rotl, "rotr": ints.rotr,
    "clz": ints.clz, "ctz": ints.ctz, "popcnt": ints.popcnt, "eqz": ints.eqz, "eq": ints.eq,
    "ne": ints.ne, "lt_s": ints.lt_s, "lt_u": ints.lt_u, "gt_s": ints.gt_s, "gt_u": ints.gt_u,
    "le_s": ints.le_s, "le_u": ints.le_u, "ge_s": ints.ge_s, "ge_u": ints.ge_u,
}

_FLOAT_OPS: dict[str, Callable[..., int]] = {
    "abs": floats.abs_, "neg": floats.neg, "copysign": floats.copysign, "ceil": floats.ceil,
    "floor": floats.floor, "trunc": floats.trunc, "nearest": floats.nearest, "sqrt": floats.sqrt,
    "add": floats.add, "sub": floats.sub, "mul": floats.mul, "div": floats.div, "min": floats.min_,
    "max": floats.max_, "eq": floats.eq, "ne": floats.ne, "lt": floats.lt, "gt": floats.gt,
    "le": floats.le, "ge": floats.ge,
}

_WIDTH = {"i32": 32, "i64": 64, "f32": 32, "f64": 64}


def _identity(a: int) -> int:
    return a


# Conversions: a pattern over the name -> a builder from its groups.
_CONVERSIONS: list[tuple[str, Callable[..., Operation]]] = [
    (r"i32\.wrap_i64", lambda: partial(ints.wrap, 32)),
    (r"i64\.extend_i32_s", lambda: partial(ints.extend_s, 64, 32)),
    (r"i64\.extend_i32_u", lambda: _identity),
    (r"i(32|64)\.extend(8|16|32)_s", lambda n, k: partial(ints.extend_s, int(n), int(k))),
    (r"i(32|64)\.trunc_f(32|64)_([su])",
     lambda b, n, s: partial(floats.trunc_to_int, int(n), int(b), s == "s")),
    (r"i(32|64)\.trunc_sat_f(32|64)_([su])",
     lambda b, n, s: partial(floats.trunc_sat_to_int, int(n), int(b), s == "s")),
    (r"f(32|64)\.convert_i(32|64)_([su])",
     lambda n, b, s: partial(floats.convert_from_int, int(n), int(b), s == "s")),
    (r"f32\.demote_f64", lambda: floats.demote),
    (r"f64\.promote_f32", lambda: floats.promote),
    (r"[if](32|64)\.reinterpret_[if](32|64)", lambda n, m: _identity),
]


def _numeric(name: str) -> Operation:
    """The function of the numeric instruction ``name`` (KeyError if none matches)."""
    for pattern, build in _CONVERSIONS:
        match = re.fullmatch(pattern, name)
        if match:
            return build(*match.groups())
    vtype, op = name.split(".")
    table = _INT_OPS if vtype[0] == "i" else _FLOAT_OPS
    return partial(table[op], _WIDTH[vtype])


NAN_CHOOSING: frozenset[Opcode] = frozenset(
    info.op for info in OPS.values()
    if info.family is Family.NUMERIC and info.name[0] == "f" and info.name.split(".")[1]
    in ("add", "sub", "mul", "div", "min", "max")
)
"""Float instructions that must pick one NaN when both operands are NaNs (the spec leaves it open)."""


NAN_MAKING: frozenset[Opcode] = frozenset(
    info.op for info in OPS.values()
    if info.family is Family.NUMERIC and info.pushes is not None and info.pushes[0].value[0] == "f"
    and not any(part in info.name for part in ("abs", "neg", "copysign", "reinterpret", "convert_i"))
)
"""Float instructions whose NaN results the spec leaves open (sign and payload): arithmetic, rounding,
``sqrt``, ``min``/``max``, promotion and demotion; not the bit operations nor integer conversions."""


CANONICAL_NAN_BITS: dict[int, int] = {32: 0x7FC0_0000, 64: 0x7FF8_0000_0000_0000}
"""The positive canonical NaN of each float width: quiet bit alone in the fraction, sign clear."""


def is_nan(width: int, bits: int) -> bool:
    """Whether an f32/f64 bit pattern is a NaN (exponent all ones, fraction not zero)."""
    fraction = width - 9 if width == 32 else width - 12
    exponent = (bits >> fraction) & ((1 << (width - 1 - fraction)) - 1)
    return exponent == (1 << (width - 1 - fraction)) - 1 and bits & ((1 << fraction) - 1) != 0


NUMERIC: dict[Opcode, tuple[int, Operation]] = {
    info.op: (len(info.pops or ()), _numeric(info.name))
    for info in OPS.values() if info.family is Family.NUMERIC
}
"""Numeric opcode -> (operand count, function on bit patterns)."""


@dataclass(frozen=True, slots=True)
class Access:
    """One load or store: bytes touched, and for loads the sign extension into ``bits``."""

    width: int
    bits: int
    signed: bool


def _access(name: str) -> Access:
    vtype, op = name.split(".")
    match = re.fullmatch(r"(load|store)(8|16|32)?(_[su])?", op)
    assert match is not None, name
    size = int(match.group(2) or _WIDTH[vtype])
    return Access(size // 8, _WIDTH[vtype], match.group(3) == "_s")


LOADS: dict[Opcode, Access] = {
    info.op: _access(info.name) for info in OPS.values() if info.imm is Imm.MEMARG and ".load" in info.name
}
"""Load opcode -> its access."""

STORES: dict[Opcode, Access] = {
    info.op: _access(info.name) for info in OPS.values() if info.imm is Imm.MEMARG and ".store" in info.name
}
"""Store opcode -> its access."""


def load_value(access: Access, raw: bytes | bytearray) -> int:
    """The bit pattern a load of ``raw`` (little-endian) pushes."""
    value = int.from_bytes(raw, "little")
    if access.signed:
        return ints.extend_s(access.bits, access.width * 8, value)
    return value


def store_bytes(access: Access, value: int) -> bytes:
    """The bytes a store writes: the low ``width`` bytes of the value, little-endian."""
    return (value & ((1 << (access.width * 8)) - 1)).to_bytes(access.width, "little")
