"""Latency of small calls while a 15 MB module is deployed, against the same calls without it.

A broker process (``memory:`` state) and two worker processes on loopback;
``--clients`` threads each make ``add`` calls one after another. First the
calls run alone for the time the deploy will take, then again while one
more client deploys a 15 MB module (1 MB of function bodies, slow to
validate, plus 14 MB of data). The p50/p99/max of the calls in each window
are printed. Before validation moved off the broker's loop, every call that
arrived during the deploy waited for the whole validation.

Run from the repository root: ``.venv/bin/python bench/pool/deploy_latency.py``.
Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from wasmpool.client import Client  # noqa: E402
from wasmpool.wasm.builder import ModuleBuilder  # noqa: E402
from wasmpool.wasm.opcodes import Opcode  # noqa: E402

PROBE = (ROOT / "tests" / "pool" / "fixtures" / "probe.wasm").read_bytes()
BROKER = """
import asyncio
from wasmpool.embed import Broker
broker = Broker("memory:", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
broker.bind()
print(broker.frontend_endpoint, broker.backend_endpoint, flush=True)
asyncio.run(broker.serve())
"""


def big_module(code_bytes: int = 1_000_000, data_bytes: int = 14_000_000) -> bytes:
    """Function bodies of (i32.const 0, drop) worth ``code_bytes``, and one data segment of ``data_bytes``."""
    body = bytes([Opcode.I32_CONST, 0, Opcode.DROP]) * 1000
    builder = ModuleBuilder()
    for _ in range(code_bytes // (len(body) + 2)):  # each body also holds its locals count and end
        builder.func(raw_body=body)
    builder.memory(data_bytes // 65536 + 1, export="memory")  # the ABI memory a deploy must export
    builder.data([(Opcode.I32_CONST, 0)], bytes(data_bytes))
    return builder.build()


def calls(frontend: str, code_id: str, stop: threading.Event, out: list[tuple[float, float]]) -> None:
    """``add`` calls one after another until ``stop``; each kept as (start, latency)."""
    with Client(frontend, timeout=120.0) as client:
        while not stop.is_set():
            started = time.monotonic()
            client.call(code_id, "add", [1, 2])
            out.append((started, time.monotonic() - started))


def window(frontend: str, code_id: str, clients: int, during: float | None, module: bytes) -> list[float]:
    """Latencies (seconds) of the calls started in one window: ``during`` seconds, or one deploy."""
    stop, out = threading.Event(), []
    threads = [threading.Thread(target=calls, args=(frontend, code_id, stop, out)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    start = time.monotonic()
    if during is None:
        with Client(frontend, timeout=600.0) as deployer:
            deployer.deploy(module)
    else:
        time.sleep(during)
    end = time.monotonic()
    stop.set()
    for thread in threads:
        thread.join()
    return [latency for begun, latency in out if start <= begun <= end]


def summary(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{name:16} {len(ordered):5} calls  p50 {statistics.median(ordered) * 1000:8.1f} ms  "
            f"p99 {p99 * 1000:8.1f} ms  max {ordered[-1] * 1000:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    broker = subprocess.Popen([sys.executable, "-c", BROKER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert broker.stdout is not None
    frontend, backend = broker.stdout.readline().split()
    workers = subprocess.Popen([sys.executable, "-m", "wasmpool", "worker", "--connect", backend,
                                "--processes", "2"], cwd=ROOT)
    try:
        with Client(frontend) as client:
            code_id = client.deploy(PROBE)
            while client.stats()["workers"] < 2:
                time.sleep(0.1)
        module = big_module()
        started = time.monotonic()
        during = window(frontend, code_id, args.clients, None, module)
        took = time.monotonic() - started - 1.0
        alone = window(frontend, code_id, args.clients, took, module)
        print(f"deploy of a {len(module) / 1e6:.1f} MB module took {took:.1f} s")
        print(summary("without deploy", alone))
        print(summary("during deploy", during))
    finally:
        workers.terminate()
        workers.wait(30)
        broker.terminate()
        broker.wait(30)


if __name__ == "__main__":
    main()
