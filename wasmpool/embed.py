"""The broker to embed in a node: :class:`Broker`, with the engine checking deployed modules.

``wasmpool.broker`` never imports the engine: its server takes the
validator of deployed modules as an argument. This is the public broker
(``from wasmpool import Broker``), where that argument defaults to the
engine's check (``wasmpool.worker.validate.module_error``), and which
admits only workers that run by the versions of the worker it ships with
(``wasmpool.worker.versions``; see ``wasmpool.broker.versions``).
"""

from __future__ import annotations

import dataclasses
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
from wasmpool.wire.deploy_policy import DeployLimits
from wasmpool.worker.validate import validator_for
from wasmpool.worker.versions import WORKER_VERSIONS

__all__ = ["Broker", "BrokerThread"]


class Broker(server.Broker):
    """The pool's broker (:class:`wasmpool.broker.server.Broker`) validating deploys with the engine.

    The engine's validator enforces the deploy policy of ``config``
    (``BrokerConfig.floats`` and ``deploy_limits``); ``floats`` and
    ``deploy_limits`` given here replace the config's. A ``validate`` given
    here replaces the engine's (the policy is then still what stats report).
    """

    def __init__(self, state: StateStore | str = "memory:", frontend: str = DEFAULT_FRONTEND,
                 backend: str = DEFAULT_BACKEND, *, validate: Validator | None = None,
                 floats: str | None = None, deploy_limits: DeployLimits | None = None,
                 config: BrokerConfig | None = None, context: zmq.Context[Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, tick: float = TICK,
                 setup_socket: Callable[[zmq.Socket[Any]], object] | None = None,
                 curve: CurveServer | None = None, limits: OperatorLimits | None = None,
                 metrics_port: int | None = None, metrics_host: str = "127.0.0.1") -> None:
        config = with_policy(config or BrokerConfig(), floats, deploy_limits)
        if validate is None:
            validate = validator_for(config.deploy_policy())
        super().__init__(state, frontend, backend, validate=validate, config=config, context=context,
                         clock=clock, tick=tick, setup_socket=setup_socket, curve=curve, limits=limits,
                         metrics_port=metrics_port, metrics_host=metrics_host)
        self.core.versions.expect(WORKER_VERSIONS.as_dict())


def with_policy(config: BrokerConfig, floats: str | None, deploy_limits: DeployLimits | None) -> BrokerConfig:
    """``config`` with the float policy and deploy limits given (those not given are kept)."""
    changes: dict[str, Any] = {}
    if floats is not None:
        changes["floats"] = floats
    if deploy_limits is not None:
        changes["deploy_limits"] = deploy_limits
    return dataclasses.replace(config, **changes) if changes else config
