"""A worker process that announces and stamps other versions than this checkout's (tests only).

It stands for a worker built from another release: same code, but it says
(in READY and on its results) that it runs by another gas schedule. Started
with ``supervisor.spawn(config, index, target=main)``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import zmq

from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.process import Worker, serve
from wasmpool.worker.versions import WORKER_VERSIONS

ODD_VERSIONS: dict[str, int | str] = {**WORKER_VERSIONS.as_dict(), "gas": WORKER_VERSIONS.gas + 1000}


class OddWorker(Worker):
    """A worker whose versions say it prices gas by another schedule."""

    def __init__(self, config: WorkerConfig, context: zmq.Context[Any] | None = None) -> None:
        super().__init__(config, context)
        self.session.versions = dict(ODD_VERSIONS)
        self.runtime = replace(self.runtime, versions=dict(ODD_VERSIONS))


def main(config: WorkerConfig) -> None:
    """The process entry point, as ``wasmpool.worker.process.main`` with an :class:`OddWorker`."""
    serve(config, OddWorker)
