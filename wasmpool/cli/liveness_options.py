"""Command-line options for liveness, recovery and shutdown (``wasmpool broker`` and ``wasmpool worker``).

The defaults are those of ``wasmpool.broker.liveness``: heartbeats every second, a
peer dead after 3 missed, reconnects backing off from 1 s to 32 s, a job
given up after losing 3 workers, replies kept an hour. The broker tells its
workers its heartbeat numbers on READY, so the two sides always agree; a
worker's own values only matter until then.
"""

from __future__ import annotations

import argparse
from typing import Any

from wasmpool.broker import liveness as recovery
from wasmpool.broker.server import Broker
from wasmpool.wire import liveness as lv
from wasmpool.wire.protocol import MAX_CREDITS
from wasmpool.worker.config import DEFAULT_PREFETCH

DEFAULT_DRAIN = 30.0
DEFAULT_WATCHDOG = 5.0


def add_heartbeat_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--heartbeat-interval", type=float, default=lv.DEFAULT_INTERVAL, metavar="SECONDS",
                        help=f"seconds between heartbeats (default {lv.DEFAULT_INTERVAL})")
    parser.add_argument("--liveness", type=int, default=lv.DEFAULT_LIVENESS, metavar="N",
                        help=f"missed heartbeats before a peer is dead (default {lv.DEFAULT_LIVENESS})")
    parser.add_argument("--drain-timeout", type=float, default=DEFAULT_DRAIN, metavar="SECONDS",
                        help="on SIGTERM, how long in-flight work may take to finish before stopping "
                             f"(default {DEFAULT_DRAIN}); a second signal stops at once")


def _prefetch(text: str) -> int:
    value = int(text)
    if not 0 <= value < MAX_CREDITS:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_CREDITS - 1}")
    return value


def add_prefetch_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefetch", type=_prefetch, default=DEFAULT_PREFETCH, metavar="N",
                        help="jobs a worker process holds besides the one it runs, so it never waits "
                             f"for the broker between jobs (default {DEFAULT_PREFETCH}; 0: one at a time)")


def add_broker_options(parser: argparse.ArgumentParser) -> None:
    add_heartbeat_options(parser)
    add_prefetch_option(parser)
    parser.add_argument("--max-losses", type=int, default=recovery.DEFAULT_MAX_LOSSES, metavar="N",
                        help="fail a job with WORKER_LOST after it lost this many workers "
                             f"(the poison-pill cap; default {recovery.DEFAULT_MAX_LOSSES})")
    parser.add_argument("--result-ttl", type=float, default=recovery.DEFAULT_RESULT_TTL, metavar="SECONDS",
                        help="how long replies are kept for retried request ids "
                             f"(default {recovery.DEFAULT_RESULT_TTL:.0f})")


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    add_heartbeat_options(parser)
    add_prefetch_option(parser)
    parser.add_argument("--reconnect-min", type=float, default=lv.DEFAULT_RECONNECT_MIN, metavar="SECONDS",
                        help=f"first reconnect delay, doubling (default {lv.DEFAULT_RECONNECT_MIN})")
    parser.add_argument("--reconnect-max", type=float, default=lv.DEFAULT_RECONNECT_MAX, metavar="SECONDS",
                        help=f"longest reconnect delay (default {lv.DEFAULT_RECONNECT_MAX})")
    parser.add_argument("--job-deadline", type=float, default=DEFAULT_WATCHDOG, metavar="SECONDS",
                        help="end a worker process whose job outlives its time limit by this much "
                             f"(a wedged process; 0 never; default {DEFAULT_WATCHDOG})")
    parser.add_argument("--max-jobs-per-process", type=int, default=0, metavar="N",
                        help="replace a worker process after N jobs (default 0: never)")
    parser.add_argument("--max-memory-mb", type=int, default=0, metavar="MB",
                        help="replace a worker process once its resident memory exceeds MB "
                             "(default 0: never)")


def broker_fields(args: argparse.Namespace) -> dict[str, Any]:
    """BrokerConfig fields from the broker's options."""
    return {"heartbeat_interval": args.heartbeat_interval, "liveness": args.liveness,
            "max_losses": args.max_losses, "result_ttl": args.result_ttl}


def worker_fields(args: argparse.Namespace) -> dict[str, Any]:
    """WorkerConfig fields from the worker's options (those it has; the broker command has fewer)."""
    names = {"heartbeat": "heartbeat_interval", "liveness": "liveness", "reconnect_min": "reconnect_min",
             "reconnect_max": "reconnect_max", "watchdog": "job_deadline", "max_jobs": "max_jobs_per_process",
             "max_memory_mb": "max_memory_mb", "prefetch": "prefetch"}
    return {field: getattr(args, option) for field, option in names.items() if hasattr(args, option)}


def graceful_stop(broker: Broker, drain: float) -> Any:
    """A SIGTERM handler: the first signal drains (``drain`` seconds at most), a second stops at once."""
    signals = []

    def handle() -> None:
        signals.append(1)
        if len(signals) == 1:
            broker.drain(drain)
            say(f"draining: no new requests; finishing in-flight ones (up to {drain:.0f}s)")
        else:
            broker.stop()
    return handle


def say(message: str) -> None:
    """Print a status line; a closed stdout (its reader gone) must not keep the broker from stopping."""
    try:
        print(message, flush=True)
    except OSError:
        pass
