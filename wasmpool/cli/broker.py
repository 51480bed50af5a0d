"""``wasmpool broker``: run the broker, optionally with local workers and the demo.

``wasmpool broker --with-workers N --demo examples/rust`` is what
``make run`` starts: the broker in this process's event loop, N worker
processes connected to its backend, and the tokens-and-swap demonstration. The
workers are supervised (``wasmpool.worker.supervisor``): one that exits is
replaced. Ctrl-C (or SIGTERM) stops everything: the loop returns, the
sockets close, the workers are terminated and joined.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

import zmq

from wasmpool.broker.config import BrokerConfig
from wasmpool.broker.metrics import MetricsUnavailable
from wasmpool.broker.security import SecurityError
from wasmpool.broker.server import DEFAULT_BACKEND, DEFAULT_FRONTEND
from wasmpool.broker.state import DEFAULT_URL
from wasmpool.cli import liveness_options, operator, pin
from wasmpool.cli.demo import run_demo
from wasmpool.cli.deploy_options import add_deploy_options, deploy_fields
from wasmpool.embed import Broker
from wasmpool.wire.errors import UnknownCode
from wasmpool.worker.config import WorkerConfig
from wasmpool.worker.supervisor import Supervisor, supervise

DEFAULTS = BrokerConfig()
DEFAULT_WORKER_DRAIN = 5.0  # seconds the local workers get to finish their jobs on the way out
ANY_HOSTS = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "*": "127.0.0.1"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frontend", default=DEFAULT_FRONTEND, metavar="ENDPOINT",
                        help=f"where clients connect (default {DEFAULT_FRONTEND})")
    parser.add_argument("--backend", default=DEFAULT_BACKEND, metavar="ENDPOINT",
                        help=f"where workers connect (default {DEFAULT_BACKEND})")
    parser.add_argument("--state", default=DEFAULT_URL, metavar="URL",
                        help=f"state store: sqlite:PATH or memory: (default {DEFAULT_URL})")
    parser.add_argument("--with-workers", type=int, default=0, metavar="N",
                        help="also start N worker processes connected to the backend")
    parser.add_argument("--demo", type=Path, metavar="DIR",
                        help="once serving, deploy DIR's token.wasm and swap.wasm (examples/rust), make two "
                             "tokens and a swap between them, and run a few swaps")
    parser.add_argument("--gas", type=int, default=DEFAULTS.default_gas,
                        help=f"default gas limit of a call (default {DEFAULTS.default_gas})")
    parser.add_argument("--query-gas", type=int, default=DEFAULTS.query_gas,
                        help=f"the most gas a query may use (default {DEFAULTS.query_gas}, as wasmd's)")
    parser.add_argument("--timeout", type=float, default=DEFAULTS.default_timeout,
                        help=f"default time limit of a call in seconds (default {DEFAULTS.default_timeout})")
    parser.add_argument("--no-read-ahead", dest="read_ahead", action="store_false",
                        help="do not send a call's likely state reads with it (declared with access, or "
                             "learned from the export's last calls): every read is a round trip")
    add_fairness_options(parser)
    add_deploy_options(parser)
    pin.add_broker_option(parser)
    liveness_options.add_broker_options(parser)
    operator.add_curve_options(parser, operator.Role.SERVER)
    operator.add_limit_options(parser)
    operator.add_observability_options(parser)


def _at_least_zero(kind: type[int] | type[float]) -> Any:
    """An argparse type: a number of ``kind``, 0 or more."""
    def parse(text: str) -> int | float:
        value = kind(text)
        if value < 0:
            raise argparse.ArgumentTypeError(f"{text} is negative")
        return value
    return parse


def add_fairness_options(parser: argparse.ArgumentParser) -> None:
    """How clients and blocks share the workers (BrokerConfig.max_client_workers, max_block_hold)."""
    parser.add_argument("--max-client-workers", type=_at_least_zero(int), default=DEFAULTS.max_client_workers,
                        metavar="N", help="the most workers one client's calls may hold at once "
                        "(default 0: all workers but one, at least one)")
    parser.add_argument("--no-compile-on-deploy", dest="compile_on_deploy", action="store_false",
                        help="do not have a worker compile each newly deployed module before its first call")
    parser.add_argument("--max-block-hold", type=_at_least_zero(float), default=DEFAULTS.max_block_hold,
                        metavar="SECONDS", help="while a block runs, a call that may run waits at most this "
                        f"long before freed workers go to calls (default {DEFAULTS.max_block_hold})")


def connectable(endpoint: str) -> str:
    """A bound endpoint as a local peer connects to it (tcp://0.0.0.0:5556 -> tcp://127.0.0.1:5556)."""
    scheme, _, rest = endpoint.partition("://")
    host, _, port = rest.rpartition(":")
    return f"{scheme}://{ANY_HOSTS.get(host, host)}:{port}" if scheme == "tcp" else endpoint


def broker_config(args: argparse.Namespace) -> BrokerConfig:
    """The broker's tunables from the command line."""
    return BrokerConfig(default_gas=args.gas, query_gas=args.query_gas, default_timeout=args.timeout,
                        max_client_workers=args.max_client_workers, max_block_hold=args.max_block_hold,
                        pinned=tuple(args.pin), read_ahead=args.read_ahead,
                        compile_on_deploy=args.compile_on_deploy,
                        **liveness_options.broker_fields(args), **deploy_fields(args))


def run(args: argparse.Namespace) -> int:
    config = broker_config(args)
    try:
        options = operator.broker_options(args)
        operator.setup_logs(args)
        broker = Broker(state=args.state, frontend=args.frontend, backend=args.backend, config=config,
                        **options)
        broker.bind()
    except (zmq.ZMQError, OSError, ValueError, SecurityError, MetricsUnavailable, UnknownCode) as exc:
        print(f"error: cannot start the broker: {exc}")
        return 2
    print(f"broker: clients {broker.frontend_endpoint}, workers {broker.backend_endpoint}, "
          f"state {args.state}", flush=True)
    print(f"broker: {config.deploy_policy().describe()}", flush=True)
    if options["curve"] is not None:
        curve = options["curve"]
        print(f"broker: CurveZMQ on, accepting clients' keys in {curve.public_dir} and workers' keys in "
              f"{curve.worker_dir}", flush=True)
    for warning in broker.warnings:
        print(f"broker: WARNING: {warning}", flush=True)
    if args.metrics_port is not None:
        port = broker.metrics.port if broker.metrics is not None else args.metrics_port
        print(f"broker: metrics on http://{args.metrics_host}:{port}/metrics", flush=True)
    workers: Supervisor | None = None
    try:
        if args.with_workers:  # supervised: a worker that exits is replaced
            backend = connectable(broker.backend_endpoint)
            workers = supervise(WorkerConfig(endpoint=backend, **liveness_options.worker_fields(args)),
                                args.with_workers, log=liveness_options.say)
        asyncio.run(_serve(broker, args))
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        if workers is not None:
            workers.stop(DEFAULT_WORKER_DRAIN)
        broker.close()
    return 0


async def _serve(broker: Broker, args: argparse.Namespace) -> None:
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGTERM, liveness_options.graceful_stop(broker, args.drain_timeout))
    operator.start_official_exporter(broker, args)
    demo = None
    if args.demo is not None:
        demo = asyncio.create_task(_demo(connectable(broker.frontend_endpoint), args.demo, args.with_workers))
    try:
        await broker.serve()
    finally:
        if demo is not None:
            demo.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await demo


async def _demo(frontend: str, module: Path, workers: int) -> None:
    try:
        await run_demo(frontend, module, workers)
    except Exception as exc:  # the demo failing must not stop the broker
        print(f"demo failed: {type(exc).__name__}: {exc}", flush=True)
