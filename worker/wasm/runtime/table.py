"""Tables: a Python ``list`` of references that only ever grows in place.

Compiled code binds the list (``t0``) and indexes it directly, so growing
extends the same object. Elements are None (null) or, in a funcref table,
:class:`~.functions.Function` objects. Like a memory, a table counts its
elements against the :class:`~.budget.Budget` of the instance that defined
it, if any.
"""

from __future__ import annotations

from typing import Any

from ..errors import Trap, TrapKind
from ..types import MAX_TABLE_SIZE, Limits, TableType, ValType
from .budget import Budget, table_bytes
from .limits import DEFAULT_RUNTIME_LIMITS
from .values import TO_RUNTIME


class Table:
    """A table of references (the public ``wasm.Table``)."""

    __slots__ = ("budget", "cap", "elem", "elems", "max")

    def __init__(self, min: int, max: int | None = None, elem: str = "funcref", *,
                 init: Any = None, limit_elements: int = DEFAULT_RUNTIME_LIMITS.table_elements,
                 budget: Budget | None = None) -> None:
        """``budget``: what the elements count against (the defining instance's); None: only the caps."""
        self.elem = ValType(elem)
        if not self.elem.is_ref:
            raise ValueError(f"a table holds references, not {elem}")
        if not 0 <= min <= MAX_TABLE_SIZE or (max is not None and not min <= max <= MAX_TABLE_SIZE):
            raise ValueError(f"invalid table limits {min}..{max}")
        self.max = max
        self.cap = limit_elements if max is None else min_(max, limit_elements)
        if min > self.cap:
            raise ValueError(f"table of {min} elements exceeds the limit of {self.cap}")
        if budget is not None and not budget.take(table_bytes(min)):
            raise ValueError(f"table of {min} elements exceeds the budget {budget}")
        self.budget = budget
        self.elems: list[Any] = [TO_RUNTIME[self.elem](init)] * min

    @classmethod
    def checked(cls, elems: list[Any], elem: ValType, max: int | None, cap: int,
                budget: Budget | None) -> Table:
        """A table around ``elems`` whose limits were checked and whose elements were taken from ``budget``.

        Instantiation checks a module's tables once per compiled module and
        runtime limits (see ``runtime.prepared``), not once per instance.
        """
        table = cls.__new__(cls)
        table.elem = elem
        table.max = max
        table.cap = cap
        table.budget = budget
        table.elems = elems
        return table

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

    def can_grow(self, count: int) -> bool:
        """Whether :meth:`grow` would add ``count`` elements (within the cap and the budget)."""
        if count < 0 or len(self.elems) + count > self.cap:
            return False
        return self.budget is None or self.budget.fits(table_bytes(count))

    def grow(self, count: int, ref: Any = None) -> int:
        """Append ``count`` copies of ``ref``; the old size, or -1 when it cannot grow."""
        return self.grow_runtime(count, TO_RUNTIME[self.elem](ref))

    def grow_runtime(self, count: int, ref: Any) -> int:
        """:meth:`grow` with ``ref`` already a runtime value (what ``table.grow`` passes)."""
        old = len(self.elems)
        if not self.can_grow(count):
            return -1
        if self.budget is not None:
            self.budget.take(table_bytes(count))
        self.elems.extend([ref] * count)
        return old

    def __repr__(self) -> str:
        return f"<Table {self.elem} {len(self.elems)}, max {self.max}>"


def min_(a: int, b: int) -> int:
    return a if a < b else b
