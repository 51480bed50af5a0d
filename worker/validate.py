"""The engine's check of a deployed module: what the broker is handed to judge deploys.

The broker never imports the engine; whoever starts it passes a validator,
and :func:`module_error` is the engine's. It is a module-level function so
a spawned process (the broker validates big modules off its loop) can import
it by name.
"""

from __future__ import annotations

from wasmpool import wasm


def module_error(module: bytes) -> str | None:
    """Why ``module`` is not a valid WebAssembly module (decoded and validated by the engine), or None."""
    try:
        wasm.decode(module)
    except Exception as exc:  # whatever the engine says about these bytes is the module's fault
        return str(exc) or type(exc).__name__
    return None
