"""Runtime limits of an instance: call depth, memory, tables and function size.

They bound what untrusted code may make the process do; the module's own
declarations can only lower them (a memory never grows beyond its declared
maximum nor beyond :attr:`RuntimeLimits.memory_pages`). ``instance_bytes``
bounds the memories and tables an instance defines *together* (pages at
64 KiB, table elements at 8 bytes; see ``runtime.budget``): instantiation
over it is a LinkError, a grow over it returns -1.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RuntimeLimits:
    """Per-instance bounds; exceeding one is a trap (depth, growth) or a LinkError (sizes)."""

    call_depth: int = 10_000  # wasm frames; deeper calls raise StackExhausted
    memory_pages: int = 256  # 64 KiB pages a memory may reach (16 MiB)
    table_elements: int = 1_000_000  # elements a table may reach
    instance_bytes: int = 64 * 1024 * 1024  # all defined memories and tables together (see runtime.budget)
    max_registers: int = 50_000  # stack height + locals of one function (checked at compile time)
    host_reentry: int = 200  # nested host -> wasm -> host ... calls


DEFAULT_RUNTIME_LIMITS = RuntimeLimits()
