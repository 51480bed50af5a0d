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

import msgpack

from wasmpool.broker.metrics import GARBAGE_COUNTERS
from wasmpool.broker.security import SecurityError
from wasmpool.cli import operator
from wasmpool.client import DEFAULT_ENDPOINT, Client, Number, Result, ResultEvent
from wasmpool.wire import errors
from wasmpool.wire.prices import DEFAULT_DEPLOY_GAS_LIMIT, DEPLOY_BASE_GAS, DEPLOY_BYTE_GAS
from wasmpool.wire.protocol import ROOT_SIZE, Status
from wasmpool.wire.receipts import DEFAULT_GAS_LIMIT, BlockCall, BlockResult

MULTI_COMMAND = True
EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """Add the options of subcommand ``name``."""
    add_connection_options(parser)
    CONFIGURE[name](parser)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """The options every client subcommand takes: where the broker is, how long to wait, CurveZMQ."""
    parser.add_argument("--connect", default=DEFAULT_ENDPOINT, metavar="ENDPOINT",
                        help=f"the broker's frontend (default {DEFAULT_ENDPOINT})")
    parser.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for each attempt (default 30)")
    operator.add_curve_options(parser, operator.Role.CLIENT)


def _configure_deploy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="the .wasm module")
    parser.add_argument("--gas", type=int, default=None, metavar="N",
                        help=f"the deploy's gas limit (default {DEFAULT_DEPLOY_GAS_LIMIT}: enough for the "
                             f"largest module the default size limit admits; a deploy costs "
                             f"{DEPLOY_BASE_GAS} + {DEPLOY_BYTE_GAS} per byte)")


