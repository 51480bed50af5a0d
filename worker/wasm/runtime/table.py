"""Tables: a Python ``list`` of references that only ever grows in place.

Compiled code binds the list (``t0``) and indexes it directly, so growing
extends the same object. Elements are None (null) or, in a funcref table,
:class:`~.functions.Function` objects.
"""

from __future__ import annotations

from typing import Any

from ..errors import Trap, TrapKind
from ..types import MAX_TABLE_SIZE, Limits, TableType, ValType
from .limits import DEFAULT_RUNTIME_LIMITS
from .values import TO_RUNTIME


class Table:
    """A table of references (the public ``wasm.Table``)."""

    __slots__ = ("cap", "elem", "elems", "max")

    def __init__(self, min: int, max: int | None = None, elem: str = "funcref", *,
                 init: Any = None, limit_elements: int = DEFAULT_RUNTIME_LIMITS.table_elements) -> None:
        self.elem = ValType(elem)
        if not self.elem.is_ref:
            raise ValueError(f"a table holds references, not {elem}")
        if not 0 <= min <= MAX_TABLE_SIZE or (max is not None and not min <= max <= MAX_TABLE_SIZE):
            raise ValueError(f"invalid table limits {min}..{max}")
        self.max = max
        self.cap = limit_elements if max is None else min_(max, limit_elements)
        if min > self.cap:
            raise ValueError(f"table of {min} elements exceeds the limit of {self.cap}")
        self.elems: list[Any] = [TO_RUNTIME[self.elem](init)] * min

    @property
    def size(self) -> int:
        return len(self.elems)

    @property
    def type(self) -> TableType:
        """The table's current type (for import matching)."""
        return TableType(self.elem, Limits(len(self.elems), self.max))

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self.elems):
            raise Trap(TrapKind.OUT_OF_BOUNDS_TABLE, f"index {index} is outside a table of {len(self.elems)}")

    def get(self, index: int) -> Any:
        """The reference at ``index`` (a trap when out of bounds)."""
        self._check(index)
        return self.elems[index]

    def set(self, index: int, ref: Any) -> None:
        """Store ``ref`` at ``index`` (TypeError for a reference of the wrong kind)."""
        self._check(index)
        self.elems[index] = TO_RUNTIME[self.elem](ref)

    def grow(self, count: int, ref: Any = None) -> int:
        """Append ``count`` copies of ``ref``; the old size, or -1 when it cannot grow."""
        old = len(self.elems)
        if count < 0 or old + count > self.cap:
            return -1
        self.elems.extend([TO_RUNTIME[self.elem](ref)] * count)
        return old

    def __repr__(self) -> str:
        return f"<Table {self.elem} {len(self.elems)}, max {self.max}>"


def min_(a: int, b: int) -> int:
    return a if a < b else b
