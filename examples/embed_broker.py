"""Embedding the wasmpool broker in an asyncio node.

A node (a blockchain client, a service) runs the broker as one more task on
its own event loop and plugs in its own state store through the
``StateStore`` interface; here a store that tells the node about every
commit. Worker processes connect to the broker's backend as usual (here two
local ones, supervised: one that exits is replaced); clients reach the
frontend like any other pool.

Run from the repository root:

    .venv/bin/python examples/embed_broker.py
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

import wasmpool
from wasmpool import MemoryStore, WorkerConfig, supervise

COUNTER = Path(__file__).with_name("counter.wasm")


class NodeStore(MemoryStore):
    """The node's own state: kept in memory, and every commit reported to the node."""

    def commit(self, code_id: str, reads: Mapping[bytes, int], writes: Mapping[bytes, bytes | None]) -> int:
        version = super().commit(code_id, reads, writes)
        changes = ", ".join(f"{k.decode(errors='replace')}={v!r}" for k, v in writes.items())
        print(f"  node: commit #{version} to {code_id[:12]}: {changes}")
        return version


async def node_main() -> None:
    store = NodeStore()
    pool = wasmpool.Broker(state=store, frontend="tcp://127.0.0.1:*", backend="tcp://127.0.0.1:*")
    pool.bind()
    print(f"broker embedded: clients on {pool.frontend_endpoint}, workers on {pool.backend_endpoint}")
    workers = supervise(WorkerConfig(endpoint=pool.backend_endpoint), 2)  # restarted if one exits
    serving = asyncio.create_task(pool.serve())  # one more task on the node's event loop
    try:
        await use_the_pool(pool.frontend_endpoint, store)
    finally:
        pool.stop()
        await serving
        workers.stop()


async def use_the_pool(frontend: str, store: NodeStore) -> None:
    async with wasmpool.AsyncClient(frontend) as client:
        while (await client.stats())["workers"] < 2:
            await asyncio.sleep(0.1)
        code_id = await client.deploy(COUNTER.read_bytes())
        print(f"deployed counter.wasm: {code_id}")
        results = await asyncio.gather(*(client.call(code_id, "increment") for _ in range(5)))
        print(f"5 concurrent increments returned {sorted(r.results[0] for r in results)}")
        print(f"add(40, 2) = {(await client.call(code_id, 'add', [40, 2])).results[0]}")
        value, version = store.get(code_id, b"count")
        print(f"the node reads its store directly: count = {int.from_bytes(value or b'', 'little')} "
              f"(version {version})")


if __name__ == "__main__":
    asyncio.run(node_main())
