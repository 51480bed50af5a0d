"""Operator options shared by the CLI commands: CURVE keys, request ceilings, metrics and logs.

Each group is a pair: ``add_*`` puts the options on a parser, and a builder
turns the parsed arguments into the object the library takes
(:class:`~wasmpool.broker.security.CurveServer` / :class:`~wasmpool.broker.security.CurveClient`,
:class:`~wasmpool.broker.limits.OperatorLimits`). Builders raise
:class:`~wasmpool.broker.security.SecurityError` or ``ValueError`` with a message for
people; the commands print it and exit with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
from enum import StrEnum
from pathlib import Path
from typing import Any

from wasmpool.broker import logs, metrics
from wasmpool.broker.limits import Limit, OperatorLimits
from wasmpool.broker.logs import LEVELS, LogFormat
from wasmpool.broker.security import CurveClient, CurveServer, SecurityError
from wasmpool.broker.server import Broker


class Role(StrEnum):
    """Which end of a CURVE connection a command is."""

    SERVER = "server"  # the broker
    CLIENT = "client"  # a worker or a client


class Exporter(StrEnum):
    """How ``--metrics-port`` serves the Prometheus endpoint."""

    BUILTIN = "builtin"  # our own tiny HTTP server: no dependency
    PROMETHEUS_CLIENT = "prometheus-client"  # the official package (the ``metrics`` extra)


PUBLIC_DIR_HELP = {
    Role.SERVER: "directory of the public keys (*.key) to accept: clients' in DIR/clients, workers' in "
                 "DIR/workers (a key is accepted in its role only)",
    Role.CLIENT: "directory holding the broker's public key, broker.key",
}


def add_curve_options(parser: argparse.ArgumentParser, role: Role) -> None:
    """``--curve-secret FILE --curve-public-dir DIR``: enable CurveZMQ (both or neither)."""
    parser.add_argument("--curve-secret", type=Path, metavar="FILE",
                        help="enable CurveZMQ: this process's own NAME.key_secret")
    parser.add_argument("--curve-public-dir", type=Path, metavar="DIR", help=PUBLIC_DIR_HELP[role])


def _curve_files(args: argparse.Namespace) -> tuple[Path, Path] | None:
    secret, public_dir = args.curve_secret, args.curve_public_dir
    if (secret is None) != (public_dir is None):
        raise SecurityError("--curve-secret and --curve-public-dir go together")
    return None if secret is None else (secret, public_dir)


def curve_server(args: argparse.Namespace) -> CurveServer | None:
    """The broker's CURVE configuration, checked (None without the options)."""
    files = _curve_files(args)
    if files is None:
        return None
    return CurveServer.from_dir(files[0], files[1])


def curve_client(args: argparse.Namespace) -> CurveClient | None:
    """A worker's or client's CURVE socket setup, checked (None without the options)."""
    files = _curve_files(args)
    return None if files is None else CurveClient.from_dir(*files)


LIMIT_OPTIONS: tuple[tuple[Limit, type, str], ...] = (
    (Limit.MAX_MESSAGE, int, "largest request body in bytes"),
    (Limit.MAX_MODULE, int, "largest module in bytes at deploy"),
    (Limit.MAX_INPUT, int, "largest call input in bytes"),
    (Limit.MAX_ARGS, int, "most arguments of a call"),
    (Limit.MAX_GAS, int, "highest gas limit a call may ask for"),
    (Limit.MAX_TIMEOUT, float, "longest time limit a call may ask for, in seconds"),
)


def add_limit_options(parser: argparse.ArgumentParser) -> None:
    """``--max-message`` ... ``--max-timeout``: ceilings; a request above one is rejected, naming it."""
    for limit, kind, text in LIMIT_OPTIONS:
        parser.add_argument(f"--{limit.replace('_', '-')}", dest=limit, type=kind, metavar="N",
                            help=f"{text} (requests above it are rejected)")


def operator_limits(args: argparse.Namespace) -> OperatorLimits:
    """The ceilings given on the command line (ValueError for a non-positive one)."""
    return OperatorLimits(**{limit: getattr(args, limit) for limit, _, _ in LIMIT_OPTIONS})


def add_observability_options(parser: argparse.ArgumentParser) -> None:
    """``--metrics-port``, ``--metrics-host``, ``--metrics-exporter``, ``--log-format``, ``--log-level``."""
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus metrics over HTTP on this port (GET /metrics)")
    parser.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                        help="address of the metrics endpoint (default 127.0.0.1)")
    parser.add_argument("--metrics-exporter", type=Exporter, choices=list(Exporter), default=Exporter.BUILTIN,
                        help="built-in HTTP server (default) or the prometheus-client package")
    parser.add_argument("--log-format", type=LogFormat, choices=list(LogFormat), default=LogFormat.KV,
                        help="structured log lines as key=value pairs (default) or JSON")
    parser.add_argument("--log-level", choices=list(LEVELS), default="warning",
                        help="'info' logs every request, with its request id (default warning)")


def setup_logs(args: argparse.Namespace) -> None:
    """Structured logs to stderr as ``--log-format`` at ``--log-level``."""
    logs.setup(args.log_format, args.log_level)


def broker_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``Broker`` keyword arguments for the operator options; checks them first.

    Raises SecurityError (key files), ValueError (ceilings, option clashes) or
    MetricsUnavailable (``--metrics-exporter prometheus-client`` without the package).
    """
    curve = curve_server(args)
    if curve is not None and (args.with_workers or args.demo is not None):
        raise ValueError("--with-workers and --demo run without CURVE keys: start workers with "
                         "'wasmpool worker --curve-secret ... --curve-public-dir ...' instead")
    builtin = args.metrics_exporter is Exporter.BUILTIN
    if args.metrics_port is not None and not builtin:
        metrics.require_prometheus_client()
    return {"curve": curve, "limits": operator_limits(args),
            "metrics_port": args.metrics_port if builtin else None, "metrics_host": args.metrics_host}


def start_official_exporter(broker: Broker, args: argparse.Namespace) -> None:
    """With ``--metrics-exporter prometheus-client``: serve the metrics through the package.

    Call from the broker's running loop: the package serves from its own
    thread and asks this loop for each scrape's text, so the core is only
    ever read by the loop that runs it.
    """
    if args.metrics_port is None or args.metrics_exporter is not Exporter.PROMETHEUS_CLIENT:
        return
    loop = asyncio.get_running_loop()

    async def text() -> str:
        return metrics.render(broker.core.stats())

    def fetch() -> str:
        return asyncio.run_coroutine_threadsafe(text(), loop).result(SCRAPE_WAIT)

    metrics.start_prometheus_client(fetch, args.metrics_host, args.metrics_port)


SCRAPE_WAIT = 5.0
