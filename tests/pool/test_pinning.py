"""Pinning with real brokers, worker processes, sockets and SQLite files.

A pinned module is loaded by every worker ahead of calls (a fresh worker's
first call of it is a memory hit: no code fetch, no cache miss), stays
loaded beyond the LRU's entry count, survives a broker restart, falls back
into the LRU when unpinned, and never touches contract state.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.pool.chaos import wait_for_stats
from tests.pool.conftest import TEST_CONFIG, Pool, rebind, start_pool, unique
from wasmpool.broker.blocks.state_root import compute_root
from wasmpool.broker.config import BrokerConfig
from wasmpool.broker.state import SQLiteStore
from wasmpool.cli import broker as broker_command
from wasmpool.cli import main as cli_main
from wasmpool.client import AsyncClient, Client
from wasmpool.wire import errors
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.supervisor import start_workers

LOAD_WAIT = 60.0  # seconds a worker may take to start and load its pinned modules (busy test machines)


def add_worker(pool: Pool, **config: Any) -> None:
    """Start one more worker process on ``pool``'s backend."""
    pool.workers += start_workers(WorkerConfig(endpoint=pool.backend, heartbeat=0.2, **config), 1)


def wait_until(client: Client, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll the broker's stats until ``ready`` holds for them; returns them."""
    return wait_for_stats(client, ready, LOAD_WAIT)


def all_loaded(workers: int) -> Callable[[dict[str, Any]], bool]:
    """Stats say ``workers`` workers are registered and every one has loaded every pinned module."""
    return lambda stats: (stats["workers"] == workers
                          and all(not w["pinned_missing"] for w in stats["worker_list"]))


def fetches(stats: dict[str, Any]) -> int:
    """Modules the broker sent to workers for jobs (cache misses that reached it)."""
    return int(stats["counters"].get("code_fetches", 0))


def test_a_fresh_workers_first_call_of_a_pinned_module_is_a_memory_hit(empty_pool: Pool,
                                                                         token_wasm: bytes) -> None:
    with empty_pool.client() as client:
        pinned, plain = client.deploy(unique(token_wasm)), client.deploy(unique(token_wasm))
        reply = client.pin(pinned)
        assert (reply.code_id, reply.pinned, reply.changed) == (pinned, True, True)
        add_worker(empty_pool)
        wait_until(client, all_loaded(1))
        before = client.stats()
        assert client.call(pinned, "total_supply").ok
        after = client.stats()
        assert fetches(after) == fetches(before) == 0
        assert after["cache_hits"] == before["cache_hits"] + 1
        assert after["cache_misses"] == before["cache_misses"]
        assert after["counters"]["pin_fetches"] == 1
        assert client.call(plain, "total_supply").ok  # the same contract, not pinned: fetched
        assert fetches(client.stats()) == 1


def test_a_pin_reaches_a_live_worker_and_many_pinned_modules_outlast_the_lru(empty_pool: Pool,
                                                                             token_wasm: bytes) -> None:
    with empty_pool.client() as client:
        add_worker(empty_pool, cache_entries=2)
        empty_pool.wait_for_workers(1)
        codes = [client.deploy(unique(token_wasm)) for _ in range(5)]
        for code_id in codes:
            client.pin(code_id)
        stats = wait_until(client, all_loaded(1))
        assert stats["pinned"] == sorted(codes) and stats["worker_list"][0]["cached"] == 5
        others = [client.deploy(unique(token_wasm)) for _ in range(3)]
        for code_id in others + codes + codes:  # the LRU (2 entries) churns; the pinned stay
            assert client.call(code_id, "total_supply").ok
        assert fetches(client.stats()) == len(others)


def test_unpin_hands_the_module_back_to_the_lru(empty_pool: Pool, token_wasm: bytes) -> None:
    with empty_pool.client() as client:
        add_worker(empty_pool, cache_entries=1)
        code_id = client.deploy(unique(token_wasm))
        client.pin(code_id)
        wait_until(client, all_loaded(1))
        reply = client.unpin(code_id)
        assert (reply.pinned, reply.changed) == (False, True)
        assert client.unpin(code_id).changed is False
        stats = client.stats()
        assert stats["pinned"] == [] and stats["counters"]["unpins"] == 1
        assert client.call(code_id, "total_supply").ok  # still loaded: now in the LRU
        assert fetches(client.stats()) == 0
        other = client.deploy(unique(token_wasm))
        assert client.call(other, "total_supply").ok  # takes the LRU's one entry
        assert client.call(code_id, "total_supply").ok  # evicted like any other module: fetched again
        assert fetches(client.stats()) == 2


def test_pins_survive_a_broker_restart(tmp_path: Path, token_wasm: bytes) -> None:
    db = tmp_path / "state.db"
    first = start_pool(db, workers=0)
    try:
        with first.client() as client:
            code_id = client.deploy(unique(token_wasm))
            client.pin(code_id)
    finally:
        first.stop()
    second = rebind(lambda: start_pool(db, workers=0, frontend=first.frontend, backend=first.backend))
    try:
        with second.client() as client:
            assert client.stats()["pinned"] == [code_id]
            add_worker(second)
            wait_until(client, all_loaded(1))
            assert client.call(code_id, "total_supply").ok
            stats = client.stats()
            assert fetches(stats) == 0 and stats["cache_misses"] == 0
    finally:
        second.stop()


def test_an_unknown_code_id_cannot_be_pinned(empty_pool: Pool, capsys: pytest.CaptureFixture[str]) -> None:
    with empty_pool.client() as client:
        with pytest.raises(errors.UnknownCode):
            client.pin("ab" * 32)
        assert client.stats()["pinned"] == []
    assert cli_main(["pin", "ab" * 32, "--connect", empty_pool.frontend, "--wait", "5"]) == 2
    assert "UnknownCode" in capsys.readouterr().err


def test_the_pin_commands_and_stats(empty_pool: Pool, token_wasm: bytes,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    with empty_pool.client() as client:
        code_id = client.deploy(unique(token_wasm))
    connect = ["--connect", empty_pool.frontend, "--wait", "5"]
    assert cli_main(["pin", code_id, *connect]) == 0
    assert capsys.readouterr().out.strip() == f"{code_id} pinned"
    assert cli_main(["pin", code_id, *connect]) == 0
    assert capsys.readouterr().out.strip() == f"{code_id} pinned (unchanged)"
    assert cli_main(["stats", *connect]) == 0
    out = capsys.readouterr().out
    assert "pinned modules" in out and f"{code_id[:16]}" in out
    assert cli_main(["unpin", code_id, *connect]) == 0
    assert capsys.readouterr().out.strip() == f"{code_id} not pinned"


def test_pinning_leaves_the_state_root_and_the_sequence_alone(tmp_path: Path, token_wasm: bytes) -> None:
    db = tmp_path / "state.db"
    pool = start_pool(db, workers=1)
    try:
        pool.wait_for_workers(1)
        with pool.client() as client:
            code_id = client.deploy(unique(token_wasm))
            assert client.call(code_id, "mint", input=b"alice 1000", context={"caller": b"alice"}).ok
            reader = SQLiteStore(db)
            try:
                before = (compute_root(reader.items()), reader.sequence())
                client.pin(code_id)
                client.unpin(code_id)
                client.pin(code_id)
                assert (compute_root(reader.items()), reader.sequence()) == before
                assert reader.pins() == {code_id}
            finally:
                reader.close()
    finally:
        pool.stop()


@pytest.mark.asyncio
async def test_the_async_client_pins_and_unpins(empty_pool: Pool, token_wasm: bytes) -> None:
    async with AsyncClient(empty_pool.frontend) as client:
        code_id = await client.deploy(unique(token_wasm))
        assert (await client.pin(code_id)).pinned is True
        assert (await client.stats())["pinned"] == [code_id]
        assert (await client.unpin(code_id)).changed is True
        with pytest.raises(errors.UnknownCode):
            await client.pin("cd" * 32)


def test_the_broker_pins_what_it_is_started_with(tmp_path: Path, token_wasm: bytes) -> None:
    db = tmp_path / "state.db"
    first = start_pool(db, workers=0)
    try:
        with first.client() as client:
            code_id = str(client.deploy(unique(token_wasm)))
    finally:
        first.stop()
    with pytest.raises(errors.UnknownCode):  # refused at start, as the command line reports it
        start_pool(db, workers=0, config=BrokerConfig(limits=TEST_CONFIG.limits, pinned=("ef" * 32,)))
    second = start_pool(db, workers=1, config=BrokerConfig(limits=TEST_CONFIG.limits, pinned=(code_id,)))
    try:
        with second.client() as client:
            wait_until(client, all_loaded(1))
            assert client.stats()["pinned"] == [code_id]
            assert client.call(code_id, "total_supply").ok and fetches(client.stats()) == 0
    finally:
        second.stop()
    reader = SQLiteStore(db)
    try:
        assert reader.pins() == {code_id}  # recorded: a later start without --pin still pins it
    finally:
        reader.close()


def test_the_broker_command_takes_repeated_pins() -> None:
    parser = argparse.ArgumentParser()
    broker_command.configure(parser)
    first, second = "12" * 32, "34" * 32
    config = broker_command.broker_config(parser.parse_args(["--pin", first, "--pin", second]))
    assert config.pinned == (first, second)
    assert broker_command.broker_config(parser.parse_args([])).pinned == ()
    with pytest.raises(SystemExit):
        parser.parse_args(["--pin", "not-hex"])
