"""Nothing but a call's inputs decides its result: the same bytes from every pool that runs it.

One fixed sequence (``tests/pool/sequence.py``: deploys, ordinary calls, a
block of many kinds of calls, more calls reading what the block wrote, the
state root at the end) runs on fresh brokers with fresh stores.

Every reply body is recorded as canonical msgpack (map order as received,
so an order taken from a hash table would show), and so are the rows the
SQLite store committed. Each run must equal the reference run byte for
byte, whatever differs between them:

- ``PYTHONHASHSEED`` of the broker and of the worker processes (``0``,
  ``1``, ``random``, ...), each a separate ``wasmpool`` command
  (``tests/pool/nodes.py``);
- 1, 2 or 4 worker processes;
- a cold module cache (workers that never ran the contracts) or a warm one
  (the same worker processes, after the whole sequence ran through another
  broker on another store), or compiled code loaded from the disk cache
  another worker process filled (``wasmpool worker --cache-dir``): gas does
  not depend on the cache;
- a worker process killed with SIGKILL mid-sequence (before the block, or
  while it runs one of the block's calls) and replaced by its supervisor;
- the store: SQLite or memory (the same state root).

Processes are stopped as soon as their configuration's runs are recorded,
so at most one configuration's processes run at a time.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.conftest import REPO_ROOT
from tests.pool.nodes import BrokerCommand, Command, start_broker, start_workers, worker_pids
from tests.pool.sequence import (
    AFTER,
    BEFORE,
    BLOCK,
    FLOAT_PAIRS,
    MODULES,
    TWO_NANS,
    Between,
    During,
    Run,
    difference,
    nothing,
    play,
)
from wasmpool import wasm
from wasmpool.client import Client
from wasmpool.wire.protocol import Status
from wasmpool.worker.host import CallContext, CallState, Host
from wasmpool.worker.modules import load

pytestmark = pytest.mark.timeout(300)

BROKER_OPTIONS = ("--no-compile-on-deploy",)
"""The passes count their cache misses (a cold run compiles every module at its first call)."""
WARM_UP = 20  # runs of one compiled function: CPython specializes a code object's bytecode after about 8


def kill_a_busy_worker(broker: BrokerCommand, answered: threading.Event) -> None:
    """SIGKILL the first worker seen busy (with a block call), unless the block was answered first."""
    with broker.client(timeout=5.0) as client:
        while not answered.is_set():
            busy = [worker["pid"] for worker in client.stats()["worker_list"] if worker["busy"]]
            if busy:
                os.kill(busy[0], signal.SIGKILL)
                return


def kill_a_worker(client: Client) -> None:
    """SIGKILL a worker process and wait until its supervisor's replacement registered."""
    pids = worker_pids(client, lambda found: len(found) > 0)
    os.kill(pids[0], signal.SIGKILL)
    worker_pids(client, lambda found: len(found) == len(pids) and pids[0] not in found)


@dataclass(frozen=True)
class Pass:
    """One pass of the sequence: a fresh broker, with its hash seed, over a fresh store."""

    name: str
    broker_seed: str
    store: str = "sqlite"  # or "memory"
    between: Between = nothing
    during: During | None = None  # runs while the block is executed
    new_workers: bool = False  # new worker processes (memory caches cold), not those of the pass before
    worker_seed: str = ""  # the new workers' PYTHONHASHSEED (default: the configuration's)

    def seed_of_workers(self, configuration: Configuration) -> str:
        return self.worker_seed or configuration.worker_seed


@dataclass(frozen=True)
class Configuration:
    """Worker processes (their count and hash seed) and the passes they serve, one broker after another.

    The first pass finds the workers' caches cold; later passes find them
    warm with the modules the earlier passes compiled, unless they start new
    workers. With ``disk_cache`` the workers share a compiled-code cache on
    disk (``wasmpool worker --cache-dir``), which new workers load from.
    """

    workers: int
    worker_seed: str
    passes: tuple[Pass, ...]
    disk_cache: bool = False


REFERENCE = "one worker, seed 0, cold"
WARM_MEMORY = "one worker, seed 0, warm, memory store"
KILLED = "two workers, seed 1, one killed before the block"
KILLED_DURING = "two workers, seed 1, warm, one killed during the block"
FOUR_COLD, FOUR_WARM = "four workers, random seeds, cold", "four workers, random seeds, warm"
DISK_WARM = "one new worker, seed 7, code from the disk cache of the first"
CONFIGURATIONS = (
    Configuration(1, "0", (Pass(REFERENCE, "0"), Pass(WARM_MEMORY, "3", "memory"),
                           Pass(DISK_WARM, "random", new_workers=True, worker_seed="7")), disk_cache=True),
    Configuration(2, "1", (Pass(KILLED, "1", between=kill_a_worker),
                           Pass(KILLED_DURING, "5", during=kill_a_busy_worker))),
    Configuration(4, "random", (Pass(FOUR_COLD, "random"), Pass(FOUR_WARM, "2"))),
)
PASSES = {p.name: (configuration, p) for configuration in CONFIGURATIONS for p in configuration.passes}


