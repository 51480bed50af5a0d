"""A broker and its workers as separate OS processes, started with an environment of the test's choosing.

The determinism tests need what the in-process pool of ``conftest`` cannot
give: a broker whose interpreter was started with another ``PYTHONHASHSEED``
(the seed is read once, when an interpreter starts), and worker processes
that outlive one broker and serve the next with their module caches warm.
So both run as the ``wasmpool`` commands a node operator runs:
``wasmpool broker`` (no workers of its own) and ``wasmpool worker
--processes N`` (its supervisor replaces a killed worker process). Each
gets its own process group, which :meth:`Command.stop` ends whole.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO_ROOT
from wasmpool.client import Client

HEARTBEAT = "0.25"  # seconds: a broker's loss is noticed by its workers within a second
STARTUP = 60.0  # seconds a process gets to start serving (busy machines start interpreters slowly)
STOP = 20.0  # seconds a process gets to stop after SIGTERM before it is killed
BIND_TRIES = 50  # a new broker on the backend port of one that just stopped: retry while the port is busy
ENDPOINTS = re.compile(r"broker: clients (\S+), workers (\S+),")


@dataclass
class Command:
    """One ``wasmpool`` command running in its own process group, its output going to ``log``."""

    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, argv: Sequence[str], log: Path, environment: dict[str, str]) -> Command:
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "wasmpool", *argv], cwd=REPO_ROOT, stdout=out,
                                       stderr=subprocess.STDOUT, env={**os.environ, **environment},
                                       start_new_session=True)
        return cls(process, log)

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """The first match of ``pattern`` in the output, waiting for it while the process runs."""
        deadline = time.monotonic() + STARTUP
        while time.monotonic() < deadline:
            found = pattern.search(self.output())
            if found is not None:
                return found
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode}:\n{self.output()}")
            time.sleep(0.05)
        raise TimeoutError(f"no {pattern.pattern!r} in:\n{self.output()}")

    def stop(self) -> None:
        """SIGTERM the process group (the command stops its children), SIGKILL it if that takes too long."""
        if self.process.poll() is None:
            os.killpg(self.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)  # whatever of the group is left
        except ProcessLookupError:
            pass
        self.process.wait()


@dataclass
class BrokerCommand:
    """``wasmpool broker`` over ``state``, with the endpoints it printed once bound."""

    command: Command
    frontend: str
    backend: str

    def client(self, timeout: float = 60.0) -> Client:
        return Client(self.frontend, timeout=timeout)

    def stop(self) -> None:
        self.command.stop()


def start_broker(state: str, log: Path, environment: dict[str, str],
                 backend: str = "tcp://127.0.0.1:*", options: Sequence[str] = ()) -> BrokerCommand:
    """A broker on a random loopback frontend; on ``backend`` (retried while a stopped one still holds it)."""
    argv = ["broker", "--frontend", "tcp://127.0.0.1:*", "--backend", backend, "--state", state,
            "--heartbeat-interval", HEARTBEAT, "--drain-timeout", "1", *options]
    for _ in range(BIND_TRIES):
        command = Command.start(argv, log, environment)
        try:
            found = command.wait_for_output(ENDPOINTS)
        except RuntimeError:
            if "Address already in use" not in command.output():
                raise
            command.stop()
            time.sleep(0.1)
            continue
        return BrokerCommand(command, found.group(1), found.group(2))
    raise RuntimeError(f"{backend} stayed in use")


def start_workers(backend: str, processes: int, log: Path, environment: dict[str, str],
                  options: Sequence[str] = ()) -> Command:
    """``wasmpool worker --processes N`` connected to ``backend`` (supervised: a killed one is replaced)."""
    argv = ["worker", "--connect", backend, "--processes", str(processes), "--heartbeat-interval", HEARTBEAT,
            "--reconnect-min", "0.1", "--reconnect-max", "0.5", "--drain-timeout", "1", *options]
    command = Command.start(argv, log, environment)
    command.wait_for_output(re.compile("worker process\\(es\\) serving"))
    return command


def worker_pids(client: Client, done: Callable[[list[int]], bool]) -> list[int]:
    """The pids of the workers the broker knows, once ``done`` holds for them and all are idle."""
    deadline = time.monotonic() + STARTUP
    pids: list[int] = []
    while time.monotonic() < deadline:
        stats = client.stats()
        pids = sorted(worker["pid"] for worker in stats["worker_list"])
        if done(pids) and stats["idle"] == len(pids):
            return pids
        time.sleep(0.05)
    raise TimeoutError(f"the broker's workers never came to the state waited for (now {pids})")


def environment_of(pid: int) -> dict[str, str]:
    """A running process's environment, as the kernel shows it (Linux)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (entry.partition(b"=") for entry in raw.split(b"\0") if entry)
    return {name.decode(errors="replace"): value.decode(errors="replace") for name, _, value in pairs}
