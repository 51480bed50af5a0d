"""The pool's CLI: deploy/call/query/state/stats/block against the shared pool, and `make run`'s command."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.pool.conftest import EXAMPLES, FIXTURES, Pool, start_pool, unique
from wasmpool.cli import main
from wasmpool.cli.broker import connectable
from wasmpool.cli.client import format_stats, number, show
from wasmpool.client import Client

SHUTDOWN = 20.0


def wasmpool(pool: Pool, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main([*argv, "--connect", pool.frontend])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def probe_file(tmp_path: Path) -> Path:
    path = tmp_path / "probe.wasm"
    path.write_bytes(unique((FIXTURES / "probe.wasm").read_bytes()))
    return path


@pytest.fixture
def deployed(pool: Pool, capsys: pytest.CaptureFixture[str], probe_file: Path) -> str:
    status, out, _ = wasmpool(pool, capsys, "deploy", str(probe_file))
    assert status == 0
    return out.strip()


def test_deploy_prints_the_code_id(deployed: str) -> None:
    assert len(deployed) == 64 and int(deployed, 16) >= 0


def test_call_with_numbers(pool: Pool, capsys: pytest.CaptureFixture[str], deployed: str) -> None:
    status, out, _ = wasmpool(pool, capsys, "call", deployed, "add", "40", "0x2")
    assert status == 0 and "status:   ok" in out and "results:  42" in out


def test_call_with_text_input_and_caller_then_state_get(pool: Pool, capsys: pytest.CaptureFixture[str],
                                                        deployed: str) -> None:
    status, out, _ = wasmpool(pool, capsys, "call", deployed, "put", "--text", "hello", "--caller", "alice")
    assert status == 0 and "write:    'k' = 'hello'" in out
    status, out, _ = wasmpool(pool, capsys, "state", "get", deployed, "k")
    assert status == 0 and out.startswith("'k' = 'hello'  (version ")
    status, out, _ = wasmpool(pool, capsys, "call", deployed, "whoami", "--caller", "0x00ff")
    assert "output:   0x00ff" in out


def test_call_with_hex_and_file_input(pool: Pool, capsys: pytest.CaptureFixture[str], deployed: str,
                                      tmp_path: Path) -> None:
    assert "output:   'AB'" in wasmpool(pool, capsys, "call", deployed, "echo", "--input", "4142")[1]
    (tmp_path / "in.bin").write_bytes(b"\x01\x02")
    assert "output:   0x0102" in wasmpool(pool, capsys, "call", deployed, "echo", "--input",
                                          f"@{tmp_path / 'in.bin'}")[1]


def test_a_failed_call_exits_1_and_shows_the_error(pool: Pool, capsys: pytest.CaptureFixture[str],
                                                   deployed: str) -> None:
    status, out, _ = wasmpool(pool, capsys, "call", deployed, "write_then_revert")
    assert status == 1 and "status:   reverted" in out and "error:    nope" in out


def test_query_refuses_writes(pool: Pool, capsys: pytest.CaptureFixture[str], deployed: str) -> None:
    status, out, _ = wasmpool(pool, capsys, "query", deployed, "put", "--text", "x")
    assert status == 1 and "read-only" in out


def test_refused_requests_exit_2_with_the_reason(pool: Pool, capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    status, _, err = wasmpool(pool, capsys, "call", "0" * 64, "add")
    assert status == 2 and "UnknownCode" in err
    (tmp_path / "bad.wasm").write_bytes(b"garbage")
    status, _, err = wasmpool(pool, capsys, "deploy", str(tmp_path / "bad.wasm"))
    assert status == 2 and "InvalidModule: invalid module" in err


def test_stats_table_and_json(pool: Pool, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = wasmpool(pool, capsys, "stats")
    assert status == 0 and "workers" in out and "cache hit rate" in out and "queue length" in out
    status, out, _ = wasmpool(pool, capsys, "stats", "--json")
    assert json.loads(out)["workers"] == 2


def test_block_runs_calls_in_order(pool: Pool, capsys: pytest.CaptureFixture[str], deployed: str,
                                   tmp_path: Path) -> None:
    block = [{"code_id": deployed, "function": "put", "text": "first"},
             {"code_id": deployed, "function": "get"},
             {"code_id": deployed, "function": "add", "args": [1, 2]}]
    (tmp_path / "block.json").write_text(json.dumps(block))
    status, out, _ = wasmpool(pool, capsys, "block", str(tmp_path / "block.json"))
    assert status == 0
    lines = out.splitlines()
    assert lines[:3] == ["[0] ok", "[1] ok 5 'first'", "[2] ok 3"]
    assert lines[3].startswith("gas used: ") and re.fullmatch(r"state root: [0-9a-f]{64}", lines[4])


@pytest.mark.parametrize(("text", "value"), [("7", 7), ("-3", -3), ("0x10", 16), ("2.5", 2.5)])
def test_numbers_on_the_command_line(text: str, value: float) -> None:
    assert number(text) == value


def test_helpers_for_people() -> None:
    assert show(b"abc") == "'abc'" and show(b"\x00\xff") == "0x00ff"
    assert connectable("tcp://0.0.0.0:5556") == "tcp://127.0.0.1:5556"
    assert connectable("tcp://127.0.0.1:7") == "tcp://127.0.0.1:7"
    assert "50.0%" in format_stats({"cache_hit_rate": 0.5})


@pytest.mark.slow
def test_the_make_run_command_demonstrates_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    """`wasmpool broker --with-workers 1 --demo examples/rust`, then Ctrl-C to the process group."""
    command = [sys.executable, "-m", "wasmpool", "broker", "--frontend", "tcp://127.0.0.1:*",
               "--backend", "tcp://127.0.0.1:*", "--state", f"sqlite:{tmp_path / 'state.db'}",
               "--with-workers", "1", "--demo", str(EXAMPLES / "rust")]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        lines = _read_until(proc, "Ctrl-C stops")
        text = "\n".join(lines)
        assert "allowance exceeded" in text and "returned 83" in text
        assert "swap reserves:" in text and "10 ok" in text
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(SHUTDOWN) == 0
        _assert_group_gone(proc.pid)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def _read_until(proc: subprocess.Popen[str], marker: str) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if marker in line:
            return lines
    raise AssertionError("the demo ended early:\n" + "\n".join(lines))


def _assert_group_gone(pgid: int) -> None:
    """Every process of the group (the broker's workers too) has exited."""
    deadline = time.monotonic() + SHUTDOWN
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError("worker processes outlived the broker")


@pytest.mark.slow
def test_the_embedding_example_runs() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / "embed_broker.py")], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "5 concurrent increments returned [1, 2, 3, 4, 5]" in done.stdout
    assert "count = 5 (version 5)" in done.stdout


