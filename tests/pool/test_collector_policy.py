"""The processes that run the engine choose the collector's policy around loading; the engine never does."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from tests.conftest import FIXTURES
from wasmpool.broker.server import validate_collector_paused
from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.worker import modules, process, tiers
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.modules import Loaded
from wasmpool.worker.validate import module_error


@pytest.fixture(params=[True, False], ids=["collector-on", "collector-off"])
def collector(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Each test starts with the collector on, then off, and gets its state back after."""
    was = gc.isenabled()
    (gc.enable if request.param else gc.disable)()
    try:
        yield request.param
    finally:
        (gc.enable if was else gc.disable)()


def recording_worker(monkeypatch: pytest.MonkeyPatch) -> tuple[process.Worker, bytes, list[bool]]:
    """A worker whose CALLBACKs answer with a module's bytes; whether the collector ran at each compile."""
    code = (FIXTURES / "main.wasm").read_bytes()
    seen: list[bool] = []

    def load(data: bytes, code_id: str | None = None) -> Loaded:
        seen.append(gc.isenabled())
        return modules.load(data, code_id)

    monkeypatch.setattr(tiers, "load", load)  # what the worker's loader compiles with
    worker = process.Worker(WorkerConfig(endpoint="tcp://127.0.0.1:1"))
    monkeypatch.setattr(worker, "callback", lambda job_id, question: m.CodeReply(0, code))
    return worker, code, seen


def test_a_worker_loads_a_fetched_module_with_the_collector_paused(
        collector: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache miss fetches the bytes, then decodes and compiles them with the collector paused."""
    worker, code, seen = recording_worker(monkeypatch)
    loaded = worker.module(b"job", p.code_id(code))
    assert loaded.module is not None and seen == [False]
    assert not gc.isenabled()  # still paused: the job that loaded it has not sent its reply yet
    assert worker.module(b"job", p.code_id(code)) is loaded and seen == [False]  # cached: no second load
    worker.collector.resume()  # what the end of the worker's turn does
    assert gc.isenabled() is collector


def test_the_worker_resumes_the_collector_when_its_turn_ends(
        collector: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job's load pauses the collector for the rest of the job; the turn's end resumes it, even on error."""
    worker = process.Worker(WorkerConfig(endpoint="tcp://127.0.0.1:1"))
    during = []

    def turn(line: object) -> None:
        worker.collector.pause()  # as a job's module load does
        during.append(gc.isenabled())
        raise RuntimeError("the job's turn failed")

    monkeypatch.setattr(worker, "_turn", turn)
    with pytest.raises(RuntimeError):
        worker._step(None)  # type: ignore[arg-type]
    assert during == [False]
    assert gc.isenabled() is collector


def test_a_pinned_load_pauses_the_collector_until_its_turn_ends_even_when_it_fails(
        collector: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pinned modules load between jobs under the same policy as a job's load: one mechanism for both."""
    worker, code, seen = recording_worker(monkeypatch)
    for fails in (False, True):
        turn_ended: list[bool] = []

        def turn(line: object, fails: bool = fails, turn_ended: list[bool] = turn_ended) -> None:
            if fails:  # the broker's reply is not the module asked for: the load raises
                with pytest.raises(errors.StateUnavailable):
                    worker.load_pinned("f" * 64)
            else:
                worker.load_pinned(p.code_id(code))
            turn_ended.append(gc.isenabled())

        monkeypatch.setattr(worker, "_turn", turn)
        worker._step(None)  # type: ignore[arg-type]
        assert turn_ended == [False]  # still paused when the load is over: the turn has not ended
        assert gc.isenabled() is collector  # given back when it ended
    assert seen == [False]  # compiled once, paused
    assert worker.cache.get(p.code_id(code)) is not None


def test_the_validating_process_validates_with_the_collector_paused(collector: bool) -> None:
    seen = []

    def validate(module: bytes) -> str | None:
        seen.append(gc.isenabled())
        return module_error(module)

    only_memory = b"\0asm\1\0\0\0" + bytes.fromhex("0503010000" "070a01066d656d6f72790200")  # exported
    assert validate_collector_paused(validate, only_memory) is None
    assert "magic" in (validate_collector_paused(validate, b"garbage!") or "")
    assert seen == [False, False]
    assert gc.isenabled() is collector
