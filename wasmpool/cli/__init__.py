"""The ``wasmpool`` command line: one entry point, subcommands in their own modules.

Each subcommand lives in a module with ``configure(parser)`` and
``run(args) -> int``. Only subcommands whose module is present are offered,
so ``wasmpool --help`` lists exactly what exists.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("wasmpool.cli.run", "run a module's exported functions (like wagon's wasm-run)"),
    "dump": ("wasmpool.cli.dump", "print a module's sections, entries and code (like wasm-objdump)"),
    "bench": ("wasmpool.cli.bench", "run the benchmark suite and print a table of times and ratios"),
    "broker": ("wasmpool.cli.broker", "start the broker"),
    "worker": ("wasmpool.cli.worker", "start worker processes connected to a broker"),
    "deploy": ("wasmpool.cli.client", "deploy a module to the pool"),
    "call": ("wasmpool.cli.client", "call a contract (its address) or a deployed code (its code id)"),
    "query": ("wasmpool.cli.client", "call a deployed contract read-only"),
    "state": ("wasmpool.cli.client", "read a contract's committed state"),
    "stats": ("wasmpool.cli.client", "print pool statistics"),
    "instantiate": ("wasmpool.cli.contracts", "create a contract instance of a deployed code"),
    "migrate": ("wasmpool.cli.contracts", "switch a contract to new code, keeping its state (its admin)"),
    "contract": ("wasmpool.cli.contracts", "show a contract's code, admin, creator and code history"),
    "block": ("wasmpool.cli.client", "execute a block of calls from a file"),
    "pin": ("wasmpool.cli.pin", "keep a deployed module compiled on every worker"),
    "unpin": ("wasmpool.cli.pin", "let a pinned module fall back into the workers' caches"),
    "keys": ("wasmpool.cli.keys", "generate CurveZMQ key pairs"),
}


def available() -> dict[str, tuple[str, str]]:
    """The subcommands whose implementing module is installed."""
    out = {}
    for name, (module, text) in COMMANDS.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            out[name] = (module, text)
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wasmpool",
        description="WebAssembly contract execution: engine, broker and workers.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, text) in available().items():
        p = sub.add_parser(name, help=text, description=text)
        mod = importlib.import_module(module)
        mod.configure(p, name) if _takes_name(mod) else mod.configure(p)
        p.set_defaults(_module=module)
    return parser


def _takes_name(mod: object) -> bool:
    return bool(getattr(mod, "MULTI_COMMAND", False))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen subcommand; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help()
        return 2
    mod = importlib.import_module(args._module)
    try:
        return int(mod.run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
