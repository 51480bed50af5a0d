"""Values for generated programs: a chooser over random decisions, and interesting bit patterns.

Every decision a generator makes goes through a :class:`Chooser`, so one
seed reproduces one program. Values are bit patterns (i32/f32 as ``u32``,
i64/f64 as ``u64``), as ``call_raw`` and the reference take them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

from wasmpool.wasm.types import ValType

T = TypeVar("T")

WIDTH: dict[ValType, int] = {ValType.I32: 32, ValType.I64: 64, ValType.F32: 32, ValType.F64: 64}
NUM_TYPES: tuple[ValType, ...] = (ValType.I32, ValType.I64, ValType.F32, ValType.F64)


class Chooser:
    """The source of every random decision: a seeded :class:`random.Random`."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)

    def below(self, n: int) -> int:
        """An int in ``[0, n)``."""
        return self.rng.randrange(n)

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def chance(self, percent: int) -> bool:
        """True ``percent`` times in a hundred."""
        return self.rng.randrange(100) < percent

    def bits(self, width: int) -> int:
        return self.rng.getrandbits(width)


_I32 = [
    0, 1, 2, 3, 7, 8, 15, 16, 31, 32, 33, 63, 64, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x1_0000,
    0x7FFF_FFFF, 0x8000_0000, 0x8000_0001, 0xFFFF_FFFF, 0xFFFF_FFFE, 0xFFFF_FF80, 0xFFFF_8000, 0x5555_5555,
    0xAAAA_AAAA, 0x0F0F_0F0F,
]
_I64 = [
    0, 1, 2, 3, 31, 32, 33, 63, 64, 65, 0xFF, 0x80, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x1_0000_0000,
    0x1_0000_0001, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0x8000_0000_0000_0001,
    0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFE, 0xFFFF_FFFF_8000_0000, 0xFFFF_FFFF_7FFF_FFFF,
    0xFFFF_FFFF_0000_0000, 0x0000_0001_FFFF_FFFF, 0x5555_5555_5555_5555, 0x0123_4567_89AB_CDEF,
    0x20_0000_0000_0001, 0x1F_FFFF_FFFF_FFFF,  # around 2**53
]
_F32 = [
    0x0000_0000, 0x8000_0000, 0x3F80_0000, 0xBF80_0000, 0x3F00_0000, 0xBF00_0000, 0x3FC0_0000, 0x4020_0000,
    0xC020_0000, 0xBF7F_FFFF, 0x3F7F_FFFF, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0xFFC0_0000, 0x7FA0_0000,
    0xFFA0_0001, 0x7FC0_0001, 0x7F80_0001, 0x0000_0001, 0x8000_0001, 0x007F_FFFF, 0x0080_0000, 0x7F7F_FFFF,
    0xFF7F_FFFF, 0x4F00_0000, 0x4EFF_FFFF, 0xCF00_0000, 0xCF00_0001, 0x4F80_0000, 0x4F7F_FFFF, 0x5F00_0000,
    0x5EFF_FFFF, 0xDF00_0000, 0xDF00_0001, 0x5F80_0000, 0x5F7F_FFFF, 0x4B00_0000, 0x4B80_0000, 0x4CFF_FFFF,
]
_F64 = [
    0x0000_0000_0000_0000, 0x8000_0000_0000_0000, 0x3FF0_0000_0000_0000, 0xBFF0_0000_0000_0000,
    0x3FE0_0000_0000_0000, 0xBFE0_0000_0000_0000, 0x3FF8_0000_0000_0000, 0x4004_0000_0000_0000,
    0xBFEF_FFFF_FFFF_FFFF, 0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000, 0x7FF8_0000_0000_0000,
    0xFFF8_0000_0000_0000, 0x7FF4_0000_0000_0000, 0xFFF4_0000_0000_0001, 0x7FF8_0000_0000_0001,
    0x7FF0_0000_0000_0001, 0x0000_0000_0000_0001, 0x8000_0000_0000_0001, 0x000F_FFFF_FFFF_FFFF,
    0x0010_0000_0000_0000, 0x7FEF_FFFF_FFFF_FFFF, 0xFFEF_FFFF_FFFF_FFFF, 0x41DF_FFFF_FFC0_0000,
    0x41DF_FFFF_FFFF_FFFF, 0x41E0_0000_0000_0000, 0xC1E0_0000_0000_0000, 0xC1E0_0000_0020_0000,
    0xC1E0_0000_001F_FFFF, 0x41EF_FFFF_FFE0_0000, 0x41EF_FFFF_FFFF_FFFF, 0x41F0_0000_0000_0000,
    0x43DF_FFFF_FFFF_FFFF, 0x43E0_0000_0000_0000, 0xC3E0_0000_0000_0000, 0xC3E0_0000_0000_0001,
    0x43EF_FFFF_FFFF_FFFF, 0x43F0_0000_0000_0000, 0x4330_0000_0000_0000, 0x4340_0000_0000_0000,
    0x47EF_FFFF_E000_0000, 0x47EF_FFFF_F000_0000, 0x3690_0000_0000_0000, 0x36A0_0000_0000_0000,
]

