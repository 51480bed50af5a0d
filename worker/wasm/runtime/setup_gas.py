"""Instantiation gas: what making an instance costs, charged before the work is done.

The pool makes a fresh instance for every call, so instantiation is work a
caller chooses, like the instructions it runs: a module within the decode
limits can declare hundreds of thousands of functions, a million globals or
millions of element items, and building those takes seconds. A metered
instance therefore pays for its instantiation first, on its own meter, from
counts the module declares: when the price exceeds the gas limit,
:class:`~..errors.GasExhausted` is raised before anything is linked,
allocated or initialized.

The prices are calibrated (``bench/engine/instantiate_cost.py``) so that a
unit of gas buys about the time it buys in ordinary instructions: each item
is priced by what the runtime spends on it (a function: its callable and
its ``Function`` object; a global: evaluating its initializer; an element
item: evaluating it and writing it; an export: one binding; an import: one
lookup and type check). Bytes and table elements are priced as the bulk
instructions that would do the same work are: data segments as
``memory.init`` (:data:`~..opcodes.BULK_UNIT_GAS` per started
:data:`~..opcodes.BULK_UNIT` bytes), a table's initial elements and a
memory's initial pages per started :data:`TABLE_UNIT` elements or per page.

The first :data:`ALLOWANCE` gas of an instantiation are not charged: making
an ordinary contract's instance (tens of microseconds) is part of a call's
fixed overhead, like reading its request, and every module of the tests and
examples stays within it; what a module costs beyond it is charged in full.
Unmetered instances are not charged.
"""

from __future__ import annotations

from ..module import Module
from ..opcodes import BULK_UNIT, BULK_UNIT_GAS

FUNCTION_GAS = 500  # per function defined (imported ones pay IMPORT_GAS)
GLOBAL_GAS = 150  # per global defined
ELEM_ITEM_GAS = 15  # per element segment item (each is a constant expression)
EXPORT_GAS = 25  # per export
IMPORT_GAS = 300  # per import resolved
SEGMENT_GAS = 50  # per element or data segment
TABLE_UNIT = 64  # table elements per TABLE_UNIT_GAS
TABLE_UNIT_GAS = 1
MEMORY_PAGE_GAS = 150  # per initial 64 KiB page (allocated and zeroed)
ALLOWANCE = 16_000  # of the price, not charged (about 0.3 ms of work)


def _units(count: int, unit: int) -> int:
    return (count + unit - 1) // unit


def instantiation_charge(module: Module) -> int:
    """What a metered instantiation of ``module`` is charged: its price beyond the allowance."""
    return max(0, instantiation_gas(module) - ALLOWANCE)


def instantiation_gas(module: Module) -> int:
    """The price of instantiating ``module``, from what it declares (see the module docstring)."""
    items = sum(len(elem.init) for elem in module.elems)
    data_units = sum(_units(len(data.init), BULK_UNIT) for data in module.datas)
    table_units = sum(_units(table.limits.min, TABLE_UNIT) for table in module.tables)
    pages = sum(mem.limits.min for mem in module.mems)
    return (FUNCTION_GAS * len(module.funcs)
            + GLOBAL_GAS * len(module.globals) + ELEM_ITEM_GAS * items + EXPORT_GAS * len(module.exports)
            + IMPORT_GAS * len(module.imports) + SEGMENT_GAS * (len(module.elems) + len(module.datas))
            + BULK_UNIT_GAS * data_units + TABLE_UNIT_GAS * table_units + MEMORY_PAGE_GAS * pages)
