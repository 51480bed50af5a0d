"""Cold start: the first call of a known module on a freshly started worker process, from disk or compiled.

A broker process (``memory:`` state) on loopback; for each round, module
and mode, one fresh worker process is started, registers, and the client
times its first call of an already deployed module:

- **compile**: a worker without a disk cache (as before ``--cache-dir``):
  the module is fetched from the broker, decoded, validated and compiled;
- **compile+store**: a worker with an empty cache directory: the same, plus
  serializing the compiled module and writing it to disk;
- **disk**: a worker whose cache directory already holds the module (from
  the compile+store run): no fetch, no decoding, no compiling.

The modes run interleaved round by round, so machine noise hits them
alike; medians are printed with the ratio compile / disk, and the next
call on the same worker (module in memory: what any call costs end to
end on the machine). The modules are
the token contract (``examples/token.wasm``, its ``total_supply``) and the
largest module of the corpus (``tests/corpus/rust/text.wasm``, 197 KiB, its
``in_ptr``). A second table times the load alone in this process
(``modules.load`` against ``tiers.DiskTier.get``).

Run from the repository root: ``.venv/bin/python bench/pool/cold_start.py``
(``--rounds N``, default 5). Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from wasmpool import wasm  # noqa: E402
from wasmpool.client import Client  # noqa: E402
from wasmpool.wire import protocol as p  # noqa: E402
from wasmpool.worker.config import WorkerConfig  # noqa: E402
from wasmpool.worker.diskcache import check_directory  # noqa: E402
from wasmpool.worker.modules import load  # noqa: E402
from wasmpool.worker.supervisor import spawn, stop_workers  # noqa: E402
from wasmpool.worker.tiers import DiskTier  # noqa: E402
from wasmpool.worker.versions import cache_key  # noqa: E402

BROKER = """
import asyncio
from wasmpool.embed import Broker
broker = Broker("memory:", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
broker.bind()
print(broker.frontend_endpoint, broker.backend_endpoint, flush=True)
asyncio.run(broker.serve())
"""
MODULES = {  # label: (path, export called first)
    "token (2.7 KiB)": (ROOT / "examples" / "token.wasm", "total_supply"),
    "rust/text (197 KiB)": (ROOT / "tests" / "corpus" / "rust" / "text.wasm", "in_ptr"),
}
MODES = ("compile", "compile+store", "disk")
WAIT = 120.0


def wait_workers(client: Client, count: int) -> None:
    deadline = time.monotonic() + WAIT
    while client.stats()["workers"] != count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the broker never saw {count} workers")
        time.sleep(0.02)


def first_call(client: Client, backend: str, code_id: str, export: str,
               cache_dir: Path | None) -> tuple[float, float]:
    """Seconds of the first call of ``code_id`` on a freshly started worker process, and of the next one."""
    folder = None if cache_dir is None else str(cache_dir)
    workers = [spawn(WorkerConfig(endpoint=backend, heartbeat=0.5, cache_dir=folder), 0)]
    try:
        wait_workers(client, 1)
        seconds = []
        for _ in range(2):
            started = time.perf_counter()
            result = client.call(code_id, export)
            seconds.append(time.perf_counter() - started)
            if not result.ok:
                raise RuntimeError(f"{export} failed: {result}")
        return seconds[0], seconds[1]
    finally:
        stop_workers(workers)
        wait_workers(client, 0)


def in_process(code: bytes, rounds: int) -> tuple[float, float]:
    """Median seconds of ``modules.load`` and of ``DiskTier.get`` for the same module, in this process."""
    code_id = p.code_id(code)
    with tempfile.TemporaryDirectory() as folder:
        tier = DiskTier.at(check_directory(Path(folder) / "cache"), 1 << 30)
        tier.put(load(code, code_id))
        compiles, reads = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            load(code, code_id)
            compiles.append(time.perf_counter() - started)
            started = time.perf_counter()
            if tier.get(cache_key(code_id)) is None:
                raise RuntimeError("the module was not on disk")
            reads.append(time.perf_counter() - started)
    return statistics.median(compiles), statistics.median(reads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    wasm.prepare_process()
    broker = subprocess.Popen([sys.executable, "-c", BROKER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert broker.stdout is not None
    frontend, backend = broker.stdout.readline().split()
    times: dict[tuple[str, str], list[float]] = {(label, mode): [] for label in MODULES for mode in MODES}
    warm: dict[str, list[float]] = {label: [] for label in MODULES}  # the next call, module in memory
    try:
        with Client(frontend, timeout=WAIT) as client, tempfile.TemporaryDirectory() as scratch:
            codes = {label: client.deploy(path.read_bytes()) for label, (path, _) in MODULES.items()}
            for round_ in range(args.rounds):
                for label, (_, export) in MODULES.items():
                    fresh = Path(scratch) / f"{round_}-{label.split()[0].replace('/', '-')}"
                    for mode in MODES:
                        cache_dir = None if mode == "compile" else fresh
                        first, then = first_call(client, backend, codes[label], export, cache_dir)
                        times[label, mode].append(first)
                        warm[label].append(then)
    finally:
        broker.terminate()
        broker.wait()
    print(f"first call on a fresh worker process, median of {args.rounds} (ms)")
    print(f"{'module':<22}{'compile':>10}{'compile+store':>15}{'disk':>9}{'compile/disk':>14}"
          f"{'next call':>11}")
    for label in MODULES:
        compile_, store, disk = (statistics.median(times[label, mode]) * 1000 for mode in MODES)
        print(f"{label:<22}{compile_:>10.2f}{store:>15.2f}{disk:>9.2f}{compile_ / disk:>13.1f}x"
              f"{statistics.median(warm[label]) * 1000:>11.2f}")
    print(f"\nload alone, in this process, median of {args.rounds} (ms)")
    print(f"{'module':<22}{'modules.load':>14}{'DiskTier.get':>14}{'ratio':>9}")
    for label, (path, _) in MODULES.items():
        compiled, read = in_process(path.read_bytes(), args.rounds)
        print(f"{label:<22}{compiled * 1000:>14.2f}{read * 1000:>14.3f}{compiled / read:>8.1f}x")


if __name__ == "__main__":
    main()
