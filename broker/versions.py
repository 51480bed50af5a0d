"""Which workers may join the pool: those that run by the pool's versions.

Every worker announces in READY the versions that decide its results
(engine semantics, gas schedule, host ABI: ``wasmpool.worker.versions``).
A pool whose workers disagree would answer the same call, or the same
block, differently depending on which worker ran it, so the broker admits
only workers whose versions equal the pool's: those it was told to expect
(:meth:`VersionGate.expect`, e.g. by ``wasmpool.embed.Broker``, which knows
the worker it ships with), else those of the first worker it admitted. A
refused worker is not registered (no job is ever dispatched to it); it is
logged and counted once per worker, however often it registers again.

The broker never imports the engine: versions are opaque maps here,
compared whole.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from wasmpool.broker import logs

MAX_REFUSED = 1024
"""Refused workers remembered (so each is logged and counted once); the oldest are forgotten first."""

Versions = Mapping[str, Any] | None


class VersionGate:
    """The pool's worker versions and the workers refused for announcing others.

    ``count(name)`` is told ``workers_refused_versions`` once per refused worker.
    """

    def __init__(self, log: logging.Logger, count: Callable[[str], None], expected: Versions = None) -> None:
        self.log = log
        self.count = count
        self.expected: dict[str, Any] | None = None if expected is None else dict(expected)
        self.fixed = expected is not None  # False: the first admitted worker's versions become the pool's
        self.refused: dict[bytes, dict[str, Any] | None] = {}  # identity -> what it announced

    def expect(self, versions: Mapping[str, Any]) -> None:
        """Admit only workers announcing exactly ``versions`` from now on."""
        self.expected, self.fixed = dict(versions), True

    def admit(self, identity: bytes, versions: Versions) -> bool:
        """Whether the worker ``identity`` announcing ``versions`` may join (False: refused, noted once)."""
        announced = None if versions is None else dict(versions)
        if not self.fixed:
            self.expected, self.fixed = announced, True
        if announced == self.expected:
            self.refused.pop(identity, None)
            return True
        if identity not in self.refused:
            if len(self.refused) >= MAX_REFUSED:
                del self.refused[next(iter(self.refused))]
            self.refused[identity] = announced
            self.count("workers_refused_versions")
            logs.event(self.log, "worker_refused", level=logging.WARNING, worker=identity.hex(),
                       versions=announced, expected=self.expected)
        return False
