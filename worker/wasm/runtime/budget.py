"""The byte budget one instance's memories and tables share.

Each memory and table is capped on its own (``RuntimeLimits.memory_pages``,
``table_elements``), but a module may define many of them: without a shared
bound, a few hundred bytes of table declarations can ask for gigabytes. A
:class:`Budget` counts the bytes the objects an instance *defines* hold
together: a memory's pages at :data:`~..types.PAGE_SIZE` bytes each, a
table's elements at :data:`TABLE_ELEMENT_BYTES` each (one pointer of a
Python list; the referenced functions are shared, not copied).

It is consulted before anything is allocated: instantiation refuses a module
whose declared minimums do not fit (a ``LinkError``), and ``memory.grow`` /
``table.grow`` that would pass it fail with -1, as the spec allows a grow to
fail (wasmtime's ``ResourceLimiter`` does the same). Imported memories and
tables are counted by the budget of whoever created them (the exporting
instance's, or none for objects an embedder builds, which only their own
caps bound): an importer neither pays for them nor can grow them past their
owner's budget.
"""

from __future__ import annotations

from ..types import PAGE_SIZE

TABLE_ELEMENT_BYTES = 8  # one reference slot in a Python list


def memory_bytes(pages: int) -> int:
    """What ``pages`` pages of linear memory cost in the budget."""
    return pages * PAGE_SIZE


def table_bytes(elements: int) -> int:
    """What ``elements`` table elements cost in the budget."""
    return elements * TABLE_ELEMENT_BYTES


class Budget:
    """Bytes left for an instance's own memories and tables (``limit`` in all, ``used`` so far)."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def fits(self, nbytes: int) -> bool:
        """Whether ``nbytes`` more would stay within the limit."""
        return self.used + nbytes <= self.limit

    def take(self, nbytes: int) -> bool:
        """Reserve ``nbytes``; False (nothing reserved) when they do not fit."""
        if not self.fits(nbytes):
            return False
        self.used += nbytes
        return True

    def __repr__(self) -> str:
        return f"<Budget {self.used} of {self.limit} bytes>"
