"""The host's compiled-code cache with real brokers, worker processes, sockets, SQLite and cache files.

A fresh worker process takes a module another process compiled from disk
(no code fetch from the broker, the same results); a lazily compiled
module's partial entry grows between jobs and serves a fresh worker, which
compiles the functions it lacks as a worker without a cache does; a damaged entry is
compiled again and replaced; two processes filling one directory at once
leave only whole entries; a worker whose writes fail (a real EFBIG from a
file-size limit) answers every call and counts the failures; the tier
counters reach ``wasmpool stats``; an unsafe directory is refused.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.pool import lazy_module
from tests.pool.chaos import wait_for_stats
from tests.pool.chaos import wait_until as wait_for
from tests.pool.conftest import Pool, unique
from wasmpool import wasm
from wasmpool.broker.core import tier_totals
from wasmpool.broker.metrics import render
from wasmpool.cli import main as cli_main
from wasmpool.cli import worker as worker_command
from wasmpool.cli.client import format_stats
from wasmpool.client import Client
from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command
from wasmpool.worker import diskcache as dc
from wasmpool.worker.config import DEFAULT_PRELOAD, WorkerConfig
from wasmpool.worker.process import main as worker_main
from wasmpool.worker.supervisor import spawn, stop_workers
from wasmpool.worker.tiers import SIZE, DiskTier
from wasmpool.worker.versions import cache_key

WAIT = 60.0  # seconds for workers to start and stats to settle (busy test machines)
FILE_LIMIT = 4096  # bytes: below any compiled token entry, above what a worker otherwise writes


def wait_until(client: Client, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll the broker's stats until ``ready`` holds for them; returns them."""
    return wait_for_stats(client, ready, WAIT)


def workers(count: int) -> Callable[[dict[str, Any]], bool]:
    return lambda stats: stats["workers"] == count


def fetches(stats: dict[str, Any]) -> int:
    return int(stats["counters"].get("code_fetches", 0))


def config(pool: Pool, cache_dir: Path, **fields: Any) -> WorkerConfig:
    """A worker over ``cache_dir`` that loads each module at its first call (no preload, unless ``fields``
    say otherwise): these tests are about what a call finds on disk."""
    return WorkerConfig(endpoint=pool.backend, heartbeat=0.2, cache_dir=str(cache_dir),
                        **{"preload": 0, **fields})


def entries(cache_dir: Path) -> dict[str, bytes | None]:
    """Every entry file of the directory: its payload if whole and right for its name, else None."""
    return {path.name: dc.unpack(path.read_bytes(), path.name[:-len(dc.SUFFIX)])
            for path in cache_dir.glob(f"*{dc.SUFFIX}")}


def mint_and_read(client: Client, code_id: str) -> tuple[Any, ...]:
    mint = client.call(code_id, "mint", input=b"alice 1000", context={"caller": b"alice"})
    balance = client.call(code_id, "balance_of", input=b"alice")
    return mint.status, mint.gas_used, balance.results, balance.output, balance.gas_used


def replace_worker(pool: Pool, client: Client, new: WorkerConfig) -> None:
    """Stop the pool's workers, wait until the broker forgot them, start one worker with ``new``."""
    stop_workers(pool.workers)
    wait_until(client, workers(0))
    pool.workers = [spawn(new, 0)]
    wait_until(client, workers(1))


def token_compiled_once(pool: Pool, client: Client, cache_dir: Path, token_wasm: bytes
                        ) -> tuple[str, tuple[Any, ...]]:
    """A new token's code id, compiled by a worker over ``cache_dir`` for a mint and a read; their outcome."""
    code_id = client.deploy(unique(token_wasm))
    pool.workers = [spawn(config(pool, cache_dir), 0)]
    wait_until(client, workers(1))
    return code_id, mint_and_read(client, code_id)


