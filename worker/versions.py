"""The versions that decide a result, the gas schedule they name, and compiled-code cache keys.

A call's result (status, output, gas, writes) is decided by the engine's
semantics, the gas schedule, the host ABI and the float policy. Every call
result and block receipt carries them (``versions``: ``engine``, ``gas``,
``abi``, ``floats``; the worker fills the first three, the broker the float
policy it enforces), workers announce them when they register and a broker
refuses a worker whose versions differ from the pool's: two nodes, or two
workers of one pool, that ran different rules must not be mistaken for
ones that agree.

``GAS_SCHEDULE_VERSION`` names the whole price table that
:func:`gas_schedule` lists (the engine's, the host ABI's, deploy and load);
``tests/test_versions.py`` pins it with the table's digest, so a price
cannot change without the version changing too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
from pathlib import Path
from typing import NamedTuple

import wasmpool.wasm
from wasmpool.wasm.prices import engine_prices
from wasmpool.wasm.versions import SEMANTICS_VERSION
from wasmpool.wire import prices as wire_prices
from wasmpool.worker.host import ABI, HostGas
from wasmpool.worker.host_crypto import CryptoGas
from wasmpool.worker.iteration import IterationGas

GAS_SCHEDULE_VERSION = 8
"""Bump whenever any price of :func:`gas_schedule` changes (and re-pin the digest in the test)."""
ABI_VERSION = 6
"""The contract host ABI (``wasmpool.worker.host``): bump on any change to its imports or behaviour."""
FLOATS_CANONICAL = "canonical"
"""The float policy under which this worker compiles every module (canonical NaNs)."""


class Versions(NamedTuple):
    """The versions a worker runs by (the broker adds the float policy to results)."""

    engine: int
    gas: int
    abi: int

    def as_dict(self) -> dict[str, int | str]:
        """The wire form: ``{"engine": .., "gas": .., "abi": ..}``."""
        return {"engine": self.engine, "gas": self.gas, "abi": self.abi}


WORKER_VERSIONS = Versions(engine=SEMANTICS_VERSION, gas=GAS_SCHEDULE_VERSION, abi=ABI_VERSION)
"""This worker's versions."""


def gas_schedule() -> dict[str, int]:
    """Every gas price of the pool under a stable name, sorted: engine, host ABI, deploy and load."""
    table = dict(engine_prices())
    table.update({f"host.{name}": int(fn.gas) for name, fn in ABI.items()})
    table.update({f"host.gas.{price.name.lower()}": int(price) for price in HostGas})
    table.update({f"host.crypto.{price.name.lower()}": int(price) for price in CryptoGas})
    table.update({f"host.iteration.{price.name.lower()}": int(price) for price in IterationGas})
    table.update(wire_prices.deploy_prices())
    return dict(sorted(table.items()))


def gas_schedule_digest() -> str:
    """The SHA-256 (hex) of :func:`gas_schedule` in canonical JSON (sorted keys, no spaces)."""
    text = json.dumps(gas_schedule(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class CacheKey(NamedTuple):
    """What a compiled module depends on: a compiled-code cache may reuse an entry only if all match."""

    code_id: str
    engine: int
    gas: int
    floats: str
    metered: bool
    python: str  # sys.implementation.cache_tag: the bytecode compiled code is made of
    build: str  # engine_build(): the engine's source that compiled it and whose names it binds

    def text(self) -> str:
        """The key as one string, safe as a file name (the code id is hex)."""
        return self.code_id + self.versions()

    def versions(self) -> str:
        """What :meth:`text` adds after the code id: the same for every module of one worker's versions."""
        metered = "m" if self.metered else "u"
        return f"-e{self.engine}-g{self.gas}-{self.floats}-{metered}-{self.python}-b{self.build}"


def cache_key(code_id: str, *, metered: bool = True, floats: str = FLOATS_CANONICAL) -> CacheKey:
    """The compiled-code cache key of ``code_id`` compiled by this worker's engine and schedule."""
    return CacheKey(code_id, SEMANTICS_VERSION, GAS_SCHEDULE_VERSION, floats, metered,
                    sys.implementation.cache_tag or "none", engine_build())


def source_digest(root: Path) -> str:
    """A digest of every Python source file under ``root``: names (relative, sorted) and contents."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def engine_build() -> str:
    """The engine's build: :func:`source_digest` of the ``wasmpool.wasm`` package, read once per process.

    Compiled code is made by the engine's compiler and binds names its
    runtime defines (helpers, memory views, signature names), so a cache
    entry is reused only by the very same engine source: an upgrade that
    changes any file of it compiles afresh, whatever the version numbers
    say (a compiled artifact keyed by less than what shapes it outlives an
    upgrade). About 3 ms; a worker takes it at start (its ``Loader``),
    not on its first call.
    """
    return source_digest(Path(wasmpool.wasm.__file__).parent)
