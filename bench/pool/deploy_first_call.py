"""The first call of a newly deployed module, with and without compiling it at deploy.

Two pools side by side, each a broker process (``memory:`` state) and one
worker process: one broker compiles new modules at deploy (the default,
``compile_on_deploy``), the other does not (``--no-compile-on-deploy``).
Each round deploys a new copy of the token contract on both (a custom
section makes each copy a new module, as a newly written contract is),
waits ``--settle`` seconds (as a client seldom calls a contract the instant
it is deployed) and times the first call of its ``total_supply``, then a
second call, which finds the module compiled either way. The pools
alternate round by round so that machine noise hits both alike; medians
are printed in ms, with the ratio off / on.

``--settle 0`` calls at once: the call then races the worker's
compilation, and must never cost more than without it (the worker that
compiles is the one the call goes to, and finishes that one compilation
first).

Run from the repository root: ``.venv/bin/python bench/pool/deploy_first_call.py
[--rounds 15] [--settle 0.2]``. Not a test: figures depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from cold_start import WAIT, overlay, start_broker, start_worker, wait_workers  # beside this script

from wasmpool.client import Client

ROOT = Path(__file__).resolve().parents[2]
BROKER = """
import asyncio, sys
from wasmpool.broker.config import BrokerConfig
from wasmpool.embed import Broker
config = BrokerConfig(compile_on_deploy=sys.argv[1] == "on")
broker = Broker("memory:", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", config=config)
broker.bind()
print(broker.frontend_endpoint, broker.backend_endpoint, flush=True)
asyncio.run(broker.serve())
"""
MODES = ("on", "off")


def unique_copy(module: bytes, n: int) -> bytes:
    """``module`` with a custom section naming ``n``: the same contract under a new code id."""
    name = b"copy"
    payload = bytes([len(name)]) + name + n.to_bytes(8, "little")
    return module + bytes([0, len(payload)]) + payload


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--settle", type=float, default=0.2, metavar="SECONDS",
                        help="wait this long after the deploy's answer before the first call (default 0.2)")
    args = parser.parse_args()
    token = (ROOT / "examples" / "token.wasm").read_bytes()
    first: dict[str, list[float]] = {mode: [] for mode in MODES}
    second: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory() as scratch:
        site = overlay(ROOT, Path(scratch) / "site")
        brokers = {mode: start_broker(site, BROKER, mode) for mode in MODES}
        clients = {mode: Client(frontend, timeout=WAIT) for mode, (_, frontend, _) in brokers.items()}
        workers = [start_worker(site, backend, None) for _, _, backend in brokers.values()]
        try:
            for client in clients.values():
                wait_workers(client, 1)
            for n in range(args.rounds):
                for mode in MODES:
                    client = clients[mode]
                    code_id = client.deploy(unique_copy(token, n))
                    time.sleep(args.settle)
                    for into in (first, second):
                        started = time.perf_counter()
                        result = client.call(code_id, "total_supply")
                        into[mode].append(time.perf_counter() - started)
                        if not result.ok:
                            raise RuntimeError(f"total_supply failed: {result}")
        finally:
            for client in clients.values():
                client.close()
            for process in [*workers, *(broker for broker, _, _ in brokers.values())]:
                process.terminate()
                process.wait(WAIT)
    on, off = (statistics.median(first[mode]) * 1000 for mode in MODES)
    print(f"first call of a newly deployed token contract, {args.settle} s after the deploy, "
          f"median of {args.rounds} (ms)")
    print(f"{'compiled at deploy':<22}{'first call':>12}{'second call':>13}")
    for mode, label in (("on", "yes (default)"), ("off", "no")):
        print(f"{label:<22}{statistics.median(first[mode]) * 1000:>12.2f}"
              f"{statistics.median(second[mode]) * 1000:>13.2f}")
    print(f"off / on: {off / on:.1f}x")


if __name__ == "__main__":
    main()
