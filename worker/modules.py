"""What a worker keeps of a deployed module: decoded once, its imports checked against the host ABI once."""

from __future__ import annotations

from typing import NamedTuple

from wasmpool.worker.host import check_imports

from wasmpool import wasm


class Loaded(NamedTuple):
    """A cached module and the ABI check's verdict on its imports (made once per module)."""

    module: wasm.Module
    problem: str | None


def load(code: bytes) -> Loaded:
    """Decode a module and check its imports against the host ABI."""
    module = wasm.decode(code)
    try:
        check_imports(module)
    except wasm.LinkError as exc:
        return Loaded(module, str(exc))
    return Loaded(module, None)