def _configure_call(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code_id", metavar="ADDRESS", help="the contract's address (or a code id: legacy)")
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
    parser.add_argument("--access", type=identity, action="append", metavar="KEY",
                        help="a key of the contract's state the call expects to read (text, or 0x followed "
                             "by hex; repeatable): sent with the call, a hint for speed only")


def _configure_state(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["get"], help="what to do")
    parser.add_argument("code_id", metavar="ADDRESS", help="the contract's address (or a code id: legacy)")
    parser.add_argument("key", type=identity, help="the key: text, or 0x followed by hex")


def _configure_stats(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the raw statistics as JSON")


def _configure_block(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path,
                        help='FILE.json: a list of calls {"code_id", "function", "args", "text" or "input" '
                             '(hex), "caller", "height", "time", "gas"} in block order; FILE.msgpack: a list '
                             'of calls as on the wire (docs/protocol.md)')
    parser.add_argument("--dry-run", action="store_true", help="execute, but commit nothing")
    parser.add_argument("--state-root", type=root_bytes, metavar="HEX",
                        help="the expected state root before the block: refused when it differs")
    parser.add_argument("--timeout", type=float, help="time limit of the whole block, in seconds")


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
    return run_with(RUN, args)


Command = Callable[[Client, argparse.Namespace], int]
"""A client subcommand: runs on a connected client, returns the exit status."""


def run_with(commands: dict[str, Command], args: argparse.Namespace) -> int:
    """Connect as the options say and run ``commands[args.command]``; a refusal is a message and exit 2."""
    try:
        with Client(args.connect, timeout=args.wait, curve_secret=args.curve_secret,
                    curve_public_dir=args.curve_public_dir) as client:
            return commands[args.command](client, args)
    except (SecurityError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except errors.PoolError as exc:
        print(f"error: {type(exc).__name__}: {exc.reason}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED


def _deploy(client: Client, args: argparse.Namespace) -> int:
    deployed = client.deploy(args.file.read_bytes(), gas_limit=args.gas)
    print(deployed)
    print(f"gas used: {deployed.gas_used}", file=sys.stderr)
    return EXIT_OK


def _call(client: Client, args: argparse.Namespace) -> int:
    send = client.query if args.command == "query" else client.call
    data = args.text.encode() if args.text is not None else args.input
    context = {k: v for k, v in (("caller", args.caller), ("height", args.height), ("time", args.time))
               if v is not None}
    result = send(args.code_id, args.function, args.numbers, input=data, context=context or None,
                  gas_limit=args.gas, timeout=args.timeout, access=args.access)
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
    try:
        calls = read_block(args.file)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"error: cannot read the block {args.file}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    result = client.execute_block(calls, dry_run=args.dry_run, state_root=args.state_root,
                                  timeout=args.timeout)
    print(format_block(result))
    return EXIT_OK if all(r.status == Status.OK for r in result.receipts) else EXIT_FAILED


MSGPACK_SUFFIXES = (".msgpack", ".mpk", ".mp")


def read_block(path: Path) -> list[BlockCall]:
    """The calls of a block file: msgpack (wire maps) by its suffix, else JSON (people's maps)."""
    if path.suffix in MSGPACK_SUFFIXES:
        raw = msgpack.unpackb(path.read_bytes(), raw=False)
        return [BlockCall.from_wire(call) for call in _call_list(raw)]
    return [_json_call(call) for call in _call_list(json.loads(path.read_text()))]


def _call_list(raw: Any) -> list[dict[str, Any]]:
    calls = raw.get("calls") if isinstance(raw, dict) else raw
    if not isinstance(calls, list) or not all(isinstance(c, dict) for c in calls):
        raise ValueError("a block file holds a list of call maps (or a map with 'calls')")
    return calls


def _json_call(call: dict[str, Any]) -> BlockCall:
    """A call as people write it in JSON: input as text or hex, the caller as text or 0x hex."""
    data = call["text"].encode() if "text" in call else bytes.fromhex(call.get("input", ""))
    context: dict[str, Any] = {"caller": identity(call["caller"])} if "caller" in call else {}
    context.update({k: int(call[k]) for k in ("height", "time") if k in call})
    gas = call.get("gas", call.get("gas_limit"))
    return BlockCall(code_id=call["code_id"], function=call["function"], args=tuple(call.get("args", [])),
                     input=data, context=context, gas_limit=DEFAULT_GAS_LIMIT if gas is None else int(gas))


def root_bytes(text: str) -> bytes:
    """A state root: 64 hex digits."""
    try:
        root = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not hex: {text!r}") from None
    if len(root) != ROOT_SIZE:
        raise argparse.ArgumentTypeError(f"a state root is {ROOT_SIZE} bytes, got {len(root)}")
    return root


def format_block(result: BlockResult) -> str:
    """One line per receipt (as ``[index] status results output (error)``), then gas and the state root."""
    lines = [f"[{r.index}] {_one_line(Result(r.status, list(r.results), r.output, error=r.error))}"
             for r in result.receipts]
    lines.append(f"gas used: {result.gas_used}")
    note = "  (dry run: nothing committed)" if result.dry_run else ""
    lines.append(f"state root: {result.state_root.hex()}{note}")
    return "\n".join(lines)


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
    lines.extend(f"event:    {format_event(event)}" for event in result.events)
    lines.extend(f"write:    {show(k)} = {'(deleted)' if v is None else show(v)}"
                 for k, v in result.writes.items())
    lines.extend(f"write:    {show(k)} = {'(deleted)' if v is None else show(v)} (in {address})"
                 for address, writes in result.nested_writes.items() for k, v in writes.items())
    if result.error:
        lines.append(f"error:    {result.error}")
    return "\n".join(lines)


def format_event(event: ResultEvent) -> str:
    """An event on one line: its type, its attributes as ``key=value`` in order, and ``(emitter ADDRESS)``
    (40 hex) when a contract the call called emitted it."""
    kind, attributes = event[0], event[1]
    parts = [_name(kind), *(f"{_name(key)}={show(value)}" for key, value in attributes)]
    if len(event) > 2:
        parts.append(f"(emitter {event[2].hex()})")
    return " ".join(parts)


def _name(data: bytes) -> str:
    """An event's type or attribute key: as it is when it is one printable word, else as ``show`` has it."""
    text = data.decode("ascii", errors="replace")
    plain = text.isascii() and text.isprintable() and text != "" and not {" ", "="} & set(text)
    return text if plain else show(data)


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
    ("cache_misses", "cache misses"), ("floats", "float policy"),
)


def format_stats(stats: dict[str, Any]) -> str:
    """The main statistics as an aligned table."""
    rows = [(label, str(stats.get(key, 0))) for key, label in STATS_ROWS]
    rows.append(("cache hit rate", f"{stats.get('cache_hit_rate', 0.0):.1%}"))
    rows.append(("commits", str(stats.get("counters", {}).get("commits", 0))))
    rows.append(("re-executions", str(stats.get("counters", {}).get("reexecutions", 0))))
    rows.extend(observability_rows(stats))
    rows.extend(pinned_rows(stats))
    rows.extend(tier_rows(stats))
    rows.extend(version_rows(stats))
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def version_rows(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """The versions the broker admits workers by, and how many workers it refused for others."""
    versions = stats.get("worker_versions")
    shown = ("those of the first worker" if versions is None
             else " ".join(f"{name}={value}" for name, value in versions.items()))
    refused = stats.get("counters", {}).get("workers_refused_versions", 0)
    return [("worker versions", shown), ("workers refused (versions)", str(refused))]


TIER_ROWS = (("memory", "modules from memory"), ("disk", "modules from disk"),
             ("compile", "modules compiled"), ("preloaded", "modules preloaded from disk at start"),
             ("disk_bytes", "disk cache bytes"),
             ("disk_evictions", "disk cache evictions"),
             ("disk_corrupt", "disk cache corrupt entries"), ("disk_write_errors", "disk cache write errors"))


def tier_rows(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """Where workers got their modules (memory, disk, compiling) and their disk caches' counters."""
    tiers = stats.get("cache_tiers", {})
    return [(label, str(tiers[key])) for key, label in TIER_ROWS if key in tiers]


def pinned_rows(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """One row per pinned module: on how many workers it is loaded."""
    workers = stats.get("worker_list", [])
    rows = [("pinned modules", str(len(stats.get("pinned", []))))]
    for code_id in stats.get("pinned", []):
        loaded = sum(code_id not in w.get("pinned_missing", []) for w in workers)
        rows.append((f"  {code_id[:16]}", f"loaded on {loaded} of {len(workers)} workers"))
    return rows


OBSERVED_COUNTERS = (("requeued", "requeues"), ("poison_pills", "poison-pill failures"))


def observability_rows(stats: dict[str, Any]) -> list[tuple[str, str]]:
    """Rows for jobs by status, requeues, poison pills, refused messages and latency (broker.metrics)."""
    counters, snapshot = stats.get("counters", {}), stats.get("metrics", {})
    rows = [(f"jobs {status}", str(count)) for status, count in sorted(snapshot.get("jobs", {}).items())]
    rows.extend((label, str(counters.get(key, 0))) for key, label in OBSERVED_COUNTERS)
    refused = sum(counters.get(key, 0) for key in GARBAGE_COUNTERS)
    rows.append(("refused messages", str(refused)))
    latency = snapshot.get("latency", {})
    if latency.get("count"):
        rows.append(("mean latency", f"{latency['sum'] / latency['count'] * 1000:.1f} ms"))
    return rows
