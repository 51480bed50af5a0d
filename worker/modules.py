"""What a worker keeps of a deployed module: decoded, checked against the host ABI and compiled, once.

The worker runs metered code only, so a module is compiled once, for the
metered variant, when it enters the worker's module cache (the cache the
broker's routing trusts); every call instantiates that compiled module.
"""

from __future__ import annotations

from typing import NamedTuple

from wasmpool import wasm
from wasmpool.worker.host import check_imports


class Loaded(NamedTuple):
    """A cached module: its metered compiled form, or why it cannot run (each made once per module).

    ``problem`` is the import check's or the compiler's verdict (a
    ``LinkError`` message); ``compiled`` is None exactly when there is one.
    """

    module: wasm.Module
    compiled: wasm.CompiledModule | None
    problem: str | None

    def runnable(self) -> wasm.CompiledModule:
        """The compiled module, or the LinkError that keeps this module from running."""
        if self.compiled is None:
            raise wasm.LinkError(self.problem or "the module was not compiled")
        return self.compiled


def load(code: bytes) -> Loaded:
    """Decode a module, check its imports against the host ABI and compile it (metered)."""
    module = wasm.decode(code)
    try:
        check_imports(module)
        compiled = wasm.compile(module, metered=True)
    except wasm.LinkError as exc:  # CompileError is one: a function the compiler refuses
        return Loaded(module, None, str(exc))
    return Loaded(module, compiled, None)
