"""``wasmpool deploy|call|query|state|stats|block``: talk to a running pool.

One module serves several subcommands (``MULTI_COMMAND``): ``configure``
gets the subcommand's name. Each prints what came back; the exit status is
0 when the request was served (and, for calls, ended ``ok``), 1 when a call
ended otherwise, 2 when the pool refused the request.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from broker import errors
from broker.client import DEFAULT_ENDPOINT, Client, Number, Result

MULTI_COMMAND = True
EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """Add the options of subcommand ``name``."""
    parser.add_argument("--connect", default=DEFAULT_ENDPOINT, metavar="ENDPOINT",
                        help=f"the broker's frontend (default {DEFAULT_ENDPOINT})")
    parser.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for each attempt (default 30)")
    CONFIGURE[name](parser)


def _configure_deploy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the .wasm module")


def _configure_call(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code_id", help="the code id printed by deploy")
    parser.add_argument("function", help="the exported function")
    parser.add_argument("numbers", nargs="*", type=number, help="numeric arguments (ints, 0x hex, floats)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", type=input_bytes, help="input bytes: HEX, or @FILE to read a file")
    source.add_argument("--text", help="input bytes: this text, UTF-8 encoded")
    parser.add_argument("--gas", type=int, help="gas limit")
    parser.add_argument("--timeout", type=float, help="time limit in seconds")
    parser.add_argument("--caller", type=identity, help="caller identity: text, or 0x followed by hex")
    parser.add_argument("--height", type=int, help="block height the contract sees")
    parser.add_argument("--time", type=int, help="block time the contract sees (seconds)")


def _configure_state(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["get"], help="what to do")
    parser.add_argument("code_id", help="the contract's code id")
    parser.add_argument("key", type=identity, help="the key: text, or 0x followed by hex")


def _configure_stats(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the raw statistics as JSON")


def _configure_block(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path,
                        help='a JSON list of calls: {"code_id", "function", "args", "text" or "input" (hex), '
                             '"caller", "gas"}, run in order')


CONFIGURE: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "deploy": _configure_deploy, "call": _configure_call, "query": _configure_call,
    "state": _configure_state, "stats": _configure_stats, "block": _configure_block,
}


# --- argument types -----------------------------------------------------------------------


def number(text: str) -> Number:
    """An int (decimal or 0x hex) or a float."""
    try:
        return int(text, 0)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None


def input_bytes(text: str) -> bytes:
    """``@FILE`` reads a file; anything else is hex."""
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_bytes()
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {text[1:]}: {exc.strerror}") from None
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hex: {text!r} (use @FILE for a file)") from None


def identity(text: str) -> bytes:
    """``0x...`` is hex; anything else is UTF-8 text."""
    if text.startswith("0x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            raise argparse.ArgumentTypeError(f"not hex: {text!r}") from None
    return text.encode()


# --- running ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    try:
        with Client(args.connect, timeout=args.wait) as client:
            return RUN[args.command](client, args)
    except errors.PoolError as exc:
        print(f"error: {type(exc).__name__}: {exc.reason}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def _deploy(client: Client, args: argparse.Namespace) -> int:
    print(client.deploy(args.file.read_bytes()))
    return EXIT_OK


def _call(client: Client, args: argparse.Namespace) -> int:
    send = client.query if args.command == "query" else client.call
    data = args.text.encode() if args.text is not None else args.input
    context = {k: v for k, v in (("caller", args.caller), ("height", args.height), ("time", args.time))
               if v is not None}
    result = send(args.code_id, args.function, args.numbers, input=data, context=context or None,
                  gas_limit=args.gas, timeout=args.timeout)
    print(format_result(result))
    return EXIT_OK if result.ok else EXIT_FAILED


def _state(client: Client, args: argparse.Namespace) -> int:
    value, version = client.state_get(args.code_id, args.key)
    print(f"{show(args.key)} = {'(absent)' if value is None else show(value)}  (version {version})")
    return EXIT_OK


def _stats(client: Client, args: argparse.Namespace) -> int:
    stats = client.stats()
    print(json.dumps(stats, indent=2, sort_keys=True) if args.json else format_stats(stats))
    return EXIT_OK


def _block(client: Client, args: argparse.Namespace) -> int:
    calls = json.loads(args.file.read_text())
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        print("error: the block file must hold a JSON list of objects", file=sys.stderr)
        return EXIT_REFUSED
    results = [_block_call(client, c) for c in calls]
    for index, result in enumerate(results):
        print(f"[{index}] {_one_line(result)}")
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _block_call(client: Client, call: dict[str, Any]) -> Result:
    data = call["text"].encode() if "text" in call else bytes.fromhex(call.get("input", ""))
    context = {"caller": identity(call["caller"])} if "caller" in call else None
    return client.call(call["code_id"], call["function"], call.get("args", []), input=data, context=context,
                       gas_limit=call.get("gas"))


RUN: dict[str, Callable[[Client, argparse.Namespace], int]] = {
    "deploy": _deploy, "call": _call, "query": _call, "state": _state, "stats": _stats, "block": _block,
}


# --- output -----------------------------------------------------------------------------------


def show(data: bytes) -> str:
    """Bytes for people: quoted text when printable UTF-8, else 0x hex."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return "0x" + data.hex()
    return repr(text) if text.isprintable() else "0x" + data.hex()


def format_result(result: Result) -> str:
    """A call's result, one field per line (empty fields left out)."""
    lines = [f"status:   {result.status}"]
    if result.results:
        lines.append(f"results:  {' '.join(str(r) for r in result.results)}")
    if result.output:
        lines.append(f"output:   {show(result.output)}")
    lines.append(f"gas used: {result.gas_used}")
    lines.extend(f"log:      {show(entry)}" for entry in result.logs)
    lines.extend(f"write:    {show(k)} = {'(deleted)' if v is None else show(v)}"
                 for k, v in result.writes.items())
    if result.error:
        lines.append(f"error:    {result.error}")
    return "\n".join(lines)


def _one_line(result: Result) -> str:
    parts: Sequence[str] = [str(result.status), *(str(r) for r in result.results)]
    if result.output:
        parts = [*parts, show(result.output)]
    if result.error:
        parts = [*parts, f"({result.error})"]
    return " ".join(parts)


STATS_ROWS = (
    ("workers", "workers"), ("idle", "idle workers"), ("queue", "queue length"),
    ("in_flight", "in flight"), ("jobs_done", "jobs done"), ("cache_hits", "cache hits"),
    ("cache_misses", "cache misses"),
)


def format_stats(stats: dict[str, Any]) -> str:
    """The main statistics as an aligned table."""
    rows = [(label, str(stats.get(key, 0))) for key, label in STATS_ROWS]
    rows.append(("cache hit rate", f"{stats.get('cache_hit_rate', 0.0):.1%}"))
    rows.append(("commits", str(stats.get("counters", {}).get("commits", 0))))
    rows.append(("re-executions", str(stats.get("counters", {}).get("reexecutions", 0))))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)
