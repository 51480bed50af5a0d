"""``wasmpool pin|unpin CODE_ID``: keep a deployed module compiled on every worker, or stop.

A pinned module is loaded by every worker when it starts (and by live
workers at once), kept outside their LRU caches, and routed to any worker;
the pin is recorded by the broker's state store, so a restarted broker pins
it again. ``wasmpool broker --pin CODE_ID`` pins at startup
(:func:`add_broker_option`). These are requests like any other on the
broker's frontend: with CURVE, only a client whose key the broker accepts
may send them. Exit status: 0 when served, 2 when refused (an unknown code
id, the pinned limit, no broker).
"""

from __future__ import annotations

import argparse
import sys

from wasmpool.broker.security import SecurityError
from wasmpool.cli import operator
from wasmpool.client import DEFAULT_ENDPOINT, Client
from wasmpool.wire import errors
from wasmpool.wire.protocol import Op, is_code_id

MULTI_COMMAND = True
EXIT_OK, EXIT_REFUSED = 0, 2
OPS = {"pin": Op.PIN, "unpin": Op.UNPIN}


def code_id(text: str) -> str:
    """An argparse type: a code id as ``wasmpool deploy`` prints it (64 lowercase hex digits)."""
    text = str(text)  # a plain str (a client's deploy answers with a str subclass)
    if not is_code_id(text):
        raise argparse.ArgumentTypeError(f"not a code id (64 lowercase hex digits): {text!r}")
    return text


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("code_id", type=code_id, help="the code id printed by deploy")
    parser.add_argument("--connect", default=DEFAULT_ENDPOINT, metavar="ENDPOINT",
                        help=f"the broker's frontend (default {DEFAULT_ENDPOINT})")
    parser.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for each attempt (default 30)")
    operator.add_curve_options(parser, operator.Role.CLIENT)


def add_broker_option(parser: argparse.ArgumentParser) -> None:
    """``--pin CODE_ID`` (repeatable) for ``wasmpool broker``: BrokerConfig.pinned."""
    parser.add_argument("--pin", type=code_id, action="append", default=[], metavar="CODE_ID",
                        help="keep this deployed module compiled on every worker (repeatable; recorded in "
                             "the state store, like 'wasmpool pin')")


def run(args: argparse.Namespace) -> int:
    try:
        with Client(args.connect, timeout=args.wait, curve_secret=args.curve_secret,
                    curve_public_dir=args.curve_public_dir) as client:
            reply = client.pin(args.code_id) if OPS[args.command] is Op.PIN else client.unpin(args.code_id)
    except (SecurityError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except errors.PoolError as exc:
        print(f"error: {type(exc).__name__}: {exc.reason}", file=sys.stderr)
        return EXIT_REFUSED
    state = "pinned" if reply.pinned else "not pinned"
    print(f"{reply.code_id} {state}{'' if reply.changed else ' (unchanged)'}")
    return EXIT_OK
