"""Reads answered ahead: the state a call will likely read, sent with its REQUEST.

A read the worker asks for (a CALLBACK) costs a round trip between the
worker and the broker, about as long as the rest of a small call. So when
the broker hands a call or query to a worker that will run it at once, it
reads the keys the call is likely to read and sends them with the job
(``prefetched``, as a block chunk's): the worker reads them without asking.

Which keys:

- *declared*: the call's ``access`` list (the client knows its keys, like
  an Ethereum access list or a Solana transaction's accounts);
- *learned*: for each (namespace, export), the keys the last two ok calls
  both read (:class:`ReadHints`). A key every call of an export reads (a
  total supply, a configuration, an owner) is learned after two calls;
  keys that change from call to call (one account's balance) are not.

Each key is read from the committed store as a CALLBACK ``get`` would be,
and its version kept aside (:attr:`Offer.versions`). The worker says which
of them the call read (the result's ``ahead``), and only those join the
job's read set, so a key sent and not read makes no conflict. Validation is
unchanged: a read answered ahead is checked at commit (or, for a query,
against the store before its answer) like any other, so hints change how
fast a call runs, never its result, gas or writes.

A job waiting at a worker behind another is sent without reads ahead:
the job before it may commit a write to the same key first, and the value
read at dispatch would be stale by the time it runs.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MAX_AHEAD_KEYS = 32
"""The most keys answered ahead for one call."""

MAX_AHEAD_BYTES = 64 * 1024
"""The most key and value bytes answered ahead for one call (also at most a quarter of the body limit)."""

MAX_LEARNED_FUNCTIONS = 1024
"""The most (namespace, export) pairs whose reads the broker remembers (least recently used go first)."""

MAX_LEARNED_KEYS = 32
"""The most keys remembered per (namespace, export): the first ones a call read."""

MAX_LEARNED_KEY = 256
"""The longest key learned (longer ones are only answered ahead when declared): bounds the hints' memory."""


@dataclass(slots=True)
class _Learned:
    last: frozenset[bytes]  # what the latest ok call read (up to MAX_LEARNED_KEYS)
    stable: tuple[bytes, ...]  # of those, the ones the call before it read too, in read order


class ReadHints:
    """What the calls of each (namespace, export) read, learned from their ok results; bounded, LRU."""

    def __init__(self, max_functions: int = MAX_LEARNED_FUNCTIONS) -> None:
        self.max_functions = max_functions
        self._learned: OrderedDict[tuple[str, str], _Learned] = OrderedDict()

    def __len__(self) -> int:
        return len(self._learned)

    def keys(self, space: str, function: str) -> tuple[bytes, ...]:
        """The keys both of the last two ok calls of ``function`` in ``space`` read (none yet: empty)."""
        learned = self._learned.get((space, function))
        if learned is None:
            return ()
        self._learned.move_to_end((space, function))
        return learned.stable

    def learn(self, space: str, function: str, read: Iterable[bytes]) -> None:
        """An ok call of ``function`` in ``space`` read the keys ``read`` (its own namespace's, in order)."""
        now: list[bytes] = []
        for key in read:
            if len(key) <= MAX_LEARNED_KEY and key not in now:
                now.append(key)
                if len(now) == MAX_LEARNED_KEYS:
                    break
        where = (space, function)
        before = self._learned.pop(where, None)
        stable = () if before is None else tuple(key for key in now if key in before.last)
        if now or before is not None:
            self._learned[where] = _Learned(frozenset(now), stable)
        while len(self._learned) > self.max_functions:
            self._learned.popitem(last=False)


@dataclass(slots=True)
class Offer:
    """The reads answered ahead for one attempt of a job: what goes in its REQUEST, and their versions."""

    pairs: list[list[bytes | None]] = field(default_factory=list)  # [key, value or None], as sent
    versions: list[int] = field(default_factory=list)  # the version of each, by index

    def version(self, index: int) -> tuple[bytes, int] | None:
        """The key and version of the ``index``-th read sent (None: no such read)."""
        if 0 <= index < len(self.pairs):
            key = self.pairs[index][0]
            assert key is not None
            return key, self.versions[index]
        return None


def wanted(declared: Sequence[bytes], learned: Sequence[bytes]) -> list[bytes]:
    """The keys to answer ahead: declared first, then learned, each once, at most MAX_AHEAD_KEYS."""
    keys: list[bytes] = []
    seen: set[bytes] = set()
    for key in (*declared, *learned):
        if key not in seen:
            seen.add(key)
            keys.append(key)
            if len(keys) == MAX_AHEAD_KEYS:
                break
    return keys
