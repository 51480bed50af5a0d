"""wasmpool: WebAssembly contract execution over ZeroMQ.

The public surface::

    from wasmpool import Client, AsyncClient, Broker, Result
    import wasmpool.wasm as wasm      # the engine, usable on its own

and, for a node that embeds the pool, its state stores and its workers::

    from wasmpool import StateStore, MemoryStore, SQLiteStore, WorkerConfig, supervise

Names are imported on first use, so ``from wasmpool import Client`` loads
the client and the wire protocol only, never the engine.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wasmpool.broker.state import MemoryStore, SQLiteStore, StateStore
    from wasmpool.client import AsyncClient, Client, Result
    from wasmpool.embed import Broker, BrokerThread
    from wasmpool.worker.config import WorkerConfig
    from wasmpool.worker.supervisor import supervise

_LAZY = {
    "Broker": "wasmpool.embed", "BrokerThread": "wasmpool.embed",
    "Client": "wasmpool.client", "AsyncClient": "wasmpool.client", "Result": "wasmpool.client",
    "StateStore": "wasmpool.broker.state", "MemoryStore": "wasmpool.broker.state",
    "SQLiteStore": "wasmpool.broker.state",
    "WorkerConfig": "wasmpool.worker.config", "supervise": "wasmpool.worker.supervisor",
}
__all__ = ["AsyncClient", "Broker", "BrokerThread", "Client", "MemoryStore", "Result", "SQLiteStore",
           "StateStore", "WorkerConfig", "supervise"]


def __getattr__(name: str) -> Any:
    """``wasmpool.Client``, ``wasmpool.Broker``, ...: imported on first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'wasmpool' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
