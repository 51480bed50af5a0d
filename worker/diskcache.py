"""Compiled modules on disk, shared by every worker process of a host: one checked file per key.

A worker that meets a module after a restart, a recycle or a scale-out
loads its compiled form from here instead of compiling it again. The store
knows nothing of the engine: it keeps opaque payloads (serialized compiled
modules) under text keys (:meth:`wasmpool.worker.versions.CacheKey.text`,
which names everything that shapes the compiled form).

Each entry is one file, ``<key>.wpc``::

    magic "WPDC" | entry version (u16) | key length (u16) | payload length (u64) | SHA-256 (32 bytes)
    | key (UTF-8) | payload

The digest covers the key and the payload; it is read in full on every
hit, so its speed is part of every cold start: SHA-256, which current x86
and ARM processors compute in hardware, checks a 1.4 MB entry in 0.9 ms
where BLAKE2b-256 (entry version 1) took 1.8 ms. A file that is short, long,
damaged, of another entry version or holding another key (a foreign file
renamed into place) is deleted and counted as corrupt, and its key is a
miss: the caller compiles again. Nothing read from disk reaches the caller
unless its digest matches.

Writes are atomic: the entry is written to a temporary file in the same
directory (mode 0600, a unique name) and renamed over the final name with
``os.replace``, so a reader sees a whole old entry, a whole new one, or
none. There is no ``fsync``: the cache is only a cache. After a power loss
a renamed file may hold no data or old blocks; the digest then refuses it
and the module is compiled again, which costs what a miss costs, whereas an
``fsync`` per write would cost every compilation milliseconds.

The directory is bounded in bytes: after each write, the store lists the
directory and deletes the least recently used entries (by modification
time, which a hit refreshes with ``os.utime``) until the total fits.
Several processes may do this at once: deleting a file another process is
reading leaves its open file readable, and a file already deleted by
another process is skipped. Temporary files left by a process that died
mid-write are deleted once they are older than :data:`STALE_TEMP_SECONDS`.

A write that fails (a full disk, ENOSPC; a file-size limit, EFBIG; any
OSError) is counted and otherwise ignored: the module was compiled in
memory and the call goes on.

The directory holds executable code (marshalled code objects): it must be
writable by the worker's user alone. :func:`check_directory` refuses one
that is group- or world-writable or owned by someone else, as ssh refuses a
private key with loose permissions, unless the operator says otherwise.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
import time
from dataclasses import dataclass
from pathlib import Path

ENTRY_MAGIC = b"WPDC"
ENTRY_VERSION = 2  # 2: SHA-256 instead of BLAKE2b-256
HEADER = struct.Struct("<4sHHQ32s")  # magic, entry version, key length, payload length, digest
SUFFIX = ".wpc"
TEMP_PREFIX = ".tmp-"
MAX_KEY_BYTES = 255 - len(SUFFIX)  # a file name's limit on common file systems
STALE_TEMP_SECONDS = 3600.0
DEFAULT_DISK_BYTES = 1024 * 1024 * 1024
DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
LOOSE_BITS = stat.S_IWGRP | stat.S_IWOTH


class CacheDirRefused(Exception):
    """The cache directory cannot be used safely (or at all)."""


@dataclass(slots=True)
class DiskStats:
    """What one process's disk store has seen: the counters a worker reports."""

    hits: int = 0
    misses: int = 0
    writes: int = 0
    write_errors: int = 0  # writes that failed (disk full, file-size limit, any OSError)
    corrupt: int = 0  # entries found damaged, truncated or foreign, and deleted
    evictions: int = 0  # entries this process deleted to keep the directory within its bound
    bytes: int = 0  # the directory's entries, as last counted by this process (after a write or at start)