INTERESTING: dict[ValType, list[int]] = {
    ValType.I32: _I32, ValType.I64: _I64, ValType.F32: _F32, ValType.F64: _F64,
}
"""Per numeric type: bit patterns at the edges of its operations (zeros, signs, limits, NaNs...)."""


def draw_value(chooser: Chooser, vtype: ValType) -> int:
    """A bit pattern of ``vtype``: mostly interesting, sometimes small, sometimes random."""
    roll = chooser.below(10)
    if roll < 6:
        return chooser.pick(INTERESTING[vtype])
    if roll < 8 and vtype in (ValType.I32, ValType.I64):
        return (chooser.below(41) - 20) & ((1 << WIDTH[vtype]) - 1)
    return chooser.bits(WIDTH[vtype])


_SPECIAL_FLOATS: dict[ValType, list[int]] = {
    ValType.F32: [0x0000_0000, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x3F80_0000, 0xBF80_0000, 0x0000_0001],
    ValType.F64: [0x0000_0000_0000_0000, 0x8000_0000_0000_0000, 0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000,
                  0x3FF0_0000_0000_0000, 0xBFF0_0000_0000_0000, 0x0000_0000_0000_0001],
}
"""Per float type: the operands that make NaNs out of numbers (zeros, infinities, -1 for sqrt)."""

_FRACTION_BITS: dict[ValType, int] = {ValType.F32: 23, ValType.F64: 52}


def draw_nan(chooser: Chooser, vtype: ValType) -> int:
    """A NaN of float type ``vtype``: random sign, quiet or signalling, random or single-bit or no payload.

    Canonicalizing engines must replace what arithmetic makes of these and keep
    them where only bits move (locals, memory, ``neg``, ``copysign``...).
    """
    fraction = _FRACTION_BITS[vtype]
    exponent = ((1 << (WIDTH[vtype] - 1 - fraction)) - 1) << fraction
    quiet = 1 << (fraction - 1)
    roll = chooser.below(4)
    if roll == 0:
        payload = quiet | chooser.bits(fraction - 1)  # quiet, with payload
    elif roll == 1:
        payload = 1 + chooser.bits(fraction - 2)  # signalling: quiet bit clear, payload not zero
    elif roll == 2:
        payload = quiet | 1 << chooser.below(fraction - 1)  # quiet, one payload bit
    else:
        payload = quiet  # the canonical NaN's fraction (maybe with the sign)
    return (chooser.bits(1) << (WIDTH[vtype] - 1)) | exponent | payload


def draw_nan_rich(chooser: Chooser, vtype: ValType) -> int:
    """Like :func:`draw_value`, but floats are NaNs (any payload) a third of the time and specials often."""
    if vtype not in _FRACTION_BITS:
        return draw_value(chooser, vtype)
    roll = chooser.below(10)
    if roll < 3:
        return draw_nan(chooser, vtype)
    if roll < 5:
        return chooser.pick(_SPECIAL_FLOATS[vtype])
    return draw_value(chooser, vtype)
