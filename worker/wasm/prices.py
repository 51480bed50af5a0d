"""The engine's price table: every gas price the engine charges, as one flat, canonical mapping.

The prices live where they are used (the opcode table's ``gas`` column, the
dynamic and call constants of :mod:`.opcodes`, :mod:`.runtime.gas` and
:mod:`.runtime.setup_gas`); this module gathers them under stable names so
that a digest of the whole schedule (``wasmpool.worker.versions``) changes
whenever any one of them does.
"""

from __future__ import annotations

from . import opcodes
from .runtime import gas, setup_gas

_CONSTANTS: dict[str, int] = {
    "dynamic.grow_page": opcodes.GROW_PAGE_GAS,
    "dynamic.bulk_unit_gas": opcodes.BULK_UNIT_GAS,
    "dynamic.bulk_unit_bytes": opcodes.BULK_UNIT,
    "dynamic.table_bulk_unit": opcodes.TABLE_BULK_UNIT,
    "dynamic.table_grow_unit": gas.TABLE_GROW_UNIT,
    "frame.free_slots": opcodes.FRAME_FREE_SLOTS,
    "frame.slots_per_gas": opcodes.FRAME_SLOTS_PER_GAS,
    "call.host_crossing": opcodes.HOST_CALL_GAS,
    "branch.value": opcodes.BRANCH_VALUE_GAS,
    "setup.function": setup_gas.FUNCTION_GAS,
    "setup.global": setup_gas.GLOBAL_GAS,
    "setup.elem_item": setup_gas.ELEM_ITEM_GAS,
    "setup.export": setup_gas.EXPORT_GAS,
    "setup.import": setup_gas.IMPORT_GAS,
    "setup.segment": setup_gas.SEGMENT_GAS,
    "setup.table_unit": setup_gas.TABLE_UNIT,
    "setup.table_unit_gas": setup_gas.TABLE_UNIT_GAS,
    "setup.memory_page": setup_gas.MEMORY_PAGE_GAS,
    "setup.allowance": setup_gas.ALLOWANCE,
}


def engine_prices() -> dict[str, int]:
    """Every price the engine charges: ``op.<code>.<name>`` per instruction, then the named constants."""
    table = {f"op.{int(info.op):#06x}.{info.name}": info.gas for info in opcodes.OPS.values()}
    table.update(_CONSTANTS)
    return dict(sorted(table.items()))
