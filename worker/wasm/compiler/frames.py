"""Frames: what one call's Python frame costs, in stack budget and in gas.

A compiled function's frame holds its *slots*: parameters, declared locals
and registers (the operand stack's maximum height). CPython allocates them
all when the frame is made, and the function's first lines zero the
declared locals, so creating a frame takes time and memory in proportion to
its slots: a call to a function with 49,000 locals costs about 0.5 ms and
400 KB, where a small one costs 50 ns.

*Stack budget.* Every compiled function takes ``d``, the budget left on the
stack, counted in *frame units* of :data:`FRAME_SLOTS` slots: a frame costs
``1 + slots // FRAME_SLOTS`` units (:func:`stack_units`), so small frames
cost one unit each (``RuntimeLimits.call_depth`` of them fit, exactly) and a
large frame counts as several. A function checks ``d`` at entry (raising
``StackExhausted`` when its units do not fit) and passes ``d`` minus its
units to its callees, so the slots of all frames on the stack stay below
``FRAME_SLOTS`` times the budget (``RuntimeLimits.max_stack_slots``).

*Gas.* Beyond :data:`~..opcodes.FRAME_FREE_SLOTS` (covered by the call's own
price) a frame pays 1 gas per started :data:`~..opcodes.FRAME_SLOTS_PER_GAS`
slots (:func:`frame_gas`); the price is part of the callee's entry gas
block, so direct calls pay it at the call site and all others at entry.
"""

from __future__ import annotations

from ..opcodes import FRAME_FREE_SLOTS, FRAME_SLOTS_PER_GAS

FRAME_SLOTS = 64  # slots in one unit of the stack budget ``d``


def frame_slots(nlocals: int, max_height: int) -> int:
    """The slots of a frame: parameters and declared locals (``nlocals``) and registers."""
    return nlocals + max_height


def stack_units(slots: int) -> int:
    """The units of the stack budget a frame of ``slots`` slots takes (at least 1)."""
    return 1 + slots // FRAME_SLOTS


def frame_gas(slots: int) -> int:
    """The gas a call pays for the callee's frame beyond the call instruction's own price."""
    extra = slots - FRAME_FREE_SLOTS
    return 0 if extra <= 0 else (extra + FRAME_SLOTS_PER_GAS - 1) // FRAME_SLOTS_PER_GAS
