"""Gas metering: what is charged, when, and the meter hosts charge through.

Prices come from the opcode table (``OpInfo.gas``), plus three static
extras the compiler adds to the block that holds the instruction (constants
in ``opcodes``): a call pays for the callee's frame (``compiler.frames``:
1 gas per ``FRAME_SLOTS_PER_GAS`` slots beyond ``FRAME_FREE_SLOTS``, in the
callee's entry block), a call to an imported function ``HOST_CALL_GAS`` for
the host crossing, and ``br``/``br_if``/``br_table``/``return``
``BRANCH_VALUE_GAS`` per value carried. The compiler lays the
code out in *gas blocks*, straight-line runs with a single entry, and
charges each block's total before it runs. Block boundaries are where
control can arrive from elsewhere or leave early: the function entry, each
loop header, each ``if`` arm, the fall-through after ``br_if``, and the join
after a targeted ``block``, an ``if`` or a loop. An instruction is charged
when control passes through its position: ``block``/``loop``/``if`` on entry,
``else`` when the then-arm falls into it, ``end`` only when control falls
through it (a branch to a label skips its ``end``). A trap in the middle of a
block has still paid for the whole block.

The meter is checked (``gas < 0`` raises :class:`GasExhausted`) at the entry
of every function reachable from outside its module, before every direct
call (whose callee's entry block is paid at the call site, see
``compiler.direct``) and at every loop header, so every loop and every
recursion ends;
between checks at most one straight-line stretch runs on credit, so
``gas_used`` may exceed the limit by less than one block when exhaustion is
reported. Everything is deterministic: the same module, call and limit stop
at the same point with the same ``gas_used``.

Dynamic prices: ``memory.grow`` adds ``GROW_PAGE_GAS`` per page granted
(``table.grow`` the same per started 64 elements), bulk instructions
``BULK_UNIT_GAS`` per started ``BULK_UNIT`` bytes (memory) or
``TABLE_BULK_UNIT`` elements (tables), all charged and checked before they
run (a grow that will be refused is not charged). Instantiation is paid for
first, before any of its work (``runtime.setup_gas``). Host functions price
themselves through ``caller.gas.charge(n)``. Each instance has its own meter;
a call into another instance's function runs on that instance's meter.

The remaining gas itself lives in a closure cell, :attr:`GasMeter.cell`:
every metered function of an instance is built as a closure over it (the
free variable ``GAS``), so compiled code reads and writes it with the
cheapest operations CPython has for a shared variable (no attribute lookup).
Functions with loops keep a copy in a local and sync it with the cell around
calls, at returns and when an exception leaves the function (keeping the
smaller value, since gas only goes down). :class:`GasMeter` is the view of
the cell that instances and host functions use.
"""

from __future__ import annotations

from types import CellType

from ..errors import GasExhausted
from ..opcodes import GROW_PAGE_GAS

TABLE_GROW_UNIT = 64  # elements per GROW_PAGE_GAS for table.grow


def grow_page_gas(pages: int) -> int:
    """The dynamic price of growing memory by ``pages`` pages."""
    return GROW_PAGE_GAS * pages


def grow_elems_gas(count: int) -> int:
    """The dynamic price of growing a table by ``count`` elements."""
    return GROW_PAGE_GAS * ((count + TABLE_GROW_UNIT - 1) // TABLE_GROW_UNIT)


class GasMeter:
    """An instance's gas: ``limit`` (None: unmetered), ``used``, ``remaining``, :meth:`charge`.

    ``cell`` holds the remaining gas, read and written by compiled code as
    the closure variable ``GAS``; ``g`` is the same value as an attribute.
    """

    __slots__ = ("cell", "limit")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.cell = CellType(limit if limit is not None else 0)

    @property
    def g(self) -> int:
        """The remaining gas (negative once exhausted; 0 when unmetered)."""
        value: int = self.cell.cell_contents
        return value

    @g.setter
    def g(self, value: int) -> None:
        self.cell.cell_contents = value

    @property
    def remaining(self) -> int | None:
        """Gas left (negative once exhausted), or None when unmetered."""
        return None if self.limit is None else self.g

    @property
    def used(self) -> int:
        """Gas charged so far (0 when unmetered)."""
        return 0 if self.limit is None else self.limit - self.g

    def charge(self, amount: int) -> None:
        """Charge ``amount`` more; raises GasExhausted when the limit is passed (no-op if unmetered)."""
        if self.limit is None:
            return
        if amount < 0:
            raise ValueError("gas charges cannot be negative")
        cell = self.cell
        cell.cell_contents -= amount
        if cell.cell_contents < 0:
            raise GasExhausted()

    def __repr__(self) -> str:
        return f"<GasMeter used={self.used} limit={self.limit}>"
