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


class PoolError(Exception):
    """A request the pool cannot serve; ``reason`` is the message for people."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


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
    """A deployed module failed to decode or validate; the engine's message is kept."""


class UnknownCode(PoolError):
    """No module is stored under this code id."""


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
