"""Process-wide settings the engine needs, set once by the process that owns them.

Library calls never change process-wide state: the engine checks Python's
recursion limit and fails with ``RecursionLimitTooLow`` when it is too
low. A process that runs wasm (a worker at start, the CLI commands that run
code, the test suite) calls :func:`prepare_process` once, with the largest
limits it will use.
"""

from __future__ import annotations

import sys

from .limits import DEFAULT_LIMITS, DecodeLimits
from .recursion import (
    COMPILE_MARGIN,
    COMPILE_PER_LEVEL,
    REFERENCE_MARGIN,
    REFERENCE_PER_CALL,
    RUN_MARGIN,
)
from .runtime.limits import DEFAULT_RUNTIME_LIMITS, RuntimeLimits


def recursion_needed(limits: RuntimeLimits = DEFAULT_RUNTIME_LIMITS,
                     decode_limits: DecodeLimits = DEFAULT_LIMITS) -> int:
    """The Python recursion limit that running and compiling any module within these limits needs.

    A function may first be compiled at the bottom of the deepest call (large
    modules compile each function on its first call), so the compiler's
    frames for the deepest nesting the decoder admits come on top of the
    call depth's; the reference interpreter's calls are counted too.
    """
    running = limits.call_depth + RUN_MARGIN
    compiling = running + COMPILE_MARGIN + COMPILE_PER_LEVEL * decode_limits.nesting_depth
    reference = REFERENCE_PER_CALL * limits.call_depth + REFERENCE_MARGIN
    return max(compiling, reference)


def prepare_process(limits: RuntimeLimits = DEFAULT_RUNTIME_LIMITS,
                    decode_limits: DecodeLimits = DEFAULT_LIMITS) -> int:
    """Raise Python's recursion limit to what these limits need (never lower it); the limit now in force.

    Call once at process start, from the main thread, before any wasm runs.
    """
    needed = recursion_needed(limits, decode_limits)
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)
    return sys.getrecursionlimit()


__all__ = ["prepare_process", "recursion_needed"]