class Runs:
    """Each configuration's runs, made the first time a test asks for one of them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.done: dict[str, Run] = {}

    def get(self, name: str) -> Run:
        if name not in self.done:
            configuration, _ = PASSES[name]
            self.done |= self.run(configuration)
        return self.done[name]

    def run(self, configuration: Configuration) -> dict[str, Run]:
        folder = self.root / f"configuration-{CONFIGURATIONS.index(configuration)}"
        folder.mkdir()
        options = ["--cache-dir", str(folder / "compiled")] if configuration.disk_cache else []
        runs: dict[str, Run] = {}
        broker: BrokerCommand | None = None
        workers: Command | None = None
        try:
            for index, each in enumerate(configuration.passes):
                if workers is not None and each.new_workers:
                    workers.stop()
                    workers = None
                db = folder / f"pass-{index}.db" if each.store == "sqlite" else None
                state = f"sqlite:{db}" if db is not None else "memory:"
                # The workers that stay reconnect to the next broker on the same port.
                backend = broker.backend if broker is not None and workers is not None else "tcp://127.0.0.1:*"
                if broker is not None:
                    broker.stop()
                broker = start_broker(state, folder / f"broker-{index}.log",
                                      {"PYTHONHASHSEED": each.broker_seed}, backend, BROKER_OPTIONS)
                if workers is None:
                    workers = start_workers(broker.backend, configuration.workers,
                                            folder / f"workers-{index}.log",
                                            {"PYTHONHASHSEED": each.seed_of_workers(configuration)}, options)
                runs[each.name] = play(broker, configuration.workers, db, each.between, each.during)
        finally:
            for command in (broker, workers):
                if command is not None:
                    command.stop()
        return runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    yield Runs(tmp_path_factory.mktemp("determinism"))


def test_the_reference_run_exercises_what_could_vary(runs: Runs) -> None:
    """Every kind of outcome, logs, deletions, hundreds of keys per call, NaN bits in results and state."""
    run = runs.get(REFERENCE)
    block = msgpack.unpackb(run.record("block"), raw=False)
    statuses = {receipt["status"] for receipt in block["receipts"]}
    assert statuses == {str(Status.OK), str(Status.REVERTED), str(Status.TRAP), str(Status.OUT_OF_GAS)}
    assert all(receipt["gas_used"] > 0 for receipt in block["receipts"])
    assert max(len(receipt["writes"]) for receipt in block["receipts"]) == 150
    assert any(value is None for _, _, value in block["writes"])  # deletions
    assert sum(len(receipt["logs"]) for receipt in block["receipts"]) > 40
    floats = [receipt for receipt in block["receipts"] if len(receipt["results"]) == 3]
    assert len(floats) == len(FLOAT_PAIRS)
    assert any(results != results for receipt in floats for results in receipt["results"][1:])  # NaN results
    stored = [value for _, key, value in block["writes"] if key.startswith(b"float-")]
    assert any((word >> 52) & 0x7FF == 0x7FF and word & (2**52 - 1)
               for value in stored for word in struct.unpack("<11Q", value))  # NaN bits kept in state
    after = dict(run.records)
    assert msgpack.unpackb(after["after 0: call mixer.gather(160,) b'alpha'"])["status"] == str(Status.OK)
    assert run.cache_misses >= len(MODULES)  # the reference ran cold: every module was compiled
    assert all(msgpack.unpackb(run.record(f"deploy {name}"))["gas_used"] > 0 for name in MODULES)
    assert run.committed is not None and len(msgpack.unpackb(run.committed)) > 300


@pytest.mark.parametrize("name", [name for name in PASSES if name != REFERENCE])
def test_every_pool_gives_the_reference_bytes(runs: Runs, name: str) -> None:
    reference, run = runs.get(REFERENCE), runs.get(name)
    assert [label for label, _ in run.records] == [label for label, _ in reference.records]
    for (label, got), (_, want) in zip(run.records, reference.records, strict=True):
        assert got == want, f"{label}: {difference(msgpack.unpackb(got), msgpack.unpackb(want))}"
    if run.committed is not None:
        assert run.committed == reference.committed


def test_the_processes_ran_with_the_hash_seeds_asked_for(runs: Runs) -> None:
    for name, (configuration, each) in PASSES.items():
        seeds = runs.get(name).seeds
        assert seeds.pop("broker") == each.broker_seed
        assert set(seeds.values()) == {each.seed_of_workers(configuration)}, name
        assert len(seeds) == configuration.workers


def test_warm_caches_compiled_less_and_charged_the_same_gas(runs: Runs) -> None:
    """A warm pass compiles fewer modules (one worker: none at all); its bytes are the reference's (above)."""
    assert runs.get(WARM_MEMORY).cache_misses == 0
    cold, warm = runs.get(FOUR_COLD), runs.get(FOUR_WARM)
    assert warm.cache_misses < cold.cache_misses
    assert warm.record("block") == cold.record("block") == runs.get(REFERENCE).record("block")


