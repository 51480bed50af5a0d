"""What a worker keeps of a deployed module: decoded, checked against the host ABI and compiled, once.

The worker runs metered code only, with canonical NaNs, so a module is
compiled once, for that variant, when it enters the worker's module cache (the cache the
broker's routing trusts); every call instantiates that compiled module.

A loaded module remembers what it was compiled under (its
:class:`~wasmpool.worker.versions.CacheKey`: code id, engine semantics, gas
schedule, float policy, metering, Python bytecode), and its size in bytes,
which prices its load into every call whether it was cached or not.
"""

from __future__ import annotations

from typing import NamedTuple

from wasmpool import wasm
from wasmpool.wire import protocol as p
from wasmpool.worker.host import check_imports
from wasmpool.worker.versions import CacheKey, cache_key

CANONICAL_NANS = True
"""Whether :func:`load` compiles with canonical NaNs (the disk cache loads only entries made the same way).

Always, under either float policy: every NaN float arithmetic makes is the
positive canonical one, so results do not depend on the CPU (under
``reject`` no deployed module has a float instruction anyway). The cache
key's ``floats`` part says so (``versions.FLOATS_CANONICAL``).
"""


class Loaded(NamedTuple):
    """A cached module: its metered compiled form, or why it cannot run (each made once per module).

    ``problem`` is the import check's or the compiler's verdict (a
    ``LinkError`` message); ``compiled`` is None exactly when there is one.
    ``key`` is what it was compiled under, ``size`` the module's bytes.
    """

    module: wasm.Module
    compiled: wasm.CompiledModule | None
    problem: str | None
    key: CacheKey
    size: int

    def current(self, code_id: str) -> bool:
        """Whether this is ``code_id`` compiled under this worker's versions (else it is loaded again)."""
        return self.key == cache_key(code_id)

    def runnable(self) -> wasm.CompiledModule:
        """The compiled module, or the LinkError that keeps this module from running."""
        if self.compiled is None:
            raise wasm.LinkError(self.problem or "the module was not compiled")
        return self.compiled


def load(code: bytes, code_id: str | None = None) -> Loaded:
    """Decode a module, check its imports against the host ABI and compile it (metered).

    ``code_id`` is the code's SHA-256 (hex), computed when not given.
    """
    key = cache_key(p.code_id(code) if code_id is None else code_id)
    module = wasm.decode(code)
    try:
        check_imports(module)
        compiled = wasm.compile(module, metered=True, canonical_nans=CANONICAL_NANS)
    except wasm.LinkError as exc:  # CompileError is one: a function the compiler refuses
        return Loaded(module, None, str(exc), key, len(code))
    return Loaded(module, compiled, None, key, len(code))
