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

A large module compiles function by function on first call, so its entry
is partial (:class:`wasmpool.wasm.serialize.PartialModule`): the functions
compiled so far and the module's bytes, from which a loading worker
compiles any other function exactly as if it had compiled the module
itself. It is stored when the module is loaded and stored again, between
jobs (:meth:`Loader.tend`), whenever this worker has compiled more of its
functions, so the entry grows toward the functions the contract's calls
use; an entry on disk that holds functions this worker has not compiled
lends them to it before being replaced, so workers sharing the directory
do not undo each other's progress.
"""

from __future__ import annotations

import struct
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from wasmpool import wasm
from wasmpool.wasm.serialize import PartialModule, maker_of
from wasmpool.wire import protocol as p
from wasmpool.worker.diskcache import DiskCache, DiskStats
from wasmpool.worker.host import check_imports
from wasmpool.worker.modules import CANONICAL_NANS, Loaded, load
from wasmpool.worker.versions import CacheKey, cache_key, engine_build

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

    def recent(self, limit: int) -> list[str]:
        """Code ids of the ``limit`` modules of this worker's versions most recently used on this host."""
        tail = cache_key("").versions()
        ids = [key[:-len(tail)] for key in self.store.recent(tail, limit)]
        return [code_id for code_id in ids if p.is_code_id(code_id)]

    def put(self, loaded: Loaded, source: bytes | None = None) -> bool:
        """Store a compiled module under its key; False when it is not stored.

        A module compiled lazily (more than ``EAGER_CODE_BYTES`` of code:
        its functions compile on first call) is stored partial, with
        ``source`` (its bytes; a module loaded partial from disk has its
        own), never compiled whole here: that would compile every function
        during this call. Not stored: a module that cannot run, one of
        another variant, a lazy one without its bytes, or when the write failed.
        """
        compiled = loaded.compiled
        if compiled is None:
            return False
        key = loaded.key
        if (compiled.metered, compiled.canonical_nans) != variant(key):
            return False  # the key would misname it
        if isinstance(compiled, PartialModule):
            source = compiled.source
        if len(compiled.codes) < len(compiled.module.funcs) and source is None:
            return False  # compiled lazily, and its bytes are not at hand
        blob = wasm.serialize_compiled(compiled, source)
        return self.store.put(key.text(), SIZE.pack(loaded.size) + blob)

    def lend(self, compiled: wasm.CompiledModule, key: CacheKey) -> int:
        """Add to ``compiled`` the code of functions that ``key``'s entry holds and it lacks; how many.

        The entry was written by a worker of the same versions (its key
        says so) for the same module, so its code objects are the ones
        this worker would compile. A missing or unreadable entry lends
        nothing (and is not counted as a hit or a miss).
        """
        data = self.store.peek(key.text())
        if data is None:
            return 0
        try:
            metered, canonical = variant(key)
            stored = wasm.deserialize_compiled(memoryview(data)[SIZE.size:], metered=metered,
                                               canonical_nans=canonical)
        except (struct.error, wasm.ArtifactError):
            return 0
        if stored.code_bytes != compiled.code_bytes or len(stored.module.funcs) != len(compiled.module.funcs):
            return 0
        lent = {index: code for index, code in stored.codes.items() if index not in compiled.codes}
        compiled.codes.update(lent)
        return len(lent)

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
    preloaded: int = 0  # loaded from disk at the worker's start, before any call asked (Loader.preload)


@dataclass(slots=True)
class Growing:
    """A module in memory whose disk entry may be stored again: what storing it needs, what it holds."""

    module: weakref.ref[wasm.CompiledModule]
    key: CacheKey
    size: int
    source: bytes | None  # the module's bytes, for a partial entry
    stored: int  # functions compiled when it was last stored
    maker: bool  # whether the stored entry holds the module's instance maker

    def news(self, compiled: wasm.CompiledModule) -> bool:
        """Whether the module has what its entry lacks: functions compiled since, or its instance maker."""
        return len(compiled.codes) > self.stored or (not self.maker and maker_of(compiled) is not None)


