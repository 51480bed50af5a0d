"""How deep the engine recurses in Python, and the check that the process allows it.

Compiled wasm calls are Python calls, the compiler walks a function's
nesting recursively and the reference interpreter recurses per call, so
each needs Python's recursion limit well above its default. That limit is
process-wide: the engine only checks it (:func:`check_recursion`, raising
:class:`~.errors.RecursionLimitTooLow`) and never sets it; the process that
runs the engine sets it once (``prepare.prepare_process``) from the figures
here.
"""

from __future__ import annotations

import sys

from .errors import RecursionLimitTooLow

RUN_MARGIN = 2_000  # Python frames allowed beyond the wasm call depth (host functions, stubs, boundary)
COMPILE_MARGIN = 1_000  # Python frames the compiler uses besides its recursion per nesting level
COMPILE_PER_LEVEL = 8  # Python frames the compiler uses per nesting level of a function
REFERENCE_PER_CALL = 4  # Python frames one wasm call takes on the reference interpreter
REFERENCE_MARGIN = 1_000  # beyond those, on the reference interpreter


def check_recursion(needed: int, what: str) -> None:
    """RecursionLimitTooLow unless the process allows ``needed`` Python frames (``what`` needs them)."""
    current = sys.getrecursionlimit()
    if current < needed:
        raise RecursionLimitTooLow(needed, current, what)


def stack_depth() -> int:
    """The number of Python frames on the current thread's stack (the caller's included)."""
    frame = sys._getframe(1)
    depth = 0
    while frame is not None:
        depth += 1
        frame = frame.f_back  # type: ignore[assignment]
    return depth


__all__ = ["COMPILE_MARGIN", "COMPILE_PER_LEVEL", "REFERENCE_MARGIN", "REFERENCE_PER_CALL", "RUN_MARGIN",
           "check_recursion", "stack_depth"]
