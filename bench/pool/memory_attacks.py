"""The broker's resident memory under the memory attacks of issue 15, one fresh broker per attack.

Each attack starts a broker in a process of its own (``memory:`` state, no
CURVE; with one worker process where the attack needs calls to run), does
what a hostile client or fake worker would, waits until the broker has
taken it all in (its answers arrived, or its counters moved), and reads the
broker process's VmRSS (now) and VmHWM (its peak) from ``/proc``:

- ``replies``: big query results, each kept for retries;
- ``queue``: big calls queued while no worker runs them;
- ``nested``: one body of nested empty arrays, every array within the caps;
- ``cache-lists``: fake workers whose READY lists a huge module cache;
- ``callbacks``: a fake worker fetching a big module again and again, never reading.

Run from the repository root: ``.venv/bin/python bench/pool/memory_attacks.py``
(``--only NAME`` for one; ``--scale`` multiplies the sizes). Not a test: the
figures depend on the machine and the Python build.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import zmq

ROOT = Path(__file__).resolve().parents[2]
PROBE = (ROOT / "tests" / "pool" / "fixtures" / "probe.wasm").read_bytes()
CLIENT, WORKER = b"WPC01", b"WPW01"
REQUEST, READY, CALLBACK, FINAL, ERROR = 2, 1, 3, 5, 8
MIB = 1024 * 1024
ASKED = itertools.count()
BROKER = """
import asyncio, sys
from wasmpool.embed import Broker
broker = Broker("memory:", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
broker.bind()
print(broker.frontend_endpoint, broker.backend_endpoint, flush=True)
asyncio.run(broker.serve())
"""


class Broker:
    """A broker process, its endpoints, and its resident memory."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", BROKER], cwd=ROOT, stdout=subprocess.PIPE,
                                        text=True)
        assert self.process.stdout is not None
        self.frontend, self.backend = self.process.stdout.readline().split()
        self.workers: list[subprocess.Popen[bytes]] = []

    def rss_mb(self, field: str = "VmRSS") -> float:
        """Resident memory now (``VmRSS``) or at its highest so far (``VmHWM``), in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def worker(self) -> None:
        self.workers.append(subprocess.Popen([sys.executable, "-m", "wasmpool", "worker", "--connect",
                                              self.backend, "--processes", "1"], cwd=ROOT))

    def stop(self) -> None:
        for process in [*self.workers, self.process]:
            process.terminate()
            process.wait(30)


def message(tag: bytes, command: int, rid: bytes, body: dict[str, Any]) -> list[bytes]:
    return [tag, bytes((command,)), rid, msgpack.packb(body, use_bin_type=True)]


def ask(sock: zmq.Socket[Any], body: dict[str, Any], rid: bytes = b"") -> dict[str, Any]:
    """Send a request and wait for its answer (a fresh request id unless given)."""
    rid = rid or b"ask%d" % next(ASKED)
    sock.send_multipart(message(CLIENT, REQUEST, rid, body))
    while True:
        frames = sock.recv_multipart()
        if frames[2] == rid:
            answer: dict[str, Any] = msgpack.unpackb(frames[3])
            return answer


def padded(module: bytes, size: int) -> bytes:
    """``module`` plus a custom section of about ``size`` bytes: a big valid module."""
    payload = b"\x03pad" + bytes(size)
    length, leb = len(payload), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        leb.append(byte | (0x80 if length else 0))
        if not length:
            break
    return module + b"\x00" + bytes(leb) + payload


def replies(broker: Broker, ctx: zmq.Context[Any], scale: int) -> str:
    broker.worker()
    client = connect(ctx, broker.frontend)
    code_id = ask(client, {"op": "deploy", "code": PROBE})["code_id"]
    while ask(client, {"op": "stats"})["workers"] < 1:
        time.sleep(0.1)
    count, size = 400 * scale, 240 * 1024
    body = {"op": "query", "code_id": code_id, "function": "echo", "input": bytes(size)}
    for index in range(count):
        ask(client, body, b"q%d" % index)
    return f"{count} queries answered with {size // 1024} KiB each"


def queue(broker: Broker, ctx: zmq.Context[Any], scale: int) -> str:
    client = connect(ctx, broker.frontend)
    code_id = ask(client, {"op": "deploy", "code": PROBE})["code_id"]
    count = 300 * scale
    body = {"op": "call", "code_id": code_id, "function": "input_len", "input": bytes(MIB), "timeout": 300.0}
    for index in range(count):
        client.send_multipart(message(CLIENT, REQUEST, b"c%d" % index, body))
    wait_for(lambda: taken(client) >= count, 120)
    return f"{count} calls of 1 MiB sent with no worker ({busy(client)} refused BUSY)"


def taken(client: zmq.Socket[Any]) -> int:
    stats = ask(client, {"op": "stats"})
    return int(stats["queue"]) + busy_of(stats)


def busy_of(stats: dict[str, Any]) -> int:
    return int(stats["counters"].get("error_busy", 0))


def busy(client: zmq.Socket[Any]) -> int:
    return busy_of(ask(client, {"op": "stats"}))


def nested(broker: Broker, ctx: zmq.Context[Any], scale: int) -> str:
    client = connect(ctx, broker.frontend)
    width = 1000 * scale
    arrays = msgpack.packb([[[]] * 1000] * width)
    started = time.monotonic()
    client.send_multipart([CLIENT, bytes((REQUEST,)), b"nested", b"\x81\xa2op" + arrays])
    client.recv_multipart()
    return f"one {len(arrays) / MIB:.1f} MiB body of {width * 1000:,} empty arrays, answered in " \
           f"{time.monotonic() - started:.2f} s"


def cache_lists(broker: Broker, ctx: zmq.Context[Any], scale: int) -> str:
    fakes = [connect(ctx, broker.backend) for _ in range(10 * scale)]
    cache = [f"{n:064x}" for n in range(100_000)]
    for fake in fakes:
        fake.send_multipart(message(WORKER, READY, b"r", {"cache": cache}))
    client = connect(ctx, broker.frontend)
    wait_for(lambda: (lambda s: s["workers"] + s["counters"].get("dropped", 0))(ask(client, {"op": "stats"}))
             >= len(fakes), 120)
    return f"{len(fakes)} fake workers, each READY listing 100,000 cached modules"


def callbacks(broker: Broker, ctx: zmq.Context[Any], scale: int) -> str:
    fake = connect(ctx, broker.backend)
    fake.setsockopt(zmq.RCVHWM, 1)
    fake.send_multipart(message(WORKER, READY, b"r", {}))
    client = connect(ctx, broker.frontend)
    while ask(client, {"op": "stats"})["workers"] < 1:
        time.sleep(0.05)
    code_id = ask(client, {"op": "deploy", "code": padded(PROBE, 4 * MIB)})["code_id"]
    client.send_multipart(message(CLIENT, REQUEST, b"call", {"op": "call", "code_id": code_id,
                                                             "function": "nothing", "timeout": 300.0}))
    job = next(f for f in iter(fake.recv_multipart, None) if f[1] == bytes((REQUEST,)))[2]
    count = 100 * scale
    for seq in range(count):
        fake.send_multipart(message(WORKER, CALLBACK, job, {"op": "code", "seq": seq}))
    wait_for(lambda: ask(client, {"op": "stats"})["counters"].get("callbacks", 0) >= count, 120)
    return f"{count} fetches of a 4 MiB module, never read"


def connect(ctx: zmq.Context[Any], endpoint: str) -> zmq.Socket[Any]:
    sock = ctx.socket(zmq.DEALER)
    sock.linger = 0
    sock.connect(endpoint)
    return sock


def wait_for(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError("the broker did not take the attack in")
        time.sleep(0.2)


ATTACKS: dict[str, Callable[[Broker, zmq.Context[Any], int], str]] = {
    "replies": replies, "queue": queue, "nested": nested, "cache-lists": cache_lists, "callbacks": callbacks,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(ATTACKS), action="append")
    parser.add_argument("--scale", type=int, default=1)
    args = parser.parse_args()
    for name in args.only or list(ATTACKS):
        broker = Broker()
        ctx: zmq.Context[Any] = zmq.Context()
        try:
            time.sleep(0.5)
            before = broker.rss_mb()
            what = ATTACKS[name](broker, ctx, args.scale)
            print(f"{name:12} broker RSS {before:7.1f} MB -> {broker.rss_mb():7.1f} MB "
                  f"(peak {broker.rss_mb('VmHWM'):7.1f} MB)   {what}", flush=True)
        finally:
            ctx.destroy(linger=0)
            broker.stop()


if __name__ == "__main__":
    main()
