"""Where a worker gets a module its memory caches lack: the host's disk cache, else fetch and compile.

The tiers, top down: the pinned map and the LRU in memory
(:mod:`wasmpool.worker.pinned`, :mod:`wasmpool.worker.cache`), then the
compiled-code cache on disk (:class:`DiskTier`, over
:class:`~wasmpool.worker.diskcache.DiskCache`), then fetching the bytes
from the broker and compiling them (:func:`wasmpool.worker.modules.load`).
:class:`Loader` is everything below memory: the worker asks it on a memory
miss and puts what it returns into its memory cache, so any map can sit in
front of it.

A disk entry is found by the module's :class:`~wasmpool.worker.versions.CacheKey`
(code id, engine semantics, gas schedule, float policy, metering, CPython
bytecode), so a worker of other versions never loads it. What a loaded
entry becomes is checked once more: the blob's variant must be the one this
worker compiles in (metered as the key says, canonical NaNs as
``modules.CANONICAL_NANS`` says), and the module's imports are checked
against this worker's host ABI again, as after a compilation. An entry
that cannot be loaded is deleted and the module compiled.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from wasmpool import wasm
from wasmpool.worker.diskcache import DiskCache, DiskStats
from wasmpool.worker.host import check_imports
from wasmpool.worker.modules import CANONICAL_NANS, Loaded, load
from wasmpool.worker.versions import CacheKey, cache_key

SIZE = struct.Struct("<Q")  # the module's size in bytes (it prices every call's load) before the blob


class Tier(IntEnum):
    """Where a call's module came from (the counters a worker reports)."""

    MEMORY = 0  # the pinned map or the LRU
    DISK = 1  # the host's compiled-code cache
    COMPILE = 2  # fetched from the broker and compiled


def variant(key: CacheKey) -> tuple[bool, bool]:
    """(metered, canonical NaNs): the variant :func:`~wasmpool.worker.modules.load` compiles ``key``'s
    module in, which is the only variant a disk entry may hold under that key."""
    return key.metered, CANONICAL_NANS


class DiskTier:
    """Loaded modules in a :class:`DiskCache`, stored as serialized compiled modules."""

    def __init__(self, store: DiskCache) -> None:
        self.store = store

    @classmethod
    def at(cls, directory: Path, max_bytes: int) -> DiskTier:
        return cls(DiskCache(directory, max_bytes))

    @property
    def stats(self) -> DiskStats:
        return self.store.stats

    def get(self, key: CacheKey) -> Loaded | None:
        """The module stored under ``key``, or None (absent, damaged or of another variant: deleted)."""
        data = self.store.get(key.text())
        if data is None:
            return None
        try:
            (size,) = SIZE.unpack_from(data)
            metered, canonical = variant(key)
            compiled = wasm.deserialize_compiled(memoryview(data)[SIZE.size:], metered=metered,
                                                 canonical_nans=canonical)
        except (struct.error, wasm.ArtifactError):
            self._discard(key)
            return None
        try:
            check_imports(compiled.module)
        except wasm.LinkError as exc:  # the host ABI changed under the same key: not loadable here
            return Loaded(compiled.module, None, str(exc), key, size)
        return Loaded(compiled.module, compiled, None, key, size)

    def put(self, loaded: Loaded) -> bool:
        """Store a compiled module under its key; False when it is not stored.

        Not stored: a module that cannot run, one of another variant, one
        compiled lazily (more than ``EAGER_CODE_BYTES`` of code: its
        functions compile on first call, and serializing would compile them
        all during this call), or when the write failed.
        """
        compiled = loaded.compiled
        if compiled is None:
            return False
        key = loaded.key
        if (compiled.metered, compiled.canonical_nans) != variant(key):
            return False  # the key would misname it
        if len(compiled.codes) < len(compiled.module.funcs):
            return False  # compiled lazily (a large module): serializing would compile every function now
        blob = wasm.serialize_compiled(compiled)
        return self.store.put(key.text(), SIZE.pack(loaded.size) + blob)

    def _discard(self, key: CacheKey) -> None:
        """An entry whose checksum held but whose contents cannot be loaded here: delete it, count it."""
        try:
            self.store.path(key.text()).unlink()
        except OSError:
            pass
        self.stats.corrupt += 1
        self.stats.hits -= 1
        self.stats.misses += 1


@dataclass(slots=True)
class TierCounts:
    """Modules served by each tier below memory (memory hits are the memory caches' own ``hits``)."""

    disk: int = 0
    compile: int = 0


class Loader:
    """Everything below the memory caches: the disk tier (if any), then fetching and compiling."""

    def __init__(self, disk: DiskTier | None = None) -> None:
        self.disk = disk
        self.counts = TierCounts()

    def load(self, code_id: str, fetch: Callable[[], bytes]) -> Loaded:
        """``code_id``'s module: from disk, else ``fetch()``'s bytes compiled (and stored on disk).

        ``fetch`` returns the module's bytes, already checked against the
        code id (it raises when the broker has none).
        """
        key = cache_key(code_id)
        if self.disk is not None:
            loaded = self.disk.get(key)
            if loaded is not None:
                self.counts.disk += 1
                return loaded
        loaded = load(fetch(), code_id)
        self.counts.compile += 1
        if self.disk is not None:
            self.disk.put(loaded)
        return loaded

    def report(self, memory_hits: int) -> dict[str, int]:
        """The tier counters a worker reports: modules by tier, and the disk cache's own counters."""
        counts = {"memory": memory_hits, "disk": self.counts.disk, "compile": self.counts.compile}
        if self.disk is not None:
            stats = self.disk.stats
            counts.update(disk_bytes=stats.bytes, disk_evictions=stats.evictions, disk_corrupt=stats.corrupt,
                          disk_write_errors=stats.write_errors)
        return counts
