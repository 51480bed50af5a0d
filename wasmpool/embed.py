"""The broker to embed in a node: :class:`Broker`, with the engine checking deployed modules.

``wasmpool.broker`` never imports the engine: its server takes the
validator of deployed modules as an argument. This is the public broker
(``from wasmpool import Broker``), where that argument defaults to the
engine's check (``wasmpool.worker.validate.module_error``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import zmq

from wasmpool.broker import server
from wasmpool.broker.config import BrokerConfig, Validator
from wasmpool.broker.limits import OperatorLimits
from wasmpool.broker.security import CurveServer
from wasmpool.broker.server import DEFAULT_BACKEND, DEFAULT_FRONTEND, TICK, BrokerThread
from wasmpool.broker.state import StateStore
from wasmpool.worker.validate import module_error

__all__ = ["Broker", "BrokerThread"]


class Broker(server.Broker):
    """The pool's broker (:class:`wasmpool.broker.server.Broker`) validating deploys with the engine."""

    def __init__(self, state: StateStore | str = "memory:", frontend: str = DEFAULT_FRONTEND,
                 backend: str = DEFAULT_BACKEND, *, validate: Validator = module_error,
                 config: BrokerConfig | None = None, context: zmq.Context[Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, tick: float = TICK,
                 setup_socket: Callable[[zmq.Socket[Any]], object] | None = None,
                 curve: CurveServer | None = None, limits: OperatorLimits | None = None,
                 metrics_port: int | None = None, metrics_host: str = "127.0.0.1") -> None:
        super().__init__(state, frontend, backend, validate=validate, config=config, context=context,
                         clock=clock, tick=tick, setup_socket=setup_socket, curve=curve, limits=limits,
                         metrics_port=metrics_port, metrics_host=metrics_host)
