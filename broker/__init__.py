"""wasmpool's broker side: the ZeroMQ broker, wire protocol, clients and state stores."""

from typing import Any

_LAZY = {
    "Broker": "broker.server", "BrokerThread": "broker.server",
    "Client": "broker.client", "AsyncClient": "broker.client", "Result": "broker.client",
}
__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    """``broker.Broker``, ``broker.Client``, ...: imported on first use, keeping ``import broker.x`` light."""
    if name not in _LAZY:
        raise AttributeError(f"module 'broker' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
