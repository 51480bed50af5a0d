"""The asyncio client (many requests in flight on one socket), and both clients' retries."""

from __future__ import annotations

import asyncio

import pytest

from tests.pool.conftest import Pool, unique
from wasmpool.client import AsyncClient, Client
from wasmpool.wire import errors
from wasmpool.wire.protocol import Status


@pytest.mark.asyncio
async def test_async_client_deploys_calls_and_queries(pool: Pool, probe_wasm: bytes) -> None:
    async with AsyncClient(pool.frontend) as client:
        code_id = await client.deploy(unique(probe_wasm))
        results = await asyncio.gather(*(client.call(code_id, "add", [i, i]) for i in range(50)))
        assert [r.results for r in results] == [[2 * i] for i in range(50)]
        assert (await client.call(code_id, "put", input=b"async")).ok
        got = await client.query(code_id, "get")
        assert (got.status, got.output) == (Status.OK, b"async")
        assert await client.state_get(code_id, b"k") == (b"async", (await client.state_get(code_id, b"k"))[1])
        assert (await client.stats())["workers"] == 2


@pytest.mark.asyncio
async def test_async_client_raises_typed_errors(pool: Pool) -> None:
    async with AsyncClient(pool.frontend) as client:
        with pytest.raises(errors.InvalidModule):
            await client.deploy(b"not wasm at all")
        with pytest.raises(errors.UnknownCode):
            await client.call("f" * 64, "add", [1, 2])


@pytest.mark.asyncio
async def test_async_client_times_out_after_its_retries() -> None:
    async with AsyncClient("tcp://127.0.0.1:9", timeout=0.1, retries=1) as client:
        with pytest.raises(errors.RequestTimeout, match="2 attempts"):
            await client.stats()


def test_sync_client_times_out_after_its_retries() -> None:
    with Client("tcp://127.0.0.1:9", timeout=0.1, retries=1) as client, \
            pytest.raises(errors.RequestTimeout, match="2 attempts"):
        client.stats()
