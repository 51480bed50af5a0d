"""The ``name`` custom section (spec appendix 7.4): module, function and local names.

Theory of operation: the section's payload is a sequence of subsections,
each an id byte, a u32 size and a body of exactly that size, in increasing
id order. Module (0), function (1) and local (2) names are read; other ids
(the extended-name proposal's labels, types, ...) are skipped by size. A
name map is a vector of ``(index, name)`` pairs; the local-name map is a
vector of ``(function index, name map)``. Any inconsistency raises
:class:`DecodeError`; the decoder catches it and drops the whole section,
because custom-section contents never make a module malformed.
"""

from __future__ import annotations

from enum import IntEnum

from .errors import DecodeError
from .module import Names
from .reader import Reader


class NameSubsection(IntEnum):
    """Subsection ids of the name section."""

    MODULE = 0
    FUNCTION = 1
    LOCAL = 2


NAME_SECTION = "name"


def parse_names(data: bytes, start: int, end: int, max_name: int) -> Names:
    """Read the name section payload ``data[start:end]`` (after the section's own name)."""
    r = Reader(data, start, end)
    module: str | None = None
    functions: dict[int, str] = {}
    local_names: dict[int, dict[int, str]] = {}
    last_id = -1
    while not r.at_end():
        offset = r.pos
        sub_id = r.byte()
        if sub_id <= last_id:
            raise DecodeError("name subsections out of order", offset)
        last_id = sub_id
        size = r.u32()
        if size > r.remaining:
            raise DecodeError("length out of bounds", r.pos)
        sub = Reader(data, r.pos, r.pos + size)
        r.pos += size
        if sub_id == NameSubsection.MODULE:
            module = sub.name(max_name)
        elif sub_id == NameSubsection.FUNCTION:
            functions = _name_map(sub, max_name)
        elif sub_id == NameSubsection.LOCAL:
            local_names = _indirect_name_map(sub, max_name)
        else:
            continue
        if not sub.at_end():
            raise DecodeError("section size mismatch", sub.pos)
    return Names(module=module, functions=functions, locals=local_names)


def _name_map(r: Reader, max_name: int) -> dict[int, str]:
    out: dict[int, str] = {}
    for _ in range(r.vec_len()):
        index = r.u32()
        out[index] = r.name(max_name)
    return out


def _indirect_name_map(r: Reader, max_name: int) -> dict[int, dict[int, str]]:
    out: dict[int, dict[int, str]] = {}
    for _ in range(r.vec_len()):
        index = r.u32()
        out[index] = _name_map(r, max_name)
    return out
