"""``wasmpool worker``: start worker processes connected to a broker's backend."""

from __future__ import annotations

import argparse
import os
import signal
from types import FrameType

from wasmpool.broker.security import SecurityError
from wasmpool.cli import liveness_options, operator
from wasmpool.worker.cache import DEFAULT_BYTES, DEFAULT_ENTRIES
from wasmpool.worker.config import DEFAULT_BACKEND, WorkerConfig
from wasmpool.worker.supervisor import Supervisor

MIB = 1024 * 1024


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--connect", default=DEFAULT_BACKEND, metavar="ENDPOINT",
                        help=f"the broker's backend (default {DEFAULT_BACKEND})")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="worker processes, each running one job at a time (default: one per core)")
    parser.add_argument("--cache-entries", type=int, default=DEFAULT_ENTRIES, metavar="N",
                        help=f"compiled modules cached per process (default {DEFAULT_ENTRIES})")
    parser.add_argument("--cache-mb", type=int, default=DEFAULT_BYTES // MIB, metavar="MB",
                        help=f"module bytes cached per process (default {DEFAULT_BYTES // MIB})")
    operator.add_curve_options(parser, operator.Role.CLIENT)
    liveness_options.add_worker_options(parser)


def config_from(args: argparse.Namespace, endpoint: str) -> WorkerConfig:
    """A worker configuration from the command line's cache and CURVE options (SecurityError: bad keys)."""
    curve = operator.curve_client(args) if hasattr(args, "curve_secret") else None
    return WorkerConfig(endpoint=endpoint, cache_entries=args.cache_entries, cache_bytes=args.cache_mb * MIB,
                        setup_socket=curve, **liveness_options.worker_fields(args))


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    if args.processes < 1:
        print("error: --processes must be at least 1")
        return 2
    try:
        config = config_from(args, args.connect)
    except SecurityError as exc:
        print(f"error: {exc}")
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    supervisor = Supervisor(config, args.processes, log=lambda text: print(text, flush=True)).start()
    print(f"{args.processes} worker process(es) serving {args.connect}; Ctrl-C stops them", flush=True)
    try:
        supervisor.run()  # restarts dead and recycled processes (worker.supervisor)
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.stop(getattr(args, "drain_timeout", liveness_options.DEFAULT_DRAIN))
    return 0


