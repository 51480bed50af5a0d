"""Operator limits: the ceilings a broker puts on every request, and the checks that enforce them.

Theory of operation. An operator bounds what one request may cost the pool:

- ``max_message``: the size of a request body (the protocol's ``max_body``;
  the broker's sockets also cut off peers sending four times that);
- ``max_module``: the bytes of a module at deploy;
- ``max_input`` and ``max_args``: a call's input bytes and argument count;
- ``max_gas`` and ``max_timeout``: a call's gas and time limits.

A request above a ceiling is *rejected*, never silently clamped: the broker
answers BAD_REQUEST with an ERROR body that also names the limit
(``"limit": "max_gas"``), and clients raise
:class:`~wasmpool.wire.errors.LimitExceeded` with that name in ``.limit``. The
defaults a call gets when it names no gas or timeout are lowered to the
ceilings, so a call that asks for nothing is never refused.

:class:`OperatorLimits` is what the CLI flags and ``Broker(limits=...)``
fill in; :meth:`OperatorLimits.configure` folds it into a
:class:`~wasmpool.broker.config.BrokerConfig`, whose fields the core checks through
:func:`check_deploy` and :func:`check_call`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from wasmpool.wire import errors
from wasmpool.wire import protocol as p

MIB = 1024 * 1024


class Limit(StrEnum):
    """The names of the ceilings, as ERROR bodies and CLI flags spell them."""

    MAX_MESSAGE = "max_message"
    MAX_MODULE = "max_module"
    MAX_INPUT = "max_input"
    MAX_ARGS = "max_args"
    MAX_GAS = "max_gas"
    MAX_TIMEOUT = "max_timeout"


class CallCeilings(Protocol):
    """The configuration fields the checks read (a BrokerConfig has them all)."""

    @property
    def max_module(self) -> int: ...
    @property
    def max_input(self) -> int: ...
    @property
    def max_args(self) -> int: ...
    @property
    def max_gas(self) -> int: ...
    @property
    def max_timeout(self) -> float: ...


@dataclass(frozen=True, slots=True)
class OperatorLimits:
    """Ceilings set by the operator; ``None`` keeps the configuration's current value."""

    max_message: int | None = None
    max_module: int | None = None
    max_input: int | None = None
    max_args: int | None = None
    max_gas: int | None = None
    max_timeout: float | None = None

    def __post_init__(self) -> None:
        for name, value in dataclasses.asdict(self).items():
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value}")

    def configure(self, config: Any) -> Any:
        """``config`` (a BrokerConfig) with these ceilings applied and its defaults kept under them."""
        changes = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                   if f.name != Limit.MAX_MESSAGE and getattr(self, f.name) is not None}
        if self.max_message is not None:
            changes["limits"] = message_limits(config.limits, self.max_message)
        config = dataclasses.replace(config, **changes)
        return dataclasses.replace(config, default_gas=min(config.default_gas, config.max_gas),
                                   default_timeout=min(config.default_timeout, config.max_timeout))


def message_limits(limits: p.ProtocolLimits, max_message: int) -> p.ProtocolLimits:
    """Protocol limits whose body (and so every bin and str in it) is at most ``max_message`` bytes."""
    return dataclasses.replace(limits, max_body=max_message, max_bin_len=min(limits.max_bin_len, max_message),
                               max_str_len=min(limits.max_str_len, max_message))


def _exceeded(limit: Limit, what: str, value: float, ceiling: float,
              request_id: bytes) -> errors.LimitExceeded:
    return errors.LimitExceeded(f"{what} {value} exceeds the operator's {limit} of {ceiling}",
                                request_id, limit=limit)


def check_deploy(module: bytes, config: CallCeilings, request_id: bytes = b"") -> None:
    """Reject a module larger than ``max_module``."""
    if len(module) > config.max_module:
        raise _exceeded(Limit.MAX_MODULE, "module size", len(module), config.max_module, request_id)


CALL_CHECKS: tuple[tuple[Limit, str, str], ...] = (
    (Limit.MAX_GAS, "gas_limit", "gas_limit"),
    (Limit.MAX_TIMEOUT, "timeout", "timeout"),
    (Limit.MAX_INPUT, "input", "input size"),
    (Limit.MAX_ARGS, "args", "argument count"),
)
"""(ceiling, body field, what it is called in messages); sized fields are measured with len()."""


def check_call(body: Mapping[str, Any], config: CallCeilings, request_id: bytes = b"") -> None:
    """Reject a call or query above any ceiling; the message names the field and the limit."""
    for limit, name, what in CALL_CHECKS:
        if name not in body:
            continue
        value = body[name]
        measured = len(value) if isinstance(value, bytes | list) else value
        ceiling = getattr(config, limit)
        if measured > ceiling:
            raise _exceeded(limit, what, measured, ceiling, request_id)