@pytest.mark.slow
def test_the_worker_command_serves_and_leaves_cleanly(tmp_path: Path, probe_wasm: bytes) -> None:
    pool = start_pool(tmp_path / "state.db", workers=0)
    command = [sys.executable, "-m", "wasmpool", "worker", "--connect", pool.backend, "--processes", "1"]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout is not None and "1 worker process(es) serving" in proc.stdout.readline()
        pool.wait_for_workers(1)
        with pool.client() as client:
            assert client.call(client.deploy(unique(probe_wasm)), "add", [20, 22]).results == [42]
            os.killpg(proc.pid, signal.SIGINT)
            assert proc.wait(SHUTDOWN) == 0
            _assert_group_gone(proc.pid)
            deadline = time.monotonic() + SHUTDOWN
            while client.stats()["workers"] and time.monotonic() < deadline:  # its DISCONNECT arrived
                time.sleep(0.05)
            assert client.stats()["workers"] == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
        pool.stop()


def test_a_broker_whose_stdout_reader_is_gone_still_stops_on_sigterm(tmp_path: Path) -> None:
    """The drain notice cannot be printed (a broken pipe): the first SIGTERM must still stop the broker."""
    command = [sys.executable, "-m", "wasmpool", "broker", "--frontend", "tcp://127.0.0.1:*",
               "--backend", "tcp://127.0.0.1:*", "--state", f"sqlite:{tmp_path / 'state.db'}"]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"clients (\S+),", line)
        assert match is not None, line
        with Client(match.group(1), timeout=SHUTDOWN) as client:
            assert client.stats()["workers"] == 0  # serving: its signal handlers are in place
        proc.stdout.close()  # nobody reads the broker's output any more
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(SHUTDOWN) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
def test_the_brokers_own_workers_are_supervised_a_killed_one_is_replaced(tmp_path: Path,
                                                                        probe_wasm: bytes) -> None:
    """`wasmpool broker --with-workers 1`: SIGKILL its worker, and a new worker process serves calls."""
    command = [sys.executable, "-m", "wasmpool", "broker", "--frontend", "tcp://127.0.0.1:*",
               "--backend", "tcp://127.0.0.1:*", "--state", f"sqlite:{tmp_path / 'state.db'}",
               "--with-workers", "1", "--heartbeat-interval", "0.25"]
    proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        first = _read_until(proc, "broker: clients ")[-1]
        frontend = re.search(r"clients (\S+),", first)
        assert frontend is not None
        with Client(frontend.group(1), timeout=30.0) as client:
            [killed] = _worker_pids(client, lambda pids: len(pids) == 1)
            os.kill(killed, signal.SIGKILL)
            [replacement] = _worker_pids(client, lambda pids: len(pids) == 1 and killed not in pids)
            assert client.call(client.deploy(unique(probe_wasm)), "add", [40, 2]).results == [42]
            assert [w["pid"] for w in client.stats()["worker_list"]] == [replacement]
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(SHUTDOWN) == 0
        _assert_group_gone(proc.pid)
        assert proc.stdout is not None
        assert f"(pid {killed}) exited with -9; starting a new one" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def _worker_pids(client: Client, done: Callable[[list[int]], bool]) -> list[int]:
    """The registered workers' process ids, once ``done`` holds for them."""
    deadline = time.monotonic() + SHUTDOWN * 3
    while time.monotonic() < deadline:
        pids = [worker["pid"] for worker in client.stats()["worker_list"]]
        if done(pids):
            return pids
        time.sleep(0.1)
    raise AssertionError(f"the workers never came to a state the test waits for (now {pids})")
