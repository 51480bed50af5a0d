"""The pool benchmark: the broker and two workers next to a raw pyzmq relay.

Measures, in one run:

- trivial-call throughput (calls/s, with ``--window`` requests in flight) and
  latency p50/p99 (one request in flight), through the broker and 2 worker
  processes on loopback;
- the same for a raw pyzmq ROUTER/ROUTER relay with 2 echo workers (DEALER),
  moving messages of exactly the same sizes: the ceiling a Python broker
  could reach;
- the round trip of one ``get_state`` (a worker -> broker CALLBACK);
- a call whose module is in the worker's cache vs one that must be fetched,
  decoded and compiled first.

Run from the repository root: ``.venv/bin/python bench/pool/bench_pool.py``.
Not a test: numbers depend on the machine (see bench/pool/README.md).
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from wasmpool.client import Client
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
READS = HERE / "reads.wasm"
TOKEN = REPO / "examples" / "token.wasm"
LOOPBACK = "tcp://127.0.0.1:*"
ENDPOINTS = re.compile(r"clients (\S+), workers (\S+),")


@dataclass
class Run:
    """One pipelined run: throughput and every request's latency."""

    calls: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.calls / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def pipelined(endpoint: str, body: bytes, total: int, window: int) -> Run:
    """Send ``total`` requests with ``window`` in flight over one DEALER; time each."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    prefix = os.urandom(8)  # fresh ids: the broker answers a repeated id from its reply cache
    ids = (prefix + n.to_bytes(8, "big") for n in itertools.count())
    sent: dict[bytes, float] = {}
    latencies: list[float] = []
    start = time.perf_counter()
    try:
        for _ in range(min(window, total)):
            _send(sock, next(ids), body, sent)
        while len(latencies) < total:
            rid = sock.recv_multipart()[2]
            latencies.append(time.perf_counter() - sent.pop(rid))
            if len(latencies) + len(sent) < total:
                _send(sock, next(ids), body, sent)
    finally:
        sock.close(linger=0)
    return Run(total, time.perf_counter() - start, latencies)


def _send(sock: zmq.Socket[Any], rid: bytes, body: bytes, sent: dict[bytes, float]) -> None:
    sent[rid] = time.perf_counter()
    sock.send_multipart([p.CLIENT_TAG, bytes((Command.REQUEST,)), rid, body])


# --- the raw relay ------------------------------------------------------------------------------


def relay_main(endpoints: Any) -> None:
    """A plain ROUTER/ROUTER relay: requests round-robin to workers, replies back to clients."""
    context = zmq.Context()
    frontend, backend = context.socket(zmq.ROUTER), context.socket(zmq.ROUTER)
    frontend.bind(LOOPBACK)
    backend.bind(LOOPBACK)
    endpoints.put(tuple(sock.getsockopt_string(zmq.LAST_ENDPOINT) for sock in (frontend, backend)))
    workers: list[bytes] = []
    turn = itertools.count()
    poller = zmq.Poller()
    poller.register(frontend, zmq.POLLIN)
    poller.register(backend, zmq.POLLIN)
    while True:
        for sock, _ in poller.poll():
            frames = sock.recv_multipart()
            if sock is backend:
                if frames[1] == b"hello":
                    workers.append(frames[0])
                else:
                    frontend.send_multipart(frames[1:])
            elif workers:
                backend.send_multipart([workers[next(turn) % len(workers)], *frames])


def echo_main(backend: str, reply: bytes) -> None:
    """A raw worker: answers every request with a reply of the pool's size."""
    context = zmq.Context()
    sock = context.socket(zmq.DEALER)
    sock.connect(backend)
    sock.send_multipart([b"hello"])
    while True:
        client, tag, _, rid, _ = sock.recv_multipart()
        sock.send_multipart([client, tag, bytes((Command.FINAL,)), rid, reply])


def with_relay(reply: bytes, use: Callable[[str], Any]) -> Any:
    """Run ``use(frontend)`` against a relay process with two echo worker processes."""
    spawn = multiprocessing.get_context("spawn")
    endpoints = spawn.Queue()
    relay = spawn.Process(target=relay_main, args=(endpoints,), daemon=True)
    relay.start()
    frontend, backend = endpoints.get(timeout=30)
    echoes = [spawn.Process(target=echo_main, args=(backend, reply), daemon=True) for _ in range(2)]
    for process in echoes:
        process.start()
    try:
        time.sleep(1.0)  # let both echo workers register
        return use(frontend)
    finally:
        for process in [relay, *echoes]:
            process.terminate()
            process.join()


# --- the pool -----------------------------------------------------------------------------------


def start_pool() -> tuple[subprocess.Popen[str], str]:
    """``wasmpool broker --with-workers 2`` in memory; returns the process and the frontend.

    Without reads ahead: ``reads(n)`` reads the same keys in every call, so
    the broker would learn them and send them with the call, and a
    get_state round trip would no longer be measured.
    """
    command = [sys.executable, "-m", "wasmpool", "broker", "--frontend", LOOPBACK, "--backend", LOOPBACK,
               "--state", "memory:", "--with-workers", "2", "--no-read-ahead"]
    proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    match = ENDPOINTS.search(proc.stdout.readline())
    if match is None:
        proc.kill()
        raise RuntimeError("the broker did not start")
    frontend = match.group(1)
    with Client(frontend) as client:
        while client.stats()["workers"] < 2:
            time.sleep(0.1)
    return proc, frontend


