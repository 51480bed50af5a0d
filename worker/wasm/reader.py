"""Bounds-checked reading of the binary format's primitive values.

Theory of operation: a module is one ``bytes`` object; every read names a
position and an exclusive ``end`` (the end of the file, a section, or a
function body) and either returns ``(value, next_position)`` or raises a
:class:`DecodeError` carrying the offset where the bad value starts. Nothing
here ever indexes past ``end``, so no ``IndexError`` can escape.

Integers are LEB128 with the spec's exact rules for an ``N``-bit integer:

* at most ``ceil(N / 7)`` bytes; a continuation bit on the last allowed byte
  is "integer representation too long";
* on that last byte the bits beyond ``N`` must be zero (unsigned) or copies
  of the sign bit (signed), else "integer too large".

The module-level functions (``read_u32`` ...) are the fast path used by the
instruction decoder: encodings shorter than the maximum cannot break those
rules, so they are decoded by a plain loop, and only maximal-length ones go
through :func:`read_leb`'s checks. :class:`Reader` wraps the same decoding
with a moving position for the section decoders. :class:`Malformed` holds the
spec's malformed-module messages used by the whole decoder.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

from .errors import DecodeError, LimitError, UnsupportedFeature
from .types import VALTYPE_BY_CODE, TypeCode, ValType


class Malformed(StrEnum):
    """The spec's malformed-module messages (reference interpreter wording)."""

    UNEXPECTED_END = "unexpected end"
    UNEXPECTED_END_OF_SECTION = "unexpected end of section or function"
    TOO_LONG = "integer representation too long"
    TOO_LARGE = "integer too large"
    LENGTH_OUT_OF_BOUNDS = "length out of bounds"
    UTF8 = "malformed UTF-8 encoding"
    VALUE_TYPE = "malformed value type"
    REFERENCE_TYPE = "malformed reference type"
    ZERO_BYTE = "zero byte expected"
    SIMD = "unsupported feature: simd"
    MAGIC = "magic header not detected"
    VERSION = "unknown binary version"
    SECTION_ID = "malformed section id"
    SECTION_SIZE = "section size mismatch"
    SECTION_ORDER = "unexpected content after last section"
    FUNC_CODE = "function and code section have inconsistent lengths"
    DATA_COUNT = "data count and data section have inconsistent lengths"
    DATA_COUNT_REQUIRED = "data count section required"
    TOO_MANY_LOCALS = "too many locals"
    END_EXPECTED = "END opcode expected"
    ILLEGAL_OPCODE = "illegal opcode"
    FUNC_TYPE = "malformed function type"
    BLOCK_TYPE = "malformed block type"
    IMPORT_KIND = "malformed import kind"
    EXPORT_KIND = "malformed export kind"
    MUTABILITY = "malformed mutability"
    ELEM_KIND = "malformed element kind"
    ELEM_SEGMENT = "malformed elements segment kind"
    DATA_SEGMENT = "malformed data segment kind"


class LebBits(IntEnum):
    """Widths of the LEB128 integers the binary format uses."""

    FLAG = 1  # the limits flag, a one-bit LEB128 integer
    I32 = 32
    S33 = 33  # block types
    I64 = 64


def _max_bytes(bits: int) -> int:
    return (bits + 6) // 7


def read_leb(data: bytes, pos: int, end: int, bits: int, signed: bool,
             eof: str = Malformed.UNEXPECTED_END_OF_SECTION) -> tuple[int, int]:
    """Decode one ``bits``-wide LEB128 integer at ``pos``; returns ``(value, next_pos)``."""
    start = pos
    limit = _max_bytes(bits)
    result = shift = 0
    for index in range(limit):
        if pos >= end:
            raise DecodeError(eof, pos)
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte & 0x80:
            continue
        if index == limit - 1:
            _check_last_byte(byte, bits - 7 * index, signed, start)
        if signed and byte & 0x40:
            result -= 1 << shift
        return result, pos
    raise DecodeError(Malformed.TOO_LONG, start)


def _check_last_byte(byte: int, used: int, signed: bool, start: int) -> None:
    """The bits of the final byte beyond the integer's width must be padding."""
    if signed:
        mask = (0x7F >> (used - 1)) << (used - 1)  # the sign bit and everything above it
        ok = byte & mask in (0, mask)
    else:
        ok = not byte & ((0x7F >> used) << used)
    if not ok:
        raise DecodeError(Malformed.TOO_LARGE, start)


