"""Cold start: the first call of a known module on a freshly started worker process, from disk or compiled.

A broker process (``memory:`` state) on loopback; for each round, module
and mode, one fresh worker process is started, registers, and the client
times its first call of an already deployed module:

- **compile**: a worker without a disk cache (as before ``--cache-dir``):
  the module is fetched from the broker, decoded, validated and compiled;
- **compile+store**: a worker with an empty cache directory: the same, plus
  serializing the compiled module and writing it to disk;
- **disk**: a worker whose cache directory already holds the module (from
  the compile+store run), loaded at the call (``preload=0``): no fetch,
  no decoding, no compiling;
- **preloaded**: the same directory, and a worker that loads the host's
  most recently used modules before it registers (``preload=16``, the
  default; a tree without preloading loads at the call, as in **disk**).

The modes run interleaved round by round, so machine noise hits them
alike; medians are printed with the ratio compile / disk, the next
call on the disk run's worker (module in memory, its second instance:
what a call costs end to end on the machine once the instance maker is
there, made or loaded with the module), and an *idle call*: one more on
that worker after it has been idle for ``--settle`` seconds again, as the
first call was. The idle call is the first call's baseline: on a machine
whose idle cores sleep (a VM's vCPUs halt), a message that wakes each
process on its way pays for the wake-ups (a raw pyzmq round trip to
another process: about 0.55 ms after 0.2 s idle against 0.15-0.2 ms right
after another), and the next call, sent at once, does not. The modules are the token contract
(``examples/token.wasm``, its ``total_supply``), the largest module of
the corpus (``tests/corpus/rust/text.wasm``, 197 KiB, its ``in_ptr``) and
a module over the engine's eager-compilation size, compiled function by
function (``tests/pool/lazy_module.py``, 301 KiB, its ``e0``); its disk
entry is partial, and the compile+store worker stores it again between
jobs, so the run waits for the entry to hold the functions the call
compiled before the disk run.

``--warm-up ROUNDS`` (repeatable) gives this tree's workers that many
start-up warm-up rounds (``wasmpool worker --warm-up``), one row per value,
interleaved like the trees: ``--warm-up 0 --warm-up 20`` measures what the
warm-up saves a first call. ``--settle SECONDS`` waits that long between
the broker seeing a fresh worker and its first call (default 0: at once);
``--only token`` measures one module.

``--baseline TREE`` runs every mode a second time, interleaved, with a
broker and worker processes from another source tree of wasmpool (say
``git worktree add /tmp/base <rev>``; its own broker, as its versions may
differ): a before/after table from one run. Both trees' processes start
the same way (a Python process with the tree's packages first on its path).

A second table times the load and the first call in this process
(``modules.load`` then instantiating and calling, against
``tiers.DiskTier.get`` then the same).

Run from the repository root: ``.venv/bin/python bench/pool/cold_start.py``
(``--rounds N``, default 5; ``--baseline TREE``). Not a test: figures
depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.pool import lazy_module  # noqa: E402
from wasmpool import wasm  # noqa: E402
from wasmpool.client import Client  # noqa: E402
from wasmpool.wire import protocol as p  # noqa: E402
from wasmpool.worker.diskcache import check_directory  # noqa: E402
from wasmpool.worker.host import CallContext, CallState, Host  # noqa: E402
from wasmpool.worker.modules import load  # noqa: E402
from wasmpool.worker.tiers import SIZE, DiskTier  # noqa: E402
from wasmpool.worker.versions import cache_key  # noqa: E402

BROKER = """
import asyncio
from wasmpool.embed import Broker
broker = Broker("memory:", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
broker.bind()
print(broker.frontend_endpoint, broker.backend_endpoint, flush=True)
asyncio.run(broker.serve())
"""
WORKER = """
import sys
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.process import main
fields = {} if sys.argv[3] == "-" else {"warm_up": int(sys.argv[3])}  # (a tree without warm-up has no field)
if "preload" in WorkerConfig.__dataclass_fields__:  # (a tree without preloading has no field)
    fields["preload"] = int(sys.argv[4])
main(WorkerConfig(endpoint=sys.argv[1], heartbeat=0.5, cache_dir=sys.argv[2] or None, **fields))
"""
LAZY = "lazy (301 KiB)"
MODULES = {  # label: (bytes, export called first)
    "token (2.7 KiB)": ((ROOT / "examples" / "token.wasm").read_bytes(), "total_supply"),
    "rust/text (197 KiB)": ((ROOT / "tests" / "corpus" / "rust" / "text.wasm").read_bytes(), "in_ptr"),
    LAZY: (lazy_module.build(), "e0"),
}
MODES = ("compile", "compile+store", "disk", "preloaded")
PRELOADING = 16  # the preload of the "preloaded" mode's worker (the others': 0)
WAIT = 120.0


def overlay(tree: Path, into: Path) -> Path:
    """A directory that imports as ``wasmpool`` from ``tree`` (its pyproject's package-dir, as symlinks)."""
    config = tomllib.loads((tree / "pyproject.toml").read_text())
    mapped = config["tool"]["setuptools"].get("package-dir", {})
    package = into / "wasmpool"
    package.mkdir(parents=True)
    for item in (tree / "wasmpool").iterdir():
        (package / item.name).symlink_to(item)
    for name, folder in mapped.items():
        parts = name.split(".")
        if len(parts) == 2 and parts[0] == "wasmpool":
            (package / parts[1]).symlink_to(tree / folder)
    return into


def wait_workers(client: Client, count: int) -> None:
    deadline = time.monotonic() + WAIT
    while client.stats()["workers"] != count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker never saw {count} workers")
        time.sleep(0.02)


def start_worker(site: Path, backend: str, cache_dir: Path | None,
                 warm_up: int | None = None, preload: int = 0) -> subprocess.Popen[bytes]:
    """One worker process whose ``wasmpool`` comes from ``site`` (see :func:`overlay`).

    ``warm_up``: its start-up warm-up rounds (None: the tree's default);
    ``preload``: the modules it loads from its disk cache before serving.
    """
    env = {**os.environ, "PYTHONPATH": str(site)}
    folder = "" if cache_dir is None else str(cache_dir)
    rounds = "-" if warm_up is None else str(warm_up)
    return subprocess.Popen([sys.executable, "-c", WORKER, backend, folder, rounds, str(preload)], cwd=site,
                            env=env)


def first_call(client: Client, site: Path, backend: str, code_id: str, export: str,
               cache_dir: Path | None, warm_up: int | None = None,
               settle: float = 0.0, preload: int = 0) -> tuple[float, float, float]:
    """Seconds of the first call of ``code_id`` on a freshly started worker process, of the next one,
    and of one more after the worker has been idle for ``settle`` seconds again.

    ``settle``: seconds waited between the broker seeing the worker and the first call. The
    third call (module in memory, after the same wait) is what the first would cost if nothing
    had to be loaded: on a machine whose idle cores sleep, a message that wakes each process on
    its way pays that wake-up, and the call made at once after another does not.
    """
    worker = start_worker(site, backend, cache_dir, warm_up, preload)
    try:
        wait_workers(client, 1)
        seconds = []
        for pause in (settle, 0.0, settle):
            time.sleep(pause)
            started = time.perf_counter()
            result = client.call(code_id, export)
            seconds.append(time.perf_counter() - started)
            if not result.ok:
                raise RuntimeError(f"{export} failed: {result}")
        if cache_dir is not None:
            wait_stored(cache_dir, code_id)
        return seconds[0], seconds[1], seconds[2]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(WAIT)
        wait_workers(client, 0)


def wait_stored(cache_dir: Path, code_id: str, timeout: float = 10.0) -> None:
    """Wait until the entry of a lazily compiled module holds compiled functions (stored between jobs).

    Only this tree's entries are read (a baseline tree that does not store
    such modules, or stores them in another format, is not waited for).
    """
    key = cache_key(code_id)
    tier = DiskTier.at(cache_dir, 1 << 40)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = tier.store.peek(key.text())
        try:
            if data is not None and wasm.deserialize_compiled(
                    memoryview(data)[SIZE.size:], metered=True, canonical_nans=True).codes:
                return
        except wasm.ArtifactError:
            return
        time.sleep(0.05)


class Empty:
    """Committed state with nothing in it."""

    def get(self, key: bytes) -> bytes | None:
        return None


def run_export(compiled: wasm.CompiledModule, export: str) -> Any:
    """Instantiate and call ``export`` through the host ABI, as a worker runs a call."""
    host = Host()
    host.begin(CallState(Empty(), input=b"", context=CallContext(caller=b"alice")))
    try:
        instance = wasm.instantiate(compiled, host.imports(), gas_limit=10**8, canonical_nans=True)
        return instance.exports[export]()
    finally:
        host.end()


def in_process(code: bytes, export: str, rounds: int) -> tuple[float, float]:
    """Median seconds of ``modules.load`` + the first call, and of ``DiskTier.get`` + the first call."""
    code_id = p.code_id(code)
    with tempfile.TemporaryDirectory() as folder:
        tier = DiskTier.at(check_directory(Path(folder) / "cache"), 1 << 30)
        stored = load(code, code_id)
        run_export(stored.runnable(), export)  # a lazy module's entry then holds what this call compiled
        tier.put(stored, code)
        compiles, reads = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            run_export(load(code, code_id).runnable(), export)
            compiles.append(time.perf_counter() - started)
            started = time.perf_counter()
            loaded = tier.get(cache_key(code_id))
            if loaded is None:
                raise RuntimeError("the module was not on disk")
            run_export(loaded.runnable(), export)
            reads.append(time.perf_counter() - started)
    return statistics.median(compiles), statistics.median(reads)


def start_broker(site: Path, source: str = BROKER, *args: str) -> tuple[subprocess.Popen[str], str, str]:
    """A broker process of ``site``'s tree, and its client and worker endpoints.

    ``source``: the Python it runs (with ``args`` as its ``sys.argv[1:]``), which prints the endpoints.
    """
    broker = subprocess.Popen([sys.executable, "-c", source, *args], cwd=site, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(site)})
    assert broker.stdout is not None
    frontend, backend = broker.stdout.readline().split()
    return broker, frontend, backend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another wasmpool source tree to compare with")
    parser.add_argument("--warm-up", type=int, action="append", default=[], metavar="ROUNDS",
                        help="this tree's workers with this many warm-up rounds (repeatable: one row each)")
    parser.add_argument("--settle", type=float, default=0.0, metavar="SECONDS",
                        help="wait this long after a worker registered before its first call (default 0)")
    parser.add_argument("--only", help="only the modules whose label contains this (token, rust, lazy)")
    args = parser.parse_args()
    wasm.prepare_process()
    modules = {label: entry for label, entry in MODULES.items() if args.only is None or args.only in label}
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"this tree": overlay(ROOT, Path(scratch) / "site-this")}
        if args.baseline is not None:
            trees["baseline"] = overlay(args.baseline.resolve(), Path(scratch) / "site-baseline")
        variants: dict[str, tuple[str, int | None]] = {"this tree": ("this tree", None)}  # row: tree, warm-up
        if args.warm_up:
            variants = {f"warm-up {n}": ("this tree", n) for n in args.warm_up}
        if args.baseline is not None:
            variants["baseline"] = ("baseline", None)
        cases = [(label, variant) for label in modules for variant in variants]
        times: dict[tuple[str, str, str], list[float]] = {
            (*case, mode): [] for case in cases for mode in MODES}
        warm: dict[tuple[str, str], list[float]] = {case: [] for case in cases}  # the next call, from disk
        idle: dict[tuple[str, str], list[float]] = {case: [] for case in cases}  # idle again, from disk
        brokers = {tree: start_broker(site) for tree, site in trees.items()}
        clients = {tree: Client(frontend, timeout=WAIT) for tree, (_, frontend, _) in brokers.items()}
        try:
            codes = {(label, tree): client.deploy(code) for label, (code, _) in modules.items()
                     for tree, client in clients.items()}
            for round_ in range(args.rounds):
                for label, variant in cases:
                    tree, warm_up = variants[variant]
                    fresh = Path(scratch) / f"{round_}-{label.split()[0].replace('/', '-')}-{variant}"
                    for mode in MODES:
                        cache_dir = None if mode == "compile" else fresh
                        first, then, rested = first_call(clients[tree], trees[tree], brokers[tree][2],
                                                 codes[label, tree], MODULES[label][1], cache_dir, warm_up,
                                                 args.settle, PRELOADING if mode == "preloaded" else 0)
                        times[label, variant, mode].append(first)
                        if mode == "disk":
                            warm[label, variant].append(then)
                            idle[label, variant].append(rested)
        finally:
            for client in clients.values():
                client.close()
            for broker, _, _ in brokers.values():
                broker.terminate()
                broker.wait()
    print(f"first call on a fresh worker process, median of {args.rounds} (ms)")
    print(f"{'module':<22}{'tree':<13}{'compile':>10}{'compile+store':>15}{'disk':>9}{'compile/disk':>14}"
          f"{'preloaded':>11}{'next call':>11}{'idle call':>11}")  # the disk run's second and third calls
    for label, tree in cases:
        compile_, store, disk, preloaded = (statistics.median(times[label, tree, mode]) * 1000
                                            for mode in MODES)
        print(f"{label:<22}{tree:<13}{compile_:>10.2f}{store:>15.2f}{disk:>9.2f}{compile_ / disk:>13.1f}x"
              f"{preloaded:>11.2f}{statistics.median(warm[label, tree]) * 1000:>11.2f}"
              f"{statistics.median(idle[label, tree]) * 1000:>11.2f}")
    print(f"\nload and first call, in this process, median of {args.rounds} (ms)")
    print(f"{'module':<22}{'compile':>10}{'disk':>10}{'ratio':>9}")
    for label, (code, export) in modules.items():
        compiled, read = in_process(code, export, args.rounds)
        print(f"{label:<22}{compiled * 1000:>10.2f}{read * 1000:>10.3f}{compiled / read:>8.1f}x")


if __name__ == "__main__":
    main()
