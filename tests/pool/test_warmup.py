"""A worker process warms its job path with a built-in contract before READY, and keeps nothing of it.

The contract computes what its loop says; the warm-up runs it the
configured number of times through the real job path and leaves no file,
cache entry or counter behind; a failing warm-up is logged and the
worker serves anyway; a real worker process that warmed up starts with
empty tiers and an empty cache directory; ``--warm-up`` is bounded.
"""

from __future__ import annotations

import gc
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pool.chaos import wait_for_stats
from tests.pool.conftest import Pool, unique
from wasmpool.cli import main as cli_main
from wasmpool.cli import worker as worker_command
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode
from wasmpool.wasm.serialize import maker_of
from wasmpool.wire import protocol as p
from wasmpool.worker import execute as run
from wasmpool.worker import process, timelimit, warmup
from wasmpool.worker.config import DEFAULT_PRELOAD, DEFAULT_WARM_UP, MAX_PRELOAD, MAX_WARM_UP, WorkerConfig
from wasmpool.worker.host import Host
from wasmpool.worker.modules import load
from wasmpool.worker.readers import MappingState
from wasmpool.worker.supervisor import spawn, stop_workers

WAIT = 60.0
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MASK32 = 0xFFFF_FFFF


def expected_total() -> int:
    """The warm-up contract's loop, in Python: memory[128 + 4i] = i * 0x9E3779B1 ^ total; total += it."""
    total = 0
    for i in range(warmup.WORDS):
        word = ((i * 0x9E3779B1) & MASK32) ^ total
        total = (total + word) & MASK32
    return total


@pytest.fixture
def runtime() -> Iterator[run.Runtime]:
    timelimit.install_alarm()
    yield run.Runtime.of(Host())


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files of this process go under a folder of the test's own."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_the_warm_up_contract_computes_what_its_loop_says(runtime: run.Runtime) -> None:
    code = warmup.contract()
    job = {"code_id": p.code_id(code), "function": "run", "gas_limit": warmup.WARM_GAS, "timeout": 10.0,
           "readonly": False}
    loaded = load(code, job["code_id"])
    assert loaded.problem is None, loaded.problem  # its imports are the host ABI's, and it compiles
    state = MappingState({}, job["code_id"])  # nothing committed yet
    result = run.execute(job, state, lambda code_id, index, called=False: loaded, runtime)
    total = expected_total()
    assert result.status == p.Status.OK
    assert result.results == [total - (1 << 32) if total >> 31 else total]  # i32 results are signed
    stored = total.to_bytes(4, "little") + bytes(4)
    assert result.output == stored
    assert result.writes == {warmup.STATE_KEY: stored}
    assert result.gas_used > 0