def read_u32(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """An unsigned 32-bit LEB128 integer.

    Encodings of up to four bytes cannot break the width rules, so they are
    decoded here directly; longer ones go through :func:`read_leb`'s checks.
    """
    result = shift = 0
    cur = pos
    while cur < end and shift < _FAST_BITS_32:
        byte = data[cur]
        cur += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, cur
        shift += 7
    return read_leb(data, pos, end, LebBits.I32, False)


def read_s32(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A signed 32-bit LEB128 integer (as a signed Python int); fast path as in :func:`read_u32`."""
    return _read_signed(data, pos, end, _FAST_BITS_32, LebBits.I32)


def read_s64(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """A signed 64-bit LEB128 integer (as a signed Python int); fast path as in :func:`read_u32`."""
    return _read_signed(data, pos, end, _FAST_BITS_64, LebBits.I64)


def _read_signed(data: bytes, pos: int, end: int, fast_bits: int, bits: int) -> tuple[int, int]:
    result = shift = 0
    cur = pos
    while cur < end and shift < fast_bits:
        byte = data[cur]
        cur += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return (result - (1 << shift) if byte & 0x40 else result), cur
    return read_leb(data, pos, end, bits, True)


_FAST_BITS_32 = 7 * (_max_bytes(LebBits.I32) - 1)  # bits carried by every byte but the checked last one
_FAST_BITS_64 = 7 * (_max_bytes(LebBits.I64) - 1)


def read_byte(data: bytes, pos: int, end: int) -> tuple[int, int]:
    """One raw byte."""
    if pos >= end:
        raise DecodeError(Malformed.UNEXPECTED_END_OF_SECTION, pos)
    return data[pos], pos + 1


def read_fixed(data: bytes, pos: int, end: int, size: int) -> tuple[int, int]:
    """A little-endian fixed-width unsigned integer (the bits of a float constant)."""
    stop = pos + size
    if stop > end:
        raise DecodeError(Malformed.UNEXPECTED_END_OF_SECTION, pos)
    return int.from_bytes(data[pos:stop], "little"), stop


def read_zero_byte(data: bytes, pos: int, end: int) -> int:
    """The reserved memory-index byte, which must be exactly ``0x00``; returns the next position."""
    byte, nxt = read_byte(data, pos, end)
    if byte:
        raise DecodeError(Malformed.ZERO_BYTE, pos)
    return nxt


def valtype_of(code: int, offset: int) -> ValType:
    """The value type a type byte encodes; v128 is refused as unsupported."""
    vt = VALTYPE_BY_CODE.get(code)
    if vt is None:
        raise DecodeError(Malformed.VALUE_TYPE, offset)
    if vt is ValType.V128:
        raise UnsupportedFeature(Malformed.SIMD, offset)
    return vt


def reftype_of(code: int, offset: int) -> ValType:
    """The reference type a type byte encodes."""
    if code == TypeCode.FUNCREF:
        return ValType.FUNCREF
    if code == TypeCode.EXTERNREF:
        return ValType.EXTERNREF
    raise DecodeError(Malformed.REFERENCE_TYPE, offset)


class Reader:
    """A moving position over ``data[pos:end]`` for the section decoders.

    ``eof`` is the message for running out of bytes: "unexpected end" at
    the top level, "unexpected end of section or function" inside one.
    """

    __slots__ = ("data", "end", "eof", "pos")

    def __init__(self, data: bytes, pos: int, end: int,
                 eof: str = Malformed.UNEXPECTED_END_OF_SECTION) -> None:
        self.data = data
        self.pos = pos
        self.end = end
        self.eof = eof

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def at_end(self) -> bool:
        return self.pos >= self.end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise DecodeError(self.eof, self.pos)
        byte = self.data[self.pos]
        self.pos += 1
        return byte

    def raw(self, size: int, message: str = Malformed.LENGTH_OUT_OF_BOUNDS) -> bytes:
        """``size`` bytes; more than remain is ``message``."""
        if size > self.end - self.pos:
            raise DecodeError(message, self.pos)
        start = self.pos
        self.pos += size
        return self.data[start:self.pos]

    def u32(self) -> int:
        value, self.pos = read_leb(self.data, self.pos, self.end, LebBits.I32, False, self.eof)
        return value

    def s32(self) -> int:
        value, self.pos = read_leb(self.data, self.pos, self.end, LebBits.I32, True, self.eof)
        return value

    def s64(self) -> int:
        value, self.pos = read_leb(self.data, self.pos, self.end, LebBits.I64, True, self.eof)
        return value

    def u1(self) -> int:
        """A one-bit flag encoded as LEB128 (limits): 0 or 1."""
        value, self.pos = read_leb(self.data, self.pos, self.end, LebBits.FLAG, False, self.eof)
        return value

    def valtype(self) -> ValType:
        offset = self.pos
        return valtype_of(self.byte(), offset)

    def reftype(self) -> ValType:
        offset = self.pos
        return reftype_of(self.byte(), offset)

    def count(self, limit: str, maximum: int, section: str | None = None) -> int:
        """A vector length, checked against its limit and the bytes left BEFORE anything is allocated.

        Every vector element takes at least one byte, so a count above the
        remaining bytes cannot be honest.
        """
        offset = self.pos
        n = self.u32()
        if n > maximum:
            raise LimitError(limit, n, maximum, offset, section)
        if n > self.end - self.pos:
            raise DecodeError(Malformed.UNEXPECTED_END_OF_SECTION, offset)
        return n

    def vec_len(self) -> int:
        """A vector length with no configured limit, checked against the bytes left."""
        offset = self.pos
        n = self.u32()
        if n > self.end - self.pos:
            raise DecodeError(Malformed.UNEXPECTED_END_OF_SECTION, offset)
        return n

    def name(self, max_length: int) -> str:
        """A UTF-8 name (vec(byte)), at most ``max_length`` bytes."""
        offset = self.pos
        size = self.u32()
        if size > max_length:
            raise LimitError("name_length", size, max_length, offset)
        raw = self.raw(size)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(Malformed.UTF8, offset) from None
