"""Versions in results, paid compilation and a pool of one version, through real brokers and workers.

- every call result and block receipt carries the versions that decided it
  (the worker's engine, gas schedule and host ABI; the broker's float
  policy), and a receipt's versions are part of the block's digest;
- a deploy is charged per byte (``wasmpool.wire.prices``), within a gas
  limit, and stores nothing when the limit is too low;
- a call pays its module's load price whether the worker compiled the
  module for it or had it cached: the same gas cold and warm;
- a worker announcing other versions is never given a job;
- the pool runs every contract with canonical NaNs: ``f64.mul(0, inf)``
  is ``0x7FF8000000000000`` whatever the CPU (x86-64 makes ``0xFFF8...``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.pool import odd_worker
from tests.pool.conftest import Pool, start_pool, unique
from wasmpool import wasm
from wasmpool.cli import main
from wasmpool.client import Client
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode
from wasmpool.wire import errors, prices
from wasmpool.wire import protocol as p
from wasmpool.wire.receipts import BlockCall, BlockResult
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.host import Host
from wasmpool.worker.modules import load
from wasmpool.worker.supervisor import spawn, start_workers, stop_workers
from wasmpool.worker.versions import WORKER_VERSIONS

POOL_VERSIONS = {**WORKER_VERSIONS.as_dict(), "floats": "canonical"}
SETTLE = 30.0


def test_a_call_result_carries_the_versions_that_decided_it(client: Client, probe: str) -> None:
    result = client.call(probe, "add", [2, 3])
    assert result.ok and result.results == [5]
    assert result.versions == POOL_VERSIONS
    failed = client.call(probe, "divide", [1, 0])
    assert failed.status == "trap" and failed.versions == POOL_VERSIONS


def test_block_receipts_carry_versions_inside_the_block_digest(client: Client, probe: str) -> None:
    result = client.execute_block([BlockCall(probe, "add", (1, 2)), BlockCall(probe, "divide", (1, 0))],
                                  dry_run=True)
    assert [dict(receipt.versions) for receipt in result.receipts] == [POOL_VERSIONS] * 2
    other = {**POOL_VERSIONS, "gas": POOL_VERSIONS["gas"] + 1}  # a node that ran another gas schedule
    elsewhere = BlockResult(tuple(replace(receipt, versions=other) for receipt in result.receipts),
                            result.writes, result.state_root, result.dry_run)
    assert elsewhere.digest() != result.digest()
    assert BlockResult.decode(result.encode()).digest() == result.digest()


def test_a_deploy_is_charged_by_its_size(client: Client, probe_wasm: bytes) -> None:
    module = unique(probe_wasm)
    deployed = client.deploy(module)
    assert deployed == p.code_id(module)
    assert deployed.gas_used == prices.deploy_gas(len(module)) > prices.DEPLOY_BYTE_GAS * len(module)
    again = client.deploy(module, gas_limit=prices.deploy_gas(len(module)))  # stored already: same price
    assert again.gas_used == deployed.gas_used


def test_a_deploy_over_its_gas_limit_stores_nothing(client: Client, probe_wasm: bytes) -> None:
    module = unique(probe_wasm)
    with pytest.raises(errors.DeployOutOfGas, match=f"costs {prices.deploy_gas(len(module))} gas"):
        client.deploy(module, gas_limit=prices.deploy_gas(len(module)) - 1)
    with pytest.raises(errors.UnknownCode):
        client.call(p.code_id(module), "add", [1, 2])
    assert client.deploy(module, gas_limit=prices.deploy_gas(len(module))).gas_used > 0
    assert client.call(p.code_id(module), "add", [1, 2]).results == [3]


def test_the_deploy_command_takes_a_gas_limit_and_reports_the_gas_used(
        pool: Pool, probe_wasm: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "probe.wasm"
    path.write_bytes(unique(probe_wasm))
    price = prices.deploy_gas(path.stat().st_size)
    assert main(["deploy", str(path), "--gas", str(price - 1), "--connect", pool.frontend]) != 0
    assert "DeployOutOfGas" in capsys.readouterr().err
    assert main(["deploy", str(path), "--gas", str(price), "--connect", pool.frontend]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == p.code_id(path.read_bytes()) and f"gas used: {price}" in err


def test_the_default_deploy_limit_admits_the_largest_module_the_default_size_limit_does() -> None:
    assert prices.deploy_gas(prices.DEFAULT_DEPLOY_MODULE) == prices.DEFAULT_DEPLOY_GAS_LIMIT


@pytest.fixture
def one_worker(tmp_path: Path) -> Iterator[Pool]:
    pool = start_pool(tmp_path / "state.db", workers=1)
    try:
        pool.wait_for_workers(1)
        yield pool
    finally:
        pool.stop()


def engine_gas(module: bytes, function: str, args: list[int]) -> int:
    """What the engine alone charges for a call: instantiation and the function, without the load price."""
    compiled = load(module).runnable()
    instance = wasm.instantiate(compiled, imports=Host().imports(), gas_limit=10**9, canonical_nans=True)
    instance.exports[function](*args)
    return int(instance.gas_used)


def test_a_call_pays_the_same_load_price_cold_and_warm(one_worker: Pool, probe_wasm: bytes) -> None:
    module = unique(probe_wasm)
    with one_worker.client() as client:
        code_id = client.deploy(module)
        before = client.stats()
        cold = client.call(code_id, "add", [2, 3])  # the worker fetches, decodes and compiles the module
        between = client.stats()
        warm = client.call(code_id, "add", [2, 3])  # from its cache
        after = client.stats()
    assert (between["cache_misses"] - before["cache_misses"], after["cache_hits"] - between["cache_hits"]) \
        == (1, 1)
    assert cold.ok and warm.ok
    assert cold.gas_used == warm.gas_used == engine_gas(module, "add", [2, 3]) + prices.load_gas(len(module))
    assert prices.load_gas(len(module)) > 0


def test_a_call_under_the_load_price_runs_out_of_gas(client: Client, probe_wasm: bytes) -> None:
    module = unique(probe_wasm)
    code_id, load = client.deploy(module), prices.load_gas(len(module))
    result = client.call(code_id, "add", [2, 3], gas_limit=load - 1)
    assert result.status == "out_of_gas" and result.gas_used == load - 1
    assert client.call(code_id, "add", [2, 3], gas_limit=load + 10_000).ok


def wait_for(condition: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + SETTLE
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(condition)
        time.sleep(0.05)


def test_a_worker_with_other_versions_is_never_given_a_job(tmp_path: Path, probe_wasm: bytes) -> None:
    pool = start_pool(tmp_path / "state.db", workers=0)
    config = WorkerConfig(endpoint=pool.backend, heartbeat=0.2)
    odd = [spawn(config, 0, target=odd_worker.main)]
    good = []
    try:
        with pool.client() as client:
            def refused() -> bool:
                return client.stats()["counters"].get("workers_refused_versions", 0) >= 1
            wait_for("the odd worker was not refused", refused)
            assert client.stats()["workers"] == 0
            good = start_workers(config, 1)
            pool.wait_for_workers(1)
            code_id = client.deploy(unique(probe_wasm))
            results = [client.call(code_id, "add", [n, 1]) for n in range(4)]
            time.sleep(1.0)  # the odd worker keeps registering again meanwhile
            stats = client.stats()
        assert [r.results for r in results] == [[n + 1] for n in range(4)]
        assert all(r.versions == POOL_VERSIONS for r in results)  # none ran on the odd worker
        assert stats["workers"] == 1
        assert stats["counters"]["workers_refused_versions"] == 1  # counted (and logged) once
        assert odd[0].is_alive()
    finally:
        stop_workers(odd + good)
        pool.stop()


CANONICAL_F64_NAN = 0x7FF8000000000000


def nan_maker() -> bytes:
    """A contract whose ``mul`` returns the bits of ``f64.mul`` of its arguments (as an i64)."""
    builder = ModuleBuilder()
    builder.memory(1, export="memory")
    builder.func(["f64", "f64"], ["i64"], [(Opcode.LOCAL_GET, 0), (Opcode.LOCAL_GET, 1), Opcode.F64_MUL,
                                           Opcode.I64_REINTERPRET_F64], export="mul")
    return builder.build()


def test_the_pool_makes_canonical_nans(client: Client) -> None:
    code_id = client.deploy(unique(nan_maker()))
    assert client.call(code_id, "mul", [0.0, float("inf")]).results == [CANONICAL_F64_NAN]
    assert client.call(code_id, "mul", [float("-inf"), 0.0]).results == [CANONICAL_F64_NAN]
    assert client.call(code_id, "mul", [1.5, 2.0]).results == [0x4008000000000000]  # 3.0
    block = client.execute_block([BlockCall(code_id, "mul", (0.0, float("inf")))], dry_run=True)
    assert block.receipts[0].results == (CANONICAL_F64_NAN,)