def test_new_workers_load_the_compiled_code_from_the_disk_cache_and_answer_alike(runs: Runs) -> None:
    """Code compiled by one worker process and loaded from disk by another gives the same bytes (above).

    The new worker loads the modules before it serves (``--preload``, by
    default the host's 16 most recently used) or, past those, at a call.
    """
    filled, loaded = runs.get(REFERENCE), runs.get(DISK_WARM)
    assert filled.tiers["compile"] >= len(MODULES) and filled.tiers["disk"] == 0
    assert loaded.tiers["compile"] == 0
    assert loaded.tiers["disk"] + loaded.tiers.get("preloaded", 0) >= len(MODULES)


class _NoState:
    """A state reader for a contract with no committed state."""

    def get(self, key: bytes) -> bytes | None:
        return None


@pytest.mark.parametrize("function", ["floats", "chains"])
def test_the_workers_compiled_code_gives_the_same_float_bits_cold_and_warm(function: str) -> None:
    """The same call on the same compiled module, run again and again in one process, stores the same bits.

    CPython 3.11 specializes a code object's float arithmetic after a few
    runs (``BINARY_OP`` becomes its float-only form), and the two paths are
    different machine code: given two NaN operands, one returns the first
    operand's NaN and the other the second's. So without canonical NaNs a
    worker's result depended on how often it had run the code before (its
    module cache's history), even on one machine. ``chains`` takes such
    results through neg, abs, copysign, select, a local and a call.
    """
    compiled = load(MODULES["mixer"].read_bytes()).runnable()
    host = Host()
    stored = []
    for _ in range(WARM_UP):
        state = CallState(reader=_NoState(), input=b"nan", context=CallContext())
        host.begin(state)
        try:
            instance = wasm.instantiate(compiled, imports=host.imports(), gas_limit=10_000_000,
                                        canonical_nans=compiled.canonical_nans)  # as the worker does
            export: Any = instance.exports[function]
            export(*TWO_NANS)
        finally:
            host.end()
        value = state.writes[b"nan"]
        assert value is not None
        stored.append(value)
    assert [bits.hex() for bits in stored] == [stored[0].hex()] * WARM_UP


VERSION_NAMES = {"engine", "gas", "abi", "floats"}


def versions_of(run: Run) -> list[Any]:
    """The ``versions`` of every call result and every block receipt of a run (None where missing)."""
    found = []
    for label, record in run.records:
        body = msgpack.unpackb(record)
        if label == "block":
            found += [receipt.get("versions") for receipt in body["receipts"]]
        elif label.startswith(("before", "after")):
            found.append(body.get("versions"))
    return found


def test_every_result_and_receipt_names_the_same_versions(runs: Runs) -> None:
    """Each call result and receipt carries the versions that decided it, the same in every pool."""
    reference = versions_of(runs.get(REFERENCE))
    assert len(reference) == len(BEFORE) + len(BLOCK) + len(AFTER)
    assert all(isinstance(versions, dict) and set(versions) == VERSION_NAMES for versions in reference)
    assert {versions["floats"] for versions in reference} == {"canonical"}
    assert len({tuple(sorted(versions.items())) for versions in reference}) == 1
    for name in PASSES:
        assert versions_of(runs.get(name)) == reference, name


def test_the_compiler_emits_the_same_python_under_any_hash_seed() -> None:
    """Every function of the examples, fixtures and benchmarks compiles to the same source in any process."""
    digests = set()
    for seed in ("0", "1", "random"):
        done = subprocess.run([sys.executable, "-m", "tests.pool.emitted"], cwd=REPO_ROOT, text=True,
                              capture_output=True, env={**os.environ, "PYTHONHASHSEED": seed}, timeout=120,
                              check=True)
        digests.add(done.stdout.strip())
    assert len(digests) == 1 and len(digests.pop()) == 64


def test_the_worker_killed_during_the_block_was_running_one_of_its_calls(runs: Runs) -> None:
    """The kill did hit the block (its call was executed again), and the answer is the reference's (above)."""
    assert runs.get(KILLED_DURING).lost > 0
