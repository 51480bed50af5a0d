"""The broker to embed in a node: :class:`Broker` with the engine checking deployed modules."""

from wasmpool.broker.server import Broker, BrokerThread

__all__ = ["Broker", "BrokerThread"]
