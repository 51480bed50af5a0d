"""A reference interpreter: the test oracle for the engine's compiled code.

The engine turns each function into Python source through a register
compiler, with expression folding and control-flow structuring; a bug there
gives wrong results that the spec suite may never show. This package is a
second execution path that shares nothing with :mod:`wasmpool.wasm.compiler`
nor with the engine's runtime: a plain stack machine (:mod:`.machine`) over
the decoded ``Module``, with its own store (:mod:`.store`) and
instantiation (:mod:`.instance`). Integer instructions are written afresh
from the spec (:mod:`.ints`); float instructions do sign and comparison work
themselves and take the subtle parts (rounding, NaN propagation,
conversions to f32) from :mod:`wasmpool.wasm.numeric_float`, the semantic
definitions the spec suite pins (:mod:`.floats`). Every value is held as
its bit pattern, so results compare bit for bit with the engine's
``call_raw``. Traps carry the engine's :class:`~wasmpool.wasm.errors.TrapKind`.

Where the spec leaves a result open, the reference says so: when a binary
float instruction (``add``, ``sub``, ``mul``, ``div``, ``min``, ``max``) meets
two different NaNs, any of them (quieted) or the canonical NaN is a valid
result, and the engine's choice is not even stable: CPython computes
``a * b`` on floats with different C code once its interpreter has
specialized the instruction, and the two pick different operands. The
reference counts such events in ``RefInstance.nan_choices`` so that a
differential test knows from which call on bit-exact agreement is no longer
required. Against another engine, any NaN made by float arithmetic may
differ (the spec lets its sign and payload vary), so the reference also
counts those, in ``RefInstance.nan_results``. With the engine's
``canonical_nans`` option (``instantiate(..., canonical_nans=True)``) nothing is
left open: every NaN those instructions make is the positive canonical NaN
(f32 ``0x7FC00000``, f64 ``0x7FF8000000000000``), bit operations keep their
bits, and results must agree with the engine's bit for bit.

It is slow by design (one dict dispatch per instruction); use it in tests
and differential runs, never to serve calls.
"""

from .instance import instantiate
from .store import RefFunction, RefGlobal, RefInstance, RefMemory, RefTable

__all__ = ["RefFunction", "RefGlobal", "RefInstance", "RefMemory", "RefTable", "instantiate"]
