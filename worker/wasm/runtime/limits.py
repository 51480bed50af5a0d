"""Runtime limits of an instance: call depth, memory, tables and function size.

They bound what untrusted code may make the process do; the module's own
declarations can only lower them (a memory never grows beyond its declared
maximum nor beyond :attr:`RuntimeLimits.memory_pages`). ``instance_bytes``
bounds the memories and tables an instance defines *together* (pages at
64 KiB, table elements at 8 bytes; see ``runtime.budget``): instantiation
over it is a LinkError, a grow over it returns -1.

The call stack is bounded twice: ``call_depth`` frames, and
``max_stack_slots`` slots (parameters, locals and registers) over all
frames, since a frame's memory and the time to make it grow with its slots.
Both are one budget in frame units (see ``compiler.frames``): a frame of
fewer than 64 slots takes one unit, a larger one ``1 + slots // 64``, and a
call starts with :attr:`RuntimeLimits.stack_units` units.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..compiler.frames import FRAME_SLOTS


@dataclass(frozen=True, slots=True)
class RuntimeLimits:
    """Per-instance bounds; exceeding one is a trap (depth, growth) or a LinkError (sizes)."""

    call_depth: int = 10_000  # wasm frames; deeper calls raise StackExhausted
    max_stack_slots: int = 640_000  # slots of all frames together (~5 MB of frames); more: StackExhausted
    memory_pages: int = 256  # 64 KiB pages a memory may reach (16 MiB)
    table_elements: int = 1_000_000  # elements a table may reach
    instance_bytes: int = 64 * 1024 * 1024  # all defined memories and tables together (see runtime.budget)
    max_registers: int = 50_000  # stack height + locals of one function (checked at compile time)
    host_reentry: int = 200  # nested host -> wasm -> host ... calls

    @property
    def stack_units(self) -> int:
        """The stack budget a call starts with, in frame units: within both stack limits."""
        return min(self.call_depth, self.max_stack_slots // FRAME_SLOTS)


DEFAULT_RUNTIME_LIMITS = RuntimeLimits()
