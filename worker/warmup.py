"""Warming a fresh worker process's job path before it takes its first job.

CPython runs the first executions of a function unspecialized, fills its
attribute and global caches as it goes, and a fresh process has touched
none of the memory its first job allocates. A worker's first job pays for
all of it on every path it takes for the first time: reading a module's
disk entry, unmarshalling it, the first instance's general path, the
second's instance maker, the host ABI, the result's encoding. Measured on
a fresh worker process, that made the token contract's first call from
the disk cache about 1 ms slower than the same work in a warm process
(``bench/pool/cold_start.py`` has the before/after).

So, before it says READY, a worker process runs a small built-in contract
through that same path a few times (``WorkerConfig.warm_up``, ``wasmpool
worker --warm-up``): compiled once, stored in a private temporary
directory as a disk entry, then each round read
back, instantiated twice and called (state read and written through the
worker's own :class:`~wasmpool.worker.host.Host`, whose function objects
the instance makers of real modules check), its results encoded as a
FINAL would be. Nothing of it stays: the directory is deleted, the
worker's caches, tier counts and session never see the contract, and a
failure only costs the warmth (it is logged; the worker serves anyway).
The collector then runs once and freezes what is left, the process's
long-lived objects (imported modules, the worker itself), so that later
full passes do not walk them again (``gc.freeze``).
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from wasmpool import wasm
from wasmpool.wasm.builder import Instruction, ModuleBuilder
from wasmpool.wasm.opcodes import Opcode
from wasmpool.wasm.types import ValType
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.worker import execute as run
from wasmpool.worker.config import DEFAULT_WARM_UP
from wasmpool.worker.modules import Loaded, load
from wasmpool.worker.readers import MappingState, namespace
from wasmpool.worker.tiers import DiskTier
from wasmpool.worker.versions import cache_key

STATE_KEY = b"warm"
OUTPUT_AT, OUTPUT_LEN = 64, 8
WORDS = 16  # words the contract's loop writes and reads back
WARM_GAS = 10**7


def contract() -> bytes:
    """The warm-up contract: ``run() -> i32`` reads its state, loops over memory, writes state and output.

    Built in code (no file to ship): one memory exported as the ABI
    needs, the ``get_state``, ``put_state`` and ``set_output`` imports, a
    loop of stores and loads, and the calls a typical contract makes.
    """
    i32 = ValType.I32
    b = ModuleBuilder()
    get_state = b.import_func("env", "get_state", (i32,) * 4, (i32,))
    put_state = b.import_func("env", "put_state", (i32,) * 4)
    set_output = b.import_func("env", "set_output", (i32,) * 2)
    b.memory(1, export="memory")
    b.data([(Opcode.I32_CONST, 0)], STATE_KEY)
    key: list[Instruction] = [(Opcode.I32_CONST, 0), (Opcode.I32_CONST, len(STATE_KEY))]
    out: list[Instruction] = [(Opcode.I32_CONST, OUTPUT_AT)]
    i, total = 0, 1  # locals
    body: list[Instruction] = [
        *key, *out, (Opcode.I32_CONST, OUTPUT_LEN), (Opcode.CALL, get_state), Opcode.DROP,
        (Opcode.BLOCK, None), (Opcode.LOOP, None),
        # memory[128 + 4 i] = i * 2654435761 ^ total; total += memory[128 + 4 i]
        (Opcode.LOCAL_GET, i), (Opcode.I32_CONST, 2), Opcode.I32_SHL,
        (Opcode.LOCAL_GET, i), (Opcode.I32_CONST, -1640531535), Opcode.I32_MUL,
        (Opcode.LOCAL_GET, total), Opcode.I32_XOR,
        (Opcode.I32_STORE, (2, 128)),
        (Opcode.LOCAL_GET, total),
        (Opcode.LOCAL_GET, i), (Opcode.I32_CONST, 2), Opcode.I32_SHL, (Opcode.I32_LOAD, (2, 128)),
        Opcode.I32_ADD, (Opcode.LOCAL_SET, total),
        (Opcode.LOCAL_GET, i), (Opcode.I32_CONST, 1), Opcode.I32_ADD, (Opcode.LOCAL_TEE, i),
        (Opcode.I32_CONST, WORDS), Opcode.I32_LT_U, (Opcode.BR_IF, 0),
        Opcode.END, Opcode.END,
        *out, (Opcode.LOCAL_GET, total), (Opcode.I32_STORE, (2, 0)),
        *key, *out, (Opcode.I32_CONST, OUTPUT_LEN), (Opcode.CALL, put_state),
        *out, (Opcode.I32_CONST, OUTPUT_LEN), (Opcode.CALL, set_output),
        (Opcode.LOCAL_GET, total),
    ]
    b.func((), (i32,), body, locals=(i32, i32), export="run")
    return b.build()


def _source(loaded: Loaded) -> run.ModuleSource:
    """A job's module source that always gives ``loaded``."""
    def modules(code_id: str, index: int | None, called: bool = False) -> Loaded:
        return loaded
    return modules