def test_the_warm_up_runs_every_round_through_the_job_path_and_leaves_no_file(
        runtime: run.Runtime, private_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = run.execute

    def counted(job: dict[str, Any], *args: Any) -> Any:
        result = real(job, *args)
        calls.append({"function": job["function"], "status": result.status, "writes": result.writes})
        return result

    monkeypatch.setattr(warmup.run, "execute", counted)
    seconds = warmup.warm_up(runtime, 3)
    assert seconds > 0
    assert len(calls) == 8  # two instances (the general path, then the maker) once compiled, then per round
    assert {c["status"] for c in calls} == {p.Status.OK}
    assert list(private_tmp.iterdir()) == []  # the disk entry's directory is gone
    assert warmup.warm_up(runtime, 0) == 0.0


def test_a_failing_warm_up_is_logged_and_not_raised(runtime: run.Runtime, private_tmp: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(warmup, "contract", lambda: b"\x00asm\x01\x00\x00\x00\xff")  # a malformed module
    with pytest.raises(Exception, match="section"):
        warmup.warm_up(runtime, 1)
    try:
        warmup.warm_up_logged(runtime, 1)  # what a worker process runs: it goes on to serve
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process's objects go back to the collector
    assert "warm-up failed, serving cold" in capsys.readouterr().err
    assert list(private_tmp.iterdir()) == []


def test_a_warmed_worker_process_starts_with_nothing_of_the_warm_up(
        empty_pool: Pool, tmp_path: Path, token_wasm: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real processes: its tiers count nothing, its cache directory is empty, its temporary files are gone."""
    cache_dir, scratch = tmp_path / "cache", tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))  # the spawned worker's temporary directory
    config = WorkerConfig(endpoint=empty_pool.backend, heartbeat=0.2, cache_dir=str(cache_dir))
    assert config.warm_up == DEFAULT_WARM_UP > 0
    with empty_pool.client() as client:
        code_id = client.deploy(unique(token_wasm))
        empty_pool.workers = [spawn(config, 0)]
        try:
            stats = wait_for_stats(client, lambda s: s["workers"] == 1, WAIT)
            assert not any(stats.get("cache_tiers", {}).get(tier) for tier in ("memory", "disk", "compile"))
            assert list(cache_dir.glob("*.wpc")) == []
            assert list(scratch.iterdir()) == []
            minted = client.call(code_id, "mint", input=b"alice 7", context={"caller": b"alice"})
            assert minted.status == "ok"
            stats = wait_for_stats(client, lambda s: s["cache_tiers"].get("compile") == 1, WAIT)
            assert stats["cache_tiers"].get("disk", 0) == 0  # the token was the only module it met
            assert [path.name[:len(code_id)] for path in cache_dir.glob("*.wpc")] == [code_id]
        finally:
            stop_workers(empty_pool.workers)


def test_warm_up_rounds_come_from_the_command_line_and_are_bounded() -> None:
    parser = worker_command.argparse.ArgumentParser()
    worker_command.configure(parser)
    assert worker_command.config_from(parser.parse_args([]), "x").warm_up == DEFAULT_WARM_UP
    assert worker_command.config_from(parser.parse_args(["--warm-up", "0"]), "x").warm_up == 0
    assert worker_command.config_from(parser.parse_args(["--warm-up", "5"]), "x").warm_up == 5
    for bad in ("-1", str(MAX_WARM_UP + 1)):
        argv = ["worker", "--connect", "tcp://127.0.0.1:1", "--warm-up", bad, "--processes", "1"]
        assert cli_main(argv) == 2


def test_preloaded_modules_come_from_the_command_line_and_are_bounded() -> None:
    parser = worker_command.argparse.ArgumentParser()
    worker_command.configure(parser)
    assert worker_command.config_from(parser.parse_args([]), "x").preload == DEFAULT_PRELOAD
    assert worker_command.config_from(parser.parse_args(["--preload", "0"]), "x").preload == 0
    for bad in ("-1", str(MAX_PRELOAD + 1)):
        argv = ["worker", "--connect", "tcp://127.0.0.1:1", "--preload", bad, "--processes", "1"]
        assert cli_main(argv) == 2


def test_a_worker_process_warms_up_with_its_rounds_before_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """``serve`` (a worker process's entry) warms the worker's own runtime up before ``run`` says READY."""
    events: list[Any] = []

    class Recorded(process.Worker):
        def run(self) -> None:
            events.append(("run", self.runtime))

        def preload(self) -> int:
            events.append(("preload", self.runtime))
            return 0

    for name in ("install_alarm", "tune_allocator", "handle_stop_signals"):  # process-wide: not in pytest
        monkeypatch.setattr(process, name, lambda *args: None)
    monkeypatch.setattr(process, "warm_up_logged",
                        lambda runtime, rounds: events.append(("warm", runtime, rounds)))
    process.serve(WorkerConfig(endpoint="tcp://127.0.0.1:1", warm_up=7), Recorded)
    (warm, runtime, rounds), (preload, preloading), (ran, same) = events
    assert (warm, rounds, preload, ran) == ("warm", 7, "preload", "run") and runtime is same is preloading


def _token_call(runtime: run.Runtime, loaded: Any) -> tuple[Any, ...]:
    """total_supply of the token through the job path, on committed state holding a supply."""
    job = {"code_id": loaded.key.code_id, "function": "total_supply", "gas_limit": 10**7, "timeout": 10.0,
           "readonly": True}
    state = MappingState({(loaded.key.code_id, b"supply"): (77).to_bytes(8, "little")}, loaded.key.code_id)
    result = run.execute(job, state, lambda *_: loaded, runtime)
    return result.status, result.results, result.gas_used


def test_priming_a_module_makes_its_instance_maker_and_changes_no_outcome(runtime: run.Runtime) -> None:
    code = (EXAMPLES / "token.wasm").read_bytes()
    primed, plain = load(code, p.code_id(code)), load(code, p.code_id(code))
    assert primed.compiled is not None and maker_of(primed.compiled) is None
    assert warmup.prime(primed.compiled, runtime.imports)
    assert maker_of(primed.compiled) is not None  # the first call's instance is the maker's
    outcome = _token_call(runtime, primed)
    assert outcome[:2] == (p.Status.OK, [77]) and outcome == _token_call(runtime, plain)  # gas too


def test_a_module_with_a_start_function_is_not_primed(runtime: run.Runtime,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    b = ModuleBuilder()
    b.func((), (), [Opcode.UNREACHABLE], export="boom")
    b.start = 0
    code = b.build()
    loaded = load(code, p.code_id(code))
    made: list[Any] = []
    monkeypatch.setattr(warmup.wasm, "instantiate", lambda *args, **kwargs: made.append(args))
    assert loaded.compiled is not None and not warmup.prime(loaded.compiled, runtime.imports)
    assert made == []  # never instantiated: its start function would have run
