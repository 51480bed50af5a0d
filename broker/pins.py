"""Pinned modules: the code ids every worker keeps compiled in memory, outside its LRU cache.

The broker owns the pinned set. It starts as what the store recorded plus
the ``--pin`` code ids of :class:`~wasmpool.broker.config.BrokerConfig`
(each must be deployed: those are recorded too, as if pinned by request),
and changes with the ``pin`` and ``unpin`` requests. Pins are kept by the
store apart from contract state (:meth:`~wasmpool.broker.state.StateStore.pins`),
so pinning never moves the state root or the commit sequence.

Workers learn the whole set from the broker's HEARTBEAT: the one answering
their READY, and one to every worker whenever the set changes. Each worker
fetches the pinned modules it lacks with a ``pin_code`` CALLBACK (served
here only for pinned code ids) and compiles them between jobs; the broker
routes calls on pinned modules to any worker (``BrokerCore._pick_worker``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from wasmpool.broker.state import StateStore
from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Op

MAX_PINNED_LIMIT = "max_pinned"
"""The name a refused pin carries as its ``limit`` (the ceiling is ``protocol.MAX_PINNED``)."""


class Pins:
    """The pinned set: checked against deployed code, bounded, recorded in the store."""

    def __init__(self, store: StateStore, deployed: Callable[[str], bool], initial: Iterable[str] = (),
                 limit: int = p.MAX_PINNED) -> None:
        self.store = store
        self.deployed = deployed
        self.limit = limit
        self.codes: set[str] = set(store.pins())
        for code_id in initial:
            self.change(Op.PIN, code_id)

    def __contains__(self, code_id: object) -> bool:
        return code_id in self.codes

    def __len__(self) -> int:
        return len(self.codes)

    def listed(self) -> list[str]:
        """The pinned code ids, sorted (as HEARTBEATs and stats carry them)."""
        return sorted(self.codes)

    def change(self, op: Op, code_id: str) -> m.PinReply:
        """Pin or unpin ``code_id``: UnknownCode when no such module is deployed, BadRequest past the limit.

        Unpinning a module that is not pinned changes nothing and is no error.
        The store is written first: a failing store (raising) leaves the set as it was.
        """
        if not p.is_code_id(code_id) or not self.deployed(code_id):
            raise errors.UnknownCode(f"no module deployed with code id {code_id}")
        pinned = op is Op.PIN
        if pinned == (code_id in self.codes):
            return m.PinReply(code_id, pinned, False)
        if pinned and len(self.codes) >= self.limit:
            raise errors.LimitExceeded(f"{len(self.codes)} modules are pinned already (max_pinned "
                                       f"{self.limit}); unpin one first", limit=MAX_PINNED_LIMIT)
        self.store.set_pinned(code_id, pinned)
        if pinned:
            self.codes.add(code_id)
        else:
            self.codes.discard(code_id)
        return m.PinReply(code_id, pinned, True)

    def missing(self, cached: Iterable[str]) -> list[str]:
        """The pinned code ids absent from a worker's cache report (``cached``), sorted."""
        return sorted(self.codes.difference(cached))