def test_a_fresh_worker_takes_a_known_module_from_disk(empty_pool: Pool, tmp_path: Path,
                                                       token_wasm: bytes) -> None:
    cache_dir = tmp_path / "cache"
    with empty_pool.client() as client:
        code_id, compiled = token_compiled_once(empty_pool, client, cache_dir, token_wasm)
        assert compiled[0] == "ok" and compiled[2] == [1000]
        assert fetches(client.stats()) == 1
        (name, payload), = entries(cache_dir).items()
        assert name.startswith(code_id) and payload is not None

        replace_worker(empty_pool, client, config(empty_pool, cache_dir))
        balance = client.call(code_id, "balance_of", input=b"alice")
        assert (balance.results, balance.output, balance.gas_used) == compiled[2:]
        assert fetches(client.stats()) == 1, "the fresh worker fetched a module it had on disk"
        tiers = wait_until(client, lambda s: s["cache_tiers"].get("disk") == 1)["cache_tiers"]
        assert tiers["compile"] == 1
        assert tiers["disk_bytes"] == sum(f.stat().st_size for f in cache_dir.glob("*.wpc"))


def test_a_restarted_worker_preloads_the_hosts_recent_modules(empty_pool: Pool, tmp_path: Path,
                                                              token_wasm: bytes) -> None:
    cache_dir = tmp_path / "cache"
    with empty_pool.client() as client:
        code_id, compiled = token_compiled_once(empty_pool, client, cache_dir, token_wasm)
        replace_worker(empty_pool, client, config(empty_pool, cache_dir, preload=DEFAULT_PRELOAD))
        stats = wait_until(client, lambda s: s["cache_tiers"].get("preloaded") == 1)
        assert stats["worker_list"][0]["cached"] == 1  # its READY listed the module: calls are routed here
        balance = client.call(code_id, "balance_of", input=b"alice")
        assert (balance.results, balance.output, balance.gas_used) == compiled[2:]
        tiers = wait_until(client, lambda s: s["jobs_done"] == 3)["cache_tiers"]
        assert (tiers["disk"], tiers["compile"], tiers["memory"]) == (0, 1, 2)  # found in memory
        assert fetches(client.stats()) == 1


def stored_functions(cache_dir: Path, code_id: str) -> set[int]:
    """The functions whose code the disk entry of ``code_id`` holds (none if it has no entry)."""
    data = DiskTier.at(cache_dir, 10**9).store.peek(cache_key(code_id).text())
    if data is None:
        return set()
    stored = wasm.deserialize_compiled(memoryview(data)[SIZE.size:], metered=True, canonical_nans=True)
    return set(stored.codes)