def median_call(client: Client, code_id: str, function: str, args: list[int], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = client.call(code_id, function, args)
        times.append(time.perf_counter() - start)
        if not result.ok:
            raise RuntimeError(f"{function}: {result.status} {result.error}")
    return statistics.median(times)


def get_state_round_trip(client: Client, code_id: str, reads: int, runs: int) -> float:
    """Seconds per get_state: (reads(n) - reads(0)) / n, medians of ``runs``."""
    median_call(client, code_id, "reads", [reads], 2)  # both workers warm
    busy = median_call(client, code_id, "reads", [reads], runs)
    idle = median_call(client, code_id, "reads", [0], runs)
    return (busy - idle) / reads


def cache_miss_and_hit(client: Client, module: bytes, copies: int) -> tuple[float, float]:
    """Median first call (module fetched, decoded, compiled) and second call of fresh copies."""
    misses, hits = [], []
    for n in range(copies):
        name = f"bench-{time.time_ns()}-{n}".encode()
        code_id = client.deploy(module + bytes([0, len(name) + 1, len(name)]) + name)
        misses.append(median_call(client, code_id, "total_supply", [], 1))  # no worker has it yet
        hits.append(median_call(client, code_id, "total_supply", [], 5))
    return statistics.median(misses), statistics.median(hits)


def measure_pool(total: int, window: int) -> dict[str, Any]:
    proc, frontend = start_pool()
    try:
        with Client(frontend) as client:
            code_id = client.deploy(READS.read_bytes())
            body = p.pack({"op": "call", "code_id": code_id, "function": "noop", "args": []})
            reply = _one_reply(frontend, body)
            for _ in range(50):
                client.call(code_id, "noop")
            loaded = pipelined(frontend, body, total, window)
            alone = pipelined(frontend, body, min(total, 1000), 1)
            per_read = get_state_round_trip(client, code_id, 200, 5)
            miss, hit = cache_miss_and_hit(client, TOKEN.read_bytes(), 5)
            stats = client.stats()
    finally:
        proc.terminate()
        proc.wait(30)
    return {"loaded": loaded, "alone": alone, "per_read": per_read, "miss": miss, "hit": hit,
            "body": body, "reply": reply, "hit_rate": stats["cache_hit_rate"]}


def _one_reply(frontend: str, body: bytes) -> bytes:
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(frontend)
    try:
        sock.send_multipart([p.CLIENT_TAG, bytes((Command.REQUEST,)), b"size", body])
        return bytes(sock.recv_multipart()[3])
    finally:
        sock.close(linger=0)


def measure_relay(body: bytes, reply: bytes, total: int, window: int) -> dict[str, Run]:
    def use(frontend: str) -> dict[str, Run]:
        pipelined(frontend, body, 200, window)  # warm up
        return {"loaded": pipelined(frontend, body, total, window),
                "alone": pipelined(frontend, body, min(total, 1000), 1)}

    result: dict[str, Run] = with_relay(reply, use)
    return result


def table(pool: dict[str, Any], raw: dict[str, Run], window: int) -> str:
    ms = 1000.0
    rows = [
        (f"throughput, {window} in flight (calls/s)", f"{pool['loaded'].rate:,.0f}",
         f"{raw['loaded'].rate:,.0f}", f"{pool['loaded'].rate / raw['loaded'].rate:.2f}"),
        ("latency p50, 1 in flight (ms)", f"{pool['alone'].percentile(0.5) * ms:.3f}",
         f"{raw['alone'].percentile(0.5) * ms:.3f}", ""),
        ("latency p99, 1 in flight (ms)", f"{pool['alone'].percentile(0.99) * ms:.3f}",
         f"{raw['alone'].percentile(0.99) * ms:.3f}", ""),
        (f"latency p50, {window} in flight (ms)", f"{pool['loaded'].percentile(0.5) * ms:.3f}",
         f"{raw['loaded'].percentile(0.5) * ms:.3f}", ""),
        (f"latency p99, {window} in flight (ms)", f"{pool['loaded'].percentile(0.99) * ms:.3f}",
         f"{raw['loaded'].percentile(0.99) * ms:.3f}", ""),
        ("one get_state round trip (ms)", f"{pool['per_read'] * ms:.3f}", "", ""),
        ("call, module cached (ms)", f"{pool['hit'] * ms:.3f}", "", ""),
        ("call, module fetched + compiled (ms)", f"{pool['miss'] * ms:.3f}", "", ""),
    ]
    head = ("measurement", "pool", "raw relay", "pool/raw")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
             for row in [head, *rows]]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    sizes = f"request body {len(pool['body'])} B, reply body {len(pool['reply'])} B"
    return "\n".join(lines) + f"\n\n{sizes}; {pool['loaded'].calls} pipelined calls per throughput run."


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls per throughput run (default 5000)")
    parser.add_argument("--window", type=int, default=32, help="requests in flight (default 32)")
    args = parser.parse_args(argv)
    pool = measure_pool(args.calls, args.window)
    raw = measure_relay(pool["body"], pool["reply"], args.calls, args.window)
    print(table(pool, raw, args.window))
    return 0


if __name__ == "__main__":
    sys.exit(main())
