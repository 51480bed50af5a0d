"""``wasmpool worker``: start worker processes connected to a broker's backend."""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path
from types import FrameType

from wasmpool.broker.security import SecurityError
from wasmpool.cli import liveness_options, operator
from wasmpool.worker.cache import DEFAULT_BYTES, DEFAULT_ENTRIES
from wasmpool.worker.config import (
    DEFAULT_BACKEND,
    DEFAULT_PRELOAD,
    DEFAULT_WARM_UP,
    MAX_PRELOAD,
    MAX_WARM_UP,
    WorkerConfig,
)
from wasmpool.worker.diskcache import DEFAULT_DISK_BYTES, CacheDirRefused, check_directory
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
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="keep compiled modules on disk in DIR, shared by all worker processes of "
                             "the host (created 0700; refused if others may write to it: it holds "
                             "executable code)")
    parser.add_argument("--cache-dir-mb", type=int, default=DEFAULT_DISK_BYTES // MIB, metavar="MB",
                        help=f"bound of the disk cache, least recently used entries deleted first "
                             f"(default {DEFAULT_DISK_BYTES // MIB})")
    parser.add_argument("--cache-dir-insecure", action="store_true",
                        help="accept a cache directory owned by another user or writable by group or others")
    parser.add_argument("--warm-up", type=int, default=DEFAULT_WARM_UP, metavar="ROUNDS",
                        help=f"run a built-in contract this many times through the job path before "
                             f"serving, so that the first real call does not run cold (default "
                             f"{DEFAULT_WARM_UP}; 0: start cold)")
    parser.add_argument("--preload", type=int, default=DEFAULT_PRELOAD, metavar="N",
                        help=f"with --cache-dir: load the host's N most recently used modules from disk "
                             f"before serving (default {DEFAULT_PRELOAD}; 0: load each at its first call)")
    operator.add_curve_options(parser, operator.Role.CLIENT)
    liveness_options.add_worker_options(parser)


def config_from(args: argparse.Namespace, endpoint: str) -> WorkerConfig:
    """A worker configuration from the command line's cache and CURVE options.

    SecurityError: bad keys; CacheDirRefused: a cache directory that is
    unusable or unsafe (checked here, once, before any process starts).
    """
    curve = operator.curve_client(args) if hasattr(args, "curve_secret") else None
    cache_dir = getattr(args, "cache_dir", None)
    loose = getattr(args, "cache_dir_insecure", False)
    if cache_dir is not None:
        if args.cache_dir_mb < 1:
            raise CacheDirRefused("--cache-dir-mb must be at least 1")
        cache_dir = str(check_directory(Path(cache_dir).resolve(), allow_loose=loose))
    disk_bytes = getattr(args, "cache_dir_mb", DEFAULT_DISK_BYTES // MIB) * MIB
    return WorkerConfig(endpoint=endpoint, cache_entries=args.cache_entries, cache_bytes=args.cache_mb * MIB,
                        cache_dir=cache_dir, cache_dir_bytes=disk_bytes, cache_dir_loose=loose,
                        warm_up=getattr(args, "warm_up", DEFAULT_WARM_UP),
                        preload=getattr(args, "preload", DEFAULT_PRELOAD),
                        setup_socket=curve, **liveness_options.worker_fields(args))


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    if args.processes < 1:
        print("error: --processes must be at least 1")
        return 2
    if not 0 <= getattr(args, "warm_up", 0) <= MAX_WARM_UP:
        print(f"error: --warm-up must be between 0 and {MAX_WARM_UP}")
        return 2
    if not 0 <= getattr(args, "preload", 0) <= MAX_PRELOAD:
        print(f"error: --preload must be between 0 and {MAX_PRELOAD}")
        return 2
    try:
        config = config_from(args, args.connect)
    except (SecurityError, CacheDirRefused) as exc:
        print(f"error: {exc}")
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    supervisor = Supervisor(config, args.processes, log=lambda text: print(text, flush=True)).start()
    where = f", compiled modules cached in {config.cache_dir}" if config.cache_dir else ""
    print(f"{args.processes} worker process(es) serving {args.connect}{where}; Ctrl-C stops them", flush=True)
    try:
        supervisor.run()  # restarts dead and recycled processes (worker.supervisor)
    except KeyboardInterrupt:
        pass
    finally:
        supervisor.stop(getattr(args, "drain_timeout", liveness_options.DEFAULT_DRAIN))
    return 0