def warm_up(runtime: run.Runtime, rounds: int = DEFAULT_WARM_UP) -> float:
    """Run the warm-up contract ``rounds`` times through a job's path; the seconds it took.

    ``runtime`` is the worker's own (its host, limits and versions); its
    watch is left out, so the session does not see these calls. Raises
    whatever the path raises (the caller logs it and serves anyway).
    """
    started = time.perf_counter()
    if rounds <= 0:
        return 0.0
    quiet = replace(runtime, watch=run.UNWATCHED)
    code = contract()
    code_id = p.code_id(code)
    job: dict[str, Any] = {"code_id": code_id, "function": "run", "gas_limit": WARM_GAS, "timeout": 10.0,
                           "readonly": False}
    state: dict[tuple[str, bytes], bytes | None] = {}  # the contract's committed state, kept in process
    space = namespace(job)

    def twice(loaded: Loaded) -> None:  # the first instance takes the general path, the second the maker
        for _ in range(2):
            result = run.execute(job, MappingState(state, space), _source(loaded), quiet)
            if result.status != p.Status.OK:
                raise RuntimeError(f"the warm-up contract failed: {result.status.name} {result.error}")
            state.update(((space, key), value) for key, value in result.writes.items())  # committed
            final = m.Final(result, m.CacheReport(), False).to_body()
            p.encode(p.WORKER_TAG, p.Command.FINAL, b"warm", final)  # as a FINAL would go out

    with tempfile.TemporaryDirectory(prefix="wasmpool-warm-") as folder:
        tier = DiskTier.at(Path(folder), 1 << 24)
        compiled = load(code, code_id)
        twice(compiled)
        tier.put(compiled, code)  # with its instance maker, as a worker stores a module it ran
        for _ in range(rounds):
            loaded = tier.get(cache_key(code_id))
            if loaded is None:
                raise RuntimeError("the warm-up contract's disk entry could not be read back")
            twice(loaded)
    return time.perf_counter() - started


def prime(compiled: wasm.CompiledModule, imports: dict[str, dict[str, Any]]) -> bool:
    """Instantiate a preloaded module twice and let both instances go, running none of its code.

    A loaded module's first instance takes the general path and makes the
    module's instance template; the second makes its instance maker for
    ``imports`` (the worker's own import object, which the maker checks),
    which every later instance uses. Done while the worker preloads, the
    first real call's instance is already a maker's. A module with a start
    function is left alone (instantiating it would run that function), and
    so is one whose instantiation fails: False.
    """
    if compiled.module.start is not None:
        return False
    try:
        for _ in range(2):
            wasm.instantiate(compiled, imports=imports, gas_limit=WARM_GAS,
                             canonical_nans=compiled.canonical_nans).release()
    except Exception:  # a module that cannot be instantiated here: its calls will say why
        return False
    return True


def warm_up_logged(runtime: run.Runtime, rounds: int) -> None:
    """A worker process's start: :func:`warm_up` (a failure is written to stderr and otherwise
    ignored), then one full collection, and what survives it is frozen (``gc.freeze``): it lives as
    long as the process, and later full passes need not walk it again."""
    try:
        warm_up(runtime, rounds)
    except Exception as exc:  # the warmth is an optimization: never a reason not to serve
        print(f"wasmpool worker: warm-up failed, serving cold: {type(exc).__name__}: {exc}",
              file=sys.stderr, flush=True)
    gc.collect()
    gc.freeze()