def wait_stored(cache_dir: Path, code_id: str, count: int) -> set[int]:
    """Wait (up to WAIT) until the entry holds ``count`` functions: a worker stores it between jobs."""
    deadline = time.monotonic() + WAIT
    while len(found := stored_functions(cache_dir, code_id)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def test_a_lazily_compiled_module_grows_on_disk_between_jobs_and_serves_a_fresh_worker(
        empty_pool: Pool, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    with empty_pool.client() as client:
        code_id = client.deploy(lazy_module.build())
        empty_pool.workers = [spawn(config(empty_pool, cache_dir), 0)]
        wait_until(client, workers(1))
        first = client.call(code_id, "e0")
        assert first.ok
        assert wait_stored(cache_dir, code_id, 3) == {300, 0, 1}  # e0, and h0 and h1 it called

        replace_worker(empty_pool, client, config(empty_pool, cache_dir))
        again, other = client.call(code_id, "e0"), client.call(code_id, "e7")  # e7: never compiled before
        assert (again.results, again.gas_used) == (first.results, first.gas_used)
        assert fetches(client.stats()) == 1, "the fresh worker fetched a module it had on disk"
        assert wait_stored(cache_dir, code_id, 6) == {300, 0, 1, 307, 7, 8}
        replace_worker(empty_pool, client, WorkerConfig(endpoint=empty_pool.backend, heartbeat=0.2))
        compiled = client.call(code_id, "e7")  # compiled now, no disk cache
        assert (other.results, other.gas_used) == (compiled.results, compiled.gas_used)


def test_a_damaged_entry_is_compiled_again_by_a_worker(empty_pool: Pool, tmp_path: Path,
                                                       token_wasm: bytes) -> None:
    cache_dir = tmp_path / "cache"
    with empty_pool.client() as client:
        code_id = client.deploy(unique(token_wasm))
        empty_pool.workers = [spawn(config(empty_pool, cache_dir), 0)]
        wait_until(client, workers(1))
        first = mint_and_read(client, code_id)
        stop_workers(empty_pool.workers)  # first: an idle worker may store its entry again (Loader.tend)
        wait_until(client, workers(0))
        (entry,) = cache_dir.glob("*.wpc")
        damaged = bytearray(entry.read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF  # inside the marshalled code: executing it would go wrong
        entry.write_bytes(bytes(damaged))

        empty_pool.workers = [spawn(config(empty_pool, cache_dir), 0)]
        wait_until(client, workers(1))
        balance = client.call(code_id, "balance_of", input=b"alice")
        assert (balance.results, balance.output, balance.gas_used) == first[2:]
        tiers = wait_until(client, lambda s: s["cache_tiers"].get("disk_corrupt") == 1)["cache_tiers"]
        assert (tiers["compile"], tiers.get("disk", 0)) == (2, 0)
        assert all(payload is not None for payload in entries(cache_dir).values())  # rewritten whole
        assert len(entries(cache_dir)) == 1


def test_two_workers_filling_one_directory_at_once(empty_pool: Pool, tmp_path: Path,
                                                   token_wasm: bytes, counter_wasm: bytes) -> None:
    cache_dir = tmp_path / "cache"
    with empty_pool.client() as client:
        codes = [client.deploy(unique(token_wasm)) for _ in range(3)]
        codes += [client.deploy(unique(counter_wasm)) for _ in range(2)]
        empty_pool.workers = [spawn(config(empty_pool, cache_dir), i) for i in range(2)]
        wait_until(client, workers(2))
    outcomes: dict[tuple[int, str], Any] = {}
    failures: list[BaseException] = []

    def caller(index: int) -> None:
        try:
            with empty_pool.client() as own:
                for code_id in codes if index % 2 else reversed(codes):  # both ends at once, then crossing
                    outcomes[index, code_id] = own.call(code_id, "total_supply" if code_id in codes[:3]
                                                        else "get").status
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not failures
    assert len(outcomes) == 6 * len(codes) and all(status == "ok" for status in outcomes.values())
    found = entries(cache_dir)
    assert len(found) == len(codes) and all(payload is not None for payload in found.values())
    assert not list(cache_dir.glob(f"{dc.TEMP_PREFIX}*"))
    with empty_pool.client() as client:
        before = fetches(client.stats())
        replace_worker(empty_pool, client, config(empty_pool, cache_dir))
        for code_id in codes:  # a third process finds every module whole on disk
            assert client.call(code_id, "total_supply" if code_id in codes[:3] else "get").ok
        assert fetches(client.stats()) == before


def limited_worker(config: WorkerConfig) -> None:
    """A worker process whose files may not grow past FILE_LIMIT bytes: its cache writes fail with EFBIG."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    worker_main(config)


def test_a_worker_that_cannot_write_its_cache_answers_every_call(empty_pool: Pool, tmp_path: Path,
                                                                  token_wasm: bytes) -> None:
    cache_dir = tmp_path / "cache"
    with empty_pool.client() as client:
        codes = [client.deploy(unique(token_wasm)) for _ in range(2)]
        empty_pool.workers = [spawn(config(empty_pool, cache_dir), 0, target=limited_worker)]
        wait_until(client, workers(1))
        for code_id in codes:
            status, _, results, output, _ = mint_and_read(client, code_id)
            assert (status, results, output) == ("ok", [1000], b"1000")
        # each module is stored at load (counted in its call's FINAL), and again between jobs once its
        # second instance made its maker (Loader.tend), counted with the next FINAL if there is one
        tiers = wait_until(client, lambda s: s["cache_tiers"].get("disk_write_errors", 0) >= 2)["cache_tiers"]
        assert tiers["compile"] == 2
        # a failed write removes its temporary file; a store between jobs (Loader.tend) may still be
        # writing one as the counter is read: the directory must end up empty, never keep a file
        wait_for(lambda: not any(cache_dir.iterdir()), "the cache directory left empty", 10.0)
        assert empty_pool.workers[0].is_alive()


def test_an_unsafe_cache_directory_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    loose.chmod(0o777)
    parser = worker_command.argparse.ArgumentParser()
    worker_command.configure(parser)
    with pytest.raises(dc.CacheDirRefused, match="writable by group or others"):
        worker_command.config_from(parser.parse_args(["--cache-dir", str(loose)]), "tcp://127.0.0.1:1")
    assert cli_main(["worker", "--cache-dir", str(loose), "--processes", "1"]) == 2
    accepted = worker_command.config_from(
        parser.parse_args(["--cache-dir", str(loose), "--cache-dir-insecure", "--cache-dir-mb", "5"]),
        "tcp://127.0.0.1:1")
    assert (accepted.cache_dir, accepted.cache_dir_loose, accepted.cache_dir_bytes) == (
        str(loose.resolve()), True, 5 * 1024 * 1024)
    made = worker_command.config_from(parser.parse_args(["--cache-dir", str(tmp_path / "new")]), "x")
    assert made.cache_dir == str((tmp_path / "new").resolve())
    assert oct((tmp_path / "new").stat().st_mode & 0o777) == oct(dc.DIRECTORY_MODE)


def test_stats_show_the_tiers() -> None:
    text = format_stats({"cache_tiers": {"memory": 5, "disk": 2, "compile": 1, "disk_bytes": 4096,
                                         "disk_corrupt": 1}})
    rows = {label.strip(): value for label, value in (line.rsplit("  ", 1) for line in text.splitlines())}
    assert {key: rows[key] for key in ("modules from memory", "modules from disk", "modules compiled",
                                       "disk cache bytes", "disk cache corrupt entries")} == {
        "modules from memory": "5", "modules from disk": "2", "modules compiled": "1",
        "disk cache bytes": "4096", "disk cache corrupt entries": "1"}
    assert "disk cache evictions" not in rows  # a worker without a disk cache reports none of its counters


def test_tier_counts_travel_in_cache_reports_and_add_up_over_workers() -> None:
    report = m.CacheReport(3, 1, None, {"memory": 3, "disk": 1, "compile": 0, "disk_bytes": 900})
    body = m.Ready.of(report, 7, 8).to_body()
    p.check_fields(body, p.WORKER_SCHEMAS[Command.READY])
    assert body["tiers"] == report.tiers
    with pytest.raises(errors.ProtocolError):
        p.check_fields({**body, "tiers": {"unknown": 1}}, p.WORKER_SCHEMAS[Command.READY])
    with pytest.raises(errors.ProtocolError):
        p.check_fields({**body, "tiers": {"disk": -1}}, p.WORKER_SCHEMAS[Command.READY])
    totals = tier_totals({"compile": 2, "disk": 1}, [{"disk": 1, "disk_bytes": 900},
                                                     {"memory": 4, "compile": 1, "disk_bytes": 1000}])
    assert totals == {"compile": 3, "disk": 2, "disk_bytes": 1000, "memory": 4}  # bytes: one host's directory


def test_the_worker_command_names_its_cache_directory(tmp_path: Path) -> None:
    cache_dir = tmp_path / "host-cache"
    command = [sys.executable, "-m", "wasmpool", "worker", "--connect", "tcp://127.0.0.1:9",
               "--processes", "1", "--cache-dir", str(cache_dir)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
        finally:
            process.terminate()
            process.wait(30)
    assert f"compiled modules cached in {cache_dir.resolve()}" in line
    assert cache_dir.stat().st_mode & 0o777 == dc.DIRECTORY_MODE


def test_the_tiers_are_prometheus_metrics() -> None:
    text = render({"cache_tiers": {"memory": 5, "disk": 2, "compile": 1, "disk_bytes": 4096,
                                   "disk_write_errors": 3}})
    assert 'wasmpool_module_loads_total{tier="disk"} 2' in text
    assert 'wasmpool_module_loads_total{tier="memory"} 5' in text
    assert "wasmpool_disk_cache_bytes 4096" in text
    assert "wasmpool_disk_cache_write_errors_total 3" in text
    assert "wasmpool_disk_cache_corrupt_total 0" in text