def check_directory(path: Path, *, allow_loose: bool = False) -> Path:
    """Create ``path`` (mode 0700) if needed and check it is safe to load code from (CacheDirRefused if not).

    Safe: a directory owned by this process's user, neither group- nor
    world-writable. ``allow_loose`` skips the ownership and mode checks (for
    a directory deliberately shared, at the operator's own risk).
    """
    try:
        path.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        info = path.stat()
    except OSError as exc:
        raise CacheDirRefused(f"the cache directory {path} cannot be used: {exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise CacheDirRefused(f"the cache directory {path} is not a directory")
    if allow_loose:
        return path
    if info.st_uid != os.geteuid():
        raise CacheDirRefused(f"the cache directory {path} belongs to another user (uid {info.st_uid}); "
                              "it holds executable code")
    if info.st_mode & LOOSE_BITS:
        raise CacheDirRefused(f"the cache directory {path} is writable by group or others "
                              f"(mode {stat.S_IMODE(info.st_mode):o}); it holds executable code: "
                              "chmod 700 it")
    return path


class DiskCache:
    """Payloads under text keys in one directory, checked on every read; see the module docstring."""

    def __init__(self, directory: Path, max_bytes: int = DEFAULT_DISK_BYTES) -> None:
        if max_bytes < 1:
            raise ValueError("a disk cache needs room for at least one byte")
        self.directory = directory
        self._folder = os.fspath(directory)  # entry names are joined as text: reads skip pathlib
        self.max_bytes = max_bytes
        self.stats = DiskStats()
        self.stats.bytes = self._entries_size()

    def path(self, key: str) -> Path:
        """The entry file of ``key`` (ValueError for a key that cannot be a file name)."""
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        """:meth:`path` as text."""
        encoded = key.encode()
        if not key or len(encoded) > MAX_KEY_BYTES or "/" in key or key.startswith("."):
            raise ValueError(f"a disk cache key must be a plain file name of at most {MAX_KEY_BYTES} bytes")
        return os.path.join(self._folder, key + SUFFIX)

    def get(self, key: str) -> bytes | None:
        """The payload stored under ``key``, or None (a miss; a bad entry is deleted and counted)."""
        path = self._file(key)
        payload = self._read(path, key)
        if payload is None:
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        try:
            os.utime(path)  # most recently used: the last to be evicted
        except OSError:
            pass
        return payload

    def recent(self, tail: str, limit: int) -> list[str]:
        """The keys ending in ``tail`` of the ``limit`` most recently used entries, newest first.

        Read from the directory's listing alone (names and modification
        times: nothing is opened), for a worker that loads the host's hot
        modules at its start; an unreadable directory lists nothing.
        """
        found: list[tuple[float, str]] = []
        ending = tail + SUFFIX
        try:
            with os.scandir(self.directory) as scan:
                for item in scan:
                    if item.name.endswith(ending):
                        try:
                            found.append((item.stat().st_mtime, item.name[:-len(SUFFIX)]))
                        except OSError:
                            continue  # deleted meanwhile by another process
        except OSError:
            return []
        found.sort(reverse=True)
        return [key for _, key in found[:limit]]

    def peek(self, key: str) -> bytes | None:
        """The payload stored under ``key``, or None, without counting a hit or a miss or refreshing
        its age (a look before replacing an entry; a bad entry is still deleted and counted)."""
        return self._read(self._file(key), key)

    def _read(self, path: str, key: str) -> bytes | None:
        try:
            with open(path, "rb") as file:
                data = file.read()
        except OSError:  # absent, or unreadable (permissions, I/O error): a write will replace it
            return None
        payload = unpack(data, key)
        if payload is None:
            self.stats.corrupt += 1
            _remove(path)
        return payload

    def put(self, key: str, payload: bytes) -> bool:
        """Store ``payload`` under ``key`` atomically, then evict to the bound; False if the write failed."""
        path = self.path(key)
        data = pack(key, payload)
        if len(data) > self.max_bytes:
            return False
        temp = self.directory / f"{TEMP_PREFIX}{os.getpid()}-{time.monotonic_ns()}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(temp, path)
        except OSError:
            self.stats.write_errors += 1
            _remove(temp)
            return False
        self.stats.writes += 1
        self.evict()
        return True

    def evict(self) -> None:
        """Delete least recently used entries until the directory's entries fit ``max_bytes``."""
        entries = []
        now = time.time()
        try:
            with os.scandir(self.directory) as scan:
                for item in scan:
                    try:
                        info = item.stat()
                    except OSError:
                        continue  # deleted meanwhile by another process
                    if item.name.endswith(SUFFIX):
                        entries.append((info.st_mtime, item.name, info.st_size))
                    elif item.name.startswith(TEMP_PREFIX) and now - info.st_mtime > STALE_TEMP_SECONDS:
                        _remove(Path(item.path))
        except OSError:
            return
        total = sum(size for _, _, size in entries)
        entries.sort()
        for _, name, size in entries:
            if total <= self.max_bytes:
                break
            if _remove(self.directory / name):
                self.stats.evictions += 1
            total -= size
        self.stats.bytes = total

    def _entries_size(self) -> int:
        try:
            with os.scandir(self.directory) as scan:
                return sum(_size(item) for item in scan if item.name.endswith(SUFFIX))
        except OSError:
            return 0


def pack(key: str, payload: bytes) -> bytes:
    """An entry file's bytes: header, key, payload."""
    encoded = key.encode()
    digest = _digest(encoded, payload)
    return HEADER.pack(ENTRY_MAGIC, ENTRY_VERSION, len(encoded), len(payload), digest) + encoded + payload


def unpack(data: bytes, key: str) -> bytes | None:
    """The payload of an entry file if it is whole, undamaged and holds ``key``; else None."""
    if len(data) < HEADER.size:
        return None
    magic, version, key_length, payload_length, digest = HEADER.unpack_from(data)
    if magic != ENTRY_MAGIC or version != ENTRY_VERSION:
        return None
    if len(data) != HEADER.size + key_length + payload_length:
        return None
    view = memoryview(data)
    stored_key = bytes(view[HEADER.size:HEADER.size + key_length])
    payload = view[HEADER.size + key_length:]
    if stored_key != key.encode() or _digest(stored_key, payload) != digest:
        return None
    return bytes(payload)


def _digest(key: bytes, payload: bytes | memoryview) -> bytes:
    hasher = hashlib.sha256()
    hasher.update(struct.pack("<Q", len(key)))
    hasher.update(key)
    hasher.update(payload)
    return hasher.digest()


def _size(item: os.DirEntry[str]) -> int:
    try:
        return item.stat().st_size
    except OSError:
        return 0


def _remove(path: str | Path) -> bool:
    """Delete a file; False if it was gone already or cannot be deleted."""
    try:
        os.unlink(path)
    except OSError:
        return False
    return True
