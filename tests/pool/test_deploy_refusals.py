"""The deploy policy through real brokers, clients, worker processes and the ``wasmpool broker`` command.

A broker under the float policy ``reject`` (and a tight parameter limit)
refuses float modules and modules over a limit with the typed errors, for a
small module checked on the loop and for a big one checked in the broker's
validating process; the shared pool (policy ``canonical``) accepts the same
float module and runs it. A start function is charged on every call. The
command's startup line and ``wasmpool stats`` report the policy in force.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from tests.pool.conftest import TEST_CONFIG, Pool, start_pool, unique
from wasmpool.cli import main
from wasmpool.client import Client
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wire import errors
from wasmpool.wire.deploy_policy import DeployLimits

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS = 4  # the reject pool's function_params limit
START_LOOPS = 1_000


def halving() -> bytes:
    """A contract with one float function: half(x) = x * 0.5 (f64)."""
    builder = ModuleBuilder()
    builder.memory(1, export="memory")
    builder.func(["f64"], ["f64"], [(O.LOCAL_GET, 0), (O.F64_CONST, 0x3FE0000000000000), O.F64_MUL],
                 export="half")
    return builder.build()


def wide(params: int) -> bytes:
    """A contract whose only function takes ``params`` i32 parameters."""
    builder = ModuleBuilder()
    builder.memory(1, export="memory")
    builder.func(["i32"] * params, export="wide")
    return builder.build()


def big_with_a_float(functions: int = 100, ops: int = 1000) -> bytes:
    """The off-loop test's big module (checked in the broker's validating process), then an f32.const."""
    builder = ModuleBuilder()
    builder.memory(1, export="memory")
    for _ in range(functions):
        builder.func(raw_body=bytes([O.I32_CONST, 0, O.DROP]) * ops)
    builder.func(body=[(O.F32_CONST, 0), O.DROP])
    return builder.build()


def counting_start(burn: bool) -> bytes:
    """A global the start function bumps (after START_LOOPS loops if ``burn``); get() reads it."""
    builder = ModuleBuilder()
    builder.memory(1, export="memory")
    counter = builder.global_("i32", True, [(O.I32_CONST, 0)])
    loop = [(O.LOOP, None), (O.LOCAL_GET, 0), (O.I32_CONST, 1), O.I32_ADD, (O.LOCAL_TEE, 0),
            (O.I32_CONST, START_LOOPS), O.I32_LT_U, (O.BR_IF, 0), O.END] if burn else []
    builder.start = builder.func(locals=["i32"], body=[*loop, (O.GLOBAL_GET, counter), (O.I32_CONST, 1),
                                                       O.I32_ADD, (O.GLOBAL_SET, counter)])
    builder.func([], ["i32"], [(O.GLOBAL_GET, counter)], export="get")
    return builder.build()


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pool]:
    """A broker (no workers: deploys need none) refusing floats and functions of over PARAMS parameters."""
    config = replace(TEST_CONFIG, floats="reject", deploy_limits=DeployLimits(function_params=PARAMS))
    pool = start_pool(tmp_path_factory.mktemp("strict") / "state.db", workers=0, config=config)
    try:
        yield pool
    finally:
        pool.stop()


def test_a_float_module_is_refused_with_the_function_and_instruction(strict: Pool) -> None:
    module = halving()
    with strict.client() as client, pytest.raises(errors.FloatsRejected) as caught:
        client.deploy(module)
    refused = caught.value
    assert isinstance(refused, errors.InvalidModule) and refused.limit == "floats"
    assert (refused.function, refused.instruction) == ("function 0", "param f64")
    assert refused.reason.startswith("invalid module: function 0: param f64")


def test_a_module_over_a_deploy_limit_is_refused_naming_limit_figure_and_function(strict: Pool) -> None:
    with strict.client() as client:
        assert client.deploy(wide(PARAMS))  # at the limit
        with pytest.raises(errors.ModuleLimitExceeded) as caught:
            client.deploy(wide(PARAMS + 1))
    refused = caught.value
    assert (refused.limit, refused.value, refused.maximum, refused.where) == (
        "function_params", PARAMS + 1, PARAMS, "function 0")


def test_a_big_module_is_refused_the_same_way_by_the_validating_process(strict: Pool) -> None:
    module = big_with_a_float()
    assert len(module) >= TEST_CONFIG.validate_inline
    with strict.client(timeout=120.0) as client:
        before = client.stats()["counters"].get("deploys_validated_off_loop", 0)
        with pytest.raises(errors.FloatsRejected) as caught:
            client.deploy(module)
        assert client.stats()["counters"]["deploys_validated_off_loop"] == before + 1
    assert (caught.value.function, caught.value.instruction) == ("function 100", "f32.const")
    assert module[caught.value.offset] == O.F32_CONST


def test_the_policy_in_force_is_in_the_stats(strict: Pool, capsys: pytest.CaptureFixture[str]) -> None:
    with strict.client() as client:
        stats = client.stats()
    assert stats["floats"] == "reject" and stats["deploy_limits"]["function_params"] == PARAMS
    assert main(["stats", "--connect", strict.frontend]) == 0
    assert re.search(r"^float policy +reject$", capsys.readouterr().out, re.MULTILINE)


def test_the_same_float_module_is_accepted_and_run_under_canonical(client: Client) -> None:
    code_id = client.deploy(unique(halving()))
    assert client.call(code_id, "half", [3.0]).results == [1.5]
    assert client.stats()["floats"] == "canonical"


def test_a_start_function_runs_metered_on_every_call_and_is_charged_to_it(client: Client) -> None:
    burning, idle = client.deploy(unique(counting_start(True))), client.deploy(unique(counting_start(False)))
    calls = [client.call(code_id, "get") for code_id in (burning, idle, burning, idle)]
    assert [c.results for c in calls] == [[1]] * 4  # a fresh instance each call: its start ran once
    assert calls[0].gas_used == calls[2].gas_used and calls[1].gas_used == calls[3].gas_used
    assert calls[0].gas_used - calls[1].gas_used >= 5 * START_LOOPS  # the loop's instructions at least
    starved = client.call(burning, "get", gas_limit=calls[1].gas_used + START_LOOPS)
    assert starved.status == "out_of_gas"  # the start function's gas counts against the call's limit


def test_the_broker_command_prints_and_enforces_its_policy(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "wasmpool", "broker", "--frontend", "tcp://127.0.0.1:*",
               "--backend", "tcp://127.0.0.1:*", "--state", f"sqlite:{tmp_path / 'state.db'}",
               "--floats", "reject", "--deploy-nesting-depth", "5"]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().rstrip() for _ in range(2)]
        found = re.search(r"clients (\S+),", lines[0])
        assert found is not None, lines
        assert lines[1] == "broker: float policy reject, deploy limits nesting_depth=5"
        with Client(found.group(1), timeout=30.0) as client:
            assert client.stats()["deploy_limits"]["nesting_depth"] == 5
            with pytest.raises(errors.FloatsRejected):
                client.deploy(halving())
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_an_unknown_float_policy_is_refused_by_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["broker", "--floats", "sloppy"])
    assert "invalid choice: 'sloppy'" in capsys.readouterr().err


def test_modules_deployed_before_a_switch_to_reject_stay_callable(tmp_path: Path) -> None:
    """The policy judges deploys only: a float module stored under canonical still runs under reject."""
    db = tmp_path / "state.db"
    before = start_pool(db, workers=0)
    try:
        with before.client() as client:
            code_id = client.deploy(halving())
    finally:
        before.stop()
    after = start_pool(db, workers=1, config=replace(TEST_CONFIG, floats="reject"))
    try:
        after.wait_for_workers(1)
        with after.client() as client:
            assert client.call(code_id, "half", [5.0]).results == [2.5]
            assert client.deploy(halving()) == code_id  # stored already: not judged again
            with pytest.raises(errors.FloatsRejected):
                client.deploy(unique(halving()))
    finally:
        after.stop()
