"""The broker's side of versions without sockets: which workers it admits, what it stamps and charges."""

from __future__ import annotations

from typing import Any

from tests.pool.test_core import PROBE, Harness, command, job_of, only_client_reply
from wasmpool.cli.client import format_stats
from wasmpool.wire import prices
from wasmpool.wire import protocol as p
from wasmpool.wire.protocol import Command, ErrorCode

V1: dict[str, Any] = {"engine": 1, "gas": 2, "abi": 1}
V2: dict[str, Any] = {"engine": 1, "gas": 3, "abi": 1}


def ready(h: Harness, identity: bytes, versions: dict[str, Any] | None) -> None:
    h.worker(identity, Command.READY, body={} if versions is None else {"versions": versions})


def test_without_an_expectation_the_first_workers_versions_are_the_pools() -> None:
    h = Harness()
    ready(h, b"w1", V1)
    ready(h, b"w2", V2)
    ready(h, b"w2", V2)  # registering again: not counted again
    ready(h, b"w3", V1)
    assert sorted(h.core.workers) == [b"w1", b"w3"]
    assert h.core.counters["workers_refused_versions"] == 1
    assert h.core.stats()["worker_versions"] == V1


def test_a_configured_expectation_refuses_even_the_first_worker() -> None:
    h = Harness()
    h.core.versions.expect(V2)
    ready(h, b"w1", V1)
    ready(h, b"w2", None)  # a worker that announces nothing runs by unknown rules
    ready(h, b"w3", V2)
    assert list(h.core.workers) == [b"w3"]
    assert h.core.counters["workers_refused_versions"] == 2


def test_a_registered_worker_that_comes_back_with_other_versions_is_forgotten() -> None:
    h = Harness()
    ready(h, b"w1", V1)
    ready(h, b"w1", V2)  # restarted from another release
    assert h.core.workers == {}


def test_results_get_the_brokers_float_policy_beside_the_workers_versions() -> None:
    h = Harness(floats="canonical")
    ready(h, b"w1", V1)
    h.deploy()
    job = job_of(h.call(), b"w1")
    outs = h.final(b"w1", job, results=[5], versions=dict(V1))
    _, body = only_client_reply(outs)
    assert body["versions"] == {**V1, "floats": "canonical"}


def test_a_deploy_is_priced_by_size_and_refused_over_its_limit() -> None:
    h = Harness()
    price = prices.deploy_gas(len(PROBE))
    (out,) = h.client({"op": "deploy", "code": PROBE, "gas_limit": price - 1})
    assert command(out) is Command.ERROR and p.unpack(out.frames[3])["code"] == ErrorCode.OUT_OF_GAS
    assert not h.core.has_code(p.code_id(PROBE))
    (out,) = h.client({"op": "deploy", "code": PROBE, "gas_limit": price})
    assert p.unpack(out.frames[3]) == {"code_id": p.code_id(PROBE), "gas_used": price}


def test_wasmpool_stats_shows_the_pools_versions_and_refusals() -> None:
    h = Harness()
    ready(h, b"w1", V1)
    ready(h, b"w2", V2)
    text = format_stats(h.core.stats())
    assert "worker versions" in text and "engine=1 gas=2 abi=1" in text
    assert [line.split()[-1] for line in text.splitlines() if line.startswith("workers refused")] == ["1"]
