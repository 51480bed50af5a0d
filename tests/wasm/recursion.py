"""The engine's recursion limit for code that runs wasm under hypothesis.

The test process calls ``wasm.prepare_process()`` once (``tests/conftest.py``),
but hypothesis sets its own recursion limit while a test body runs (the
caller's depth plus 2,000) and warns when the body leaves a different one.
A body that runs wasm raises the engine's limit for its own duration here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import wasmpool.wasm as wasm


@contextlib.contextmanager
def engine_recursion() -> Iterator[None]:
    """``wasm.prepare_process()`` for the duration of the block; the previous limit is put back."""
    saved = sys.getrecursionlimit()
    wasm.prepare_process()
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)
