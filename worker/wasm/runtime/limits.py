"""Runtime limits of an instance: call depth, memory, tables and function size.

They bound what untrusted code may make the process do; the module's own
declarations can only lower them (a memory never grows beyond its declared
maximum nor beyond :attr:`RuntimeLimits.memory_pages`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RuntimeLimits:
    """Per-instance bounds; exceeding one is a trap (depth, growth) or a LinkError (sizes)."""

    call_depth: int = 10_000  # wasm frames; deeper calls raise StackExhausted
    memory_pages: int = 256  # 64 KiB pages a memory may reach (16 MiB)
    table_elements: int = 1_000_000  # elements a table may reach
    max_registers: int = 50_000  # stack height + locals of one function (checked at compile time)
    host_reentry: int = 200  # nested host -> wasm -> host ... calls


DEFAULT_RUNTIME_LIMITS = RuntimeLimits()
