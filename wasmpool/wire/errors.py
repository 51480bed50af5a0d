"""The pool's typed errors: what a request or a contract call can fail with.

Two families, kept apart on purpose:

- :class:`PoolError`: a request the pool cannot serve (bad frame, invalid
  module, unknown code id, busy, no answer in time). The broker answers it
  with an ERROR frame; clients raise it again on their side.
- :class:`ContractError`: a contract call that ended badly on purpose
  (revert, a write in a read-only query, a bad function name, a timeout).
  It never leaves the worker as an exception: it becomes a call
  ``Result`` whose ``status`` says what happened.

Wire codes for both are assigned by one table,
:data:`wasmpool.wire.protocol.ERROR_CODES`; the worker extends it with the
engine's own errors (``wasmpool.worker.codes``), which the wire never loads.
"""

from __future__ import annotations

from typing import Any


class PoolError(Exception):
    """A request the pool cannot serve; ``reason`` is the message for people."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def details(self) -> dict[str, str | int]:
        """The fields the ERROR body carries besides code, message and ``limit`` (none here)."""
        return {}


class ProtocolError(PoolError):
    """A message broke the wire protocol; ``request_id`` is set when it could be read."""

    def __init__(self, reason: str, request_id: bytes = b"") -> None:
        self.request_id = request_id
        super().__init__(reason)


class BadFrame(ProtocolError):
    """Wrong frame count, protocol tag, or request id."""


class BadBody(ProtocolError):
    """The body is not msgpack, or breaks a size or nesting limit."""


class MessageTooLarge(ProtocolError):
    """The body is larger than the configured maximum."""


class UnknownCommand(ProtocolError):
    """The command byte is not a :class:`~wasmpool.wire.protocol.Command` valid here."""


class BadRequest(ProtocolError):
    """The body decoded but its fields are missing, mistyped or out of range."""


class LimitExceeded(BadRequest):
    """A request went above one of the operator's ceilings; ``limit`` names it (e.g. ``max_gas``).

    On the wire it is a BAD_REQUEST whose ERROR body also carries ``limit``.
    """

    def __init__(self, reason: str, request_id: bytes = b"", limit: str = "") -> None:
        self.limit = limit
        super().__init__(reason, request_id)


class InvalidModule(PoolError):
    """A deployed module failed to decode or validate, or broke the deploy policy; the reason is kept."""


class DeployRefused(InvalidModule):
    """A deployed module breaks a rule of the deploy policy (``wasmpool.wire.deploy_policy``).

    ``limit`` names the rule (a ``DeployLimits`` field such as ``imports`` or
    ``memory_export``, ``host_abi`` for an import outside the host ABI, or
    ``floats``); ``where`` says where in the module: ``function 7 "parse"``
    (index in the function index space, with its name from the name section
    when there is one), ``import 2 env.foo``, ``memory 0``, ``global 1`` or a
    section (``export section``, ``module``). On the wire: an INVALID_MODULE
    whose ERROR body also carries ``limit`` and ``where``.
    """

    def __init__(self, reason: str, limit: str, where: str) -> None:
        self.limit, self.where = limit, where
        super().__init__(reason)

    def details(self) -> dict[str, str | int]:
        return {"where": self.where}

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.reason, self.limit, self.where)


class ModuleLimitExceeded(DeployRefused):
    """A deployed module has more of something than a deploy limit allows.

    ``value`` is the module's figure and ``maximum`` the limit's (the ERROR
    body carries both besides ``limit`` and ``where``).
    """

    def __init__(self, reason: str, limit: str, where: str, value: int, maximum: int) -> None:
        self.value, self.maximum = value, maximum
        super().__init__(reason, limit, where)

    def details(self) -> dict[str, str | int]:
        return {"where": self.where, "value": self.value, "maximum": self.maximum}

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.reason, self.limit, self.where, self.value, self.maximum)


class FloatsRejected(DeployRefused):
    """A module computes with floats and the float policy is ``reject``: the first offence is named.

    ``function`` (also ``where``) says where: ``function 3 "mean"``, ``global
    0``, ``import 1 env.sqrt``; ``instruction`` what: an instruction
    (``f64.add``, ``block (result f32)``) or a float type that appears
    (``param f32``, ``result f64``, ``local f64``, ``global f32``);
    ``offset`` is the instruction's byte offset in the module, -1 for a type.
    ``limit`` is ``floats``. The ERROR body carries ``where``,
    ``instruction`` and ``offset`` (when there is one).
    """

    def __init__(self, reason: str, function: str, instruction: str, offset: int = -1) -> None:
        self.function, self.instruction, self.offset = function, instruction, offset
        super().__init__(reason, "floats", function)

    def details(self) -> dict[str, str | int]:
        body: dict[str, str | int] = {"where": self.function, "instruction": self.instruction}
        if self.offset >= 0:
            body["offset"] = self.offset
        return body

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.reason, self.function, self.instruction, self.offset)


def invalid_module(verdict: str | InvalidModule) -> InvalidModule:
    """The error a deploy is refused with: a validator's typed refusal as it is, or its reason wrapped."""
    return verdict if isinstance(verdict, InvalidModule) else InvalidModule(f"invalid module: {verdict}")


class DeployOutOfGas(PoolError):
    """A deploy's gas limit is below what the module costs to deploy (per byte): nothing was stored.

    On the wire it is an ERROR with code OUT_OF_GAS.
    """


class UnknownCode(PoolError):
    """No module is stored under this code id."""


class UnknownContract(PoolError):
    """No contract instance exists at this address."""


class ContractExists(PoolError):
    """A contract already exists at the address an instantiate derives (same creator, code and salt)."""


class NotAdmin(PoolError):
    """Only a contract's admin may migrate it (a contract without an admin cannot be migrated)."""


class Busy(PoolError):
    """The broker's queue is full; try again later."""


class RequestTimeout(PoolError):
    """No answer came back in time (after the client's retries)."""


class Conflict(PoolError):
    """A call kept reading stale state and was re-executed too many times."""


class InternalError(PoolError):
    """A bug or an unexpected failure inside the pool."""


class StateRootMismatch(PoolError):
    """A block expected another pre-state root than the broker's current one: it was not run."""


class StorageError(PoolError):
    """The state store failed to write (disk full, I/O error): nothing was committed; retry later.

    The request is forgotten, so the same request id sent again is run again.
    """


class BlockFailed(PoolError):
    """A block could not be executed to the end (lost workers, time limits): nothing was committed.

    Only non-deterministic failures end a block this way, so a block either
    fails as a whole or gives the receipts every node gives.
    """


class ContractError(Exception):
    """A call ended on purpose before returning; becomes a ``Result`` status."""


class Revert(ContractError):
    """The contract called ``revert``: its writes are discarded."""


class ReadOnlyViolation(ContractError):
    """A read-only query tried to change state."""


class CallTimeout(ContractError):
    """The call ran longer than its time limit."""


class BadCall(ContractError):
    """The call named no exported function, or its arguments do not fit the signature."""


class StateUnavailable(ContractError):
    """The worker could not read state from the broker (lost or slow broker)."""


class ResultTooLarge(ContractError):
    """The call's result (output, logs, writes) is larger than a worker may send; nothing is committed."""