class Loader:
    """Everything below the memory caches: the disk tier (if any), then fetching and compiling."""

    def __init__(self, disk: DiskTier | None = None) -> None:
        self.disk = disk
        self.counts = TierCounts()
        engine_build()  # the cache keys' engine build, read from the engine's files now, not on a first call
        self.growing: dict[int, Growing] = {}  # entries of live modules that may grow, by id(compiled)

    def load(self, code_id: str, fetch: Callable[[], bytes]) -> Loaded:
        """``code_id``'s module: from disk, else ``fetch()``'s bytes compiled (and stored on disk).

        ``fetch`` returns the module's bytes, already checked against the
        code id (it raises when the broker has none).
        """
        loaded = self.from_disk(code_id)
        if loaded is not None:
            return loaded
        code = fetch()
        loaded = load(code, code_id)
        self.counts.compile += 1
        if self.disk is not None:
            self.disk.put(loaded, code)
            self._watch(loaded, code)
        return loaded

    def from_disk(self, code_id: str) -> Loaded | None:
        """``code_id``'s module from the disk tier, or None (no disk tier, no entry, a bad one)."""
        if self.disk is None:
            return None
        loaded = self.disk.get(cache_key(code_id))
        if loaded is not None:
            self.counts.disk += 1
            self._watch(loaded, None)
        return loaded

    def preload(self, limit: int, seconds: float, keep: Callable[[str, Loaded], None]) -> int:
        """Load the host's ``limit`` most recently used modules from disk and ``keep`` each; how many.

        For a worker's start (a restart, a recycle, one more process): the
        modules the host's workers ran last are in memory before the first
        call, as a database warms its buffer pool from the pages it used
        last. Stops after ``seconds`` (the worker is not serving meanwhile);
        an entry that cannot be loaded is skipped (a damaged one deleted).
        """
        if self.disk is None or limit <= 0:
            return 0
        deadline = time.monotonic() + seconds
        loaded_count = 0
        for code_id in self.disk.recent(limit):
            if time.monotonic() > deadline:
                break
            loaded = self.disk.get(cache_key(code_id))
            if loaded is None or loaded.compiled is None:
                continue
            self._watch(loaded, None)
            keep(code_id, loaded)
            loaded_count += 1
        self.counts.preloaded += loaded_count
        return loaded_count

    def tend(self) -> bool:
        """Store again one entry whose module has grown since it was stored; True if one was.

        Grown: functions compiled since (a lazily compiled module), or the
        instance maker made (on the module's second instantiation, see
        ``wasm.serialize.maker_of``). Meant for a worker between jobs: one
        write per turn, so a job that arrives meanwhile waits for one write
        at most. Modules no longer in memory, and those stored whole with
        their maker, are dropped.
        """
        for ident, growing in list(self.growing.items()):
            compiled = growing.module()
            if compiled is None or (growing.stored == len(compiled.module.funcs) and growing.maker):
                del self.growing[ident]
                continue
            if growing.news(compiled) and self.disk is not None:
                if len(compiled.codes) < len(compiled.module.funcs):
                    self.disk.lend(compiled, growing.key)
                growing.stored, growing.maker = len(compiled.codes), maker_of(compiled) is not None
                self.disk.put(Loaded(compiled.module, compiled, None, growing.key, growing.size),
                              growing.source)
                return True
        return False

    def _watch(self, loaded: Loaded, source: bytes | None) -> None:
        """Follow a module whose entry may grow (partial, or without its maker), to store it again."""
        compiled = loaded.compiled
        if compiled is None:
            return
        whole = len(compiled.codes) == len(compiled.module.funcs)
        maker = maker_of(compiled) is not None
        if whole and maker:
            return
        if isinstance(compiled, PartialModule):
            source = compiled.source
        if not whole and source is None:
            return
        ident = id(compiled)
        gone = weakref.finalize(compiled, self.growing.pop, ident, None)
        gone.atexit = False
        kept, count = None if whole else source, len(compiled.codes)
        self.growing[ident] = Growing(weakref.ref(compiled), loaded.key, loaded.size, kept, count, maker)

    def report(self, memory_hits: int) -> dict[str, int]:
        """The tier counters a worker reports: modules by tier, and the disk cache's own counters."""
        counts = {"memory": memory_hits, "disk": self.counts.disk, "compile": self.counts.compile,
                  "preloaded": self.counts.preloaded}
        if self.disk is not None:
            stats = self.disk.stats
            counts.update(disk_bytes=stats.bytes, disk_evictions=stats.evictions, disk_corrupt=stats.corrupt,
                          disk_write_errors=stats.write_errors)
        return counts
