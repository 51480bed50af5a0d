"""``wasmpool instantiate|migrate|contract info``: make contract instances, move them to new code, show them.

A contract is an instance of a deployed code at an address derived from
its creator (``--caller``), the code id and ``--salt`` (docs/abi.md);
``call``, ``query`` and ``state get`` then name it by its address. Exit
status as the other client commands: 0 served (and ok), 1 the contract's
call ended otherwise (nothing was created or changed), 2 refused.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from wasmpool.cli.client import (
    EXIT_FAILED,
    EXIT_OK,
    add_connection_options,
    format_result,
    identity,
    input_bytes,
    run_with,
    show,
)
from wasmpool.client import Client
from wasmpool.wire import messages as m

MULTI_COMMAND = True


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    """Add the options of subcommand ``name``."""
    add_connection_options(parser)
    CONFIGURE[name](parser)


def _input_options(parser: argparse.ArgumentParser, export: str) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", type=input_bytes, help=f"the {export} export's input: HEX, or @FILE")
    source.add_argument("--text", help=f"the {export} export's input: this text, UTF-8 encoded")
    parser.add_argument("--gas", type=int, help="gas limit of the call")
    parser.add_argument("--timeout", type=float, help="time limit in seconds")


def _configure_instantiate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code_id", help="the code id printed by deploy")
    _input_options(parser, "instantiate")
    parser.add_argument("--salt", type=identity, default=b"", help="salt of the address: text, or 0x hex")
    parser.add_argument("--admin", type=identity, help="who may migrate it: text, or 0x hex (default none)")
    parser.add_argument("--caller", type=identity, default=b"",
                        help="the creator (the call's caller): text, or 0x hex")


def _configure_migrate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("address", help="the contract's address (40 hex)")
    parser.add_argument("code_id", help="the new code's code id")
    _input_options(parser, "migrate")
    parser.add_argument("--caller", type=identity, default=b"", help="the contract's admin: text, or 0x hex")


def _configure_contract(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["info"], help="what to do")
    parser.add_argument("address", help="the contract's address (40 hex)")


CONFIGURE: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "instantiate": _configure_instantiate, "migrate": _configure_migrate, "contract": _configure_contract,
}


def run(args: argparse.Namespace) -> int:
    return run_with(RUN, args)


def _data(args: argparse.Namespace) -> bytes:
    if args.text is not None:
        return bytes(args.text.encode())
    return bytes(args.input or b"")


def _instantiate(client: Client, args: argparse.Namespace) -> int:
    made = client.instantiate(args.code_id, _data(args), salt=args.salt, admin=args.admin, caller=args.caller,
                              gas_limit=args.gas, timeout=args.timeout)
    if made.ok:
        print(f"address:  {made.address}")
    print(format_result(made.result))
    return EXIT_OK if made.ok else EXIT_FAILED


def _migrate(client: Client, args: argparse.Namespace) -> int:
    result = client.migrate(args.address, args.code_id, _data(args), caller=args.caller, gas_limit=args.gas,
                            timeout=args.timeout)
    print(format_result(result))
    return EXIT_OK if result.ok else EXIT_FAILED


def _contract(client: Client, args: argparse.Namespace) -> int:
    print(format_info(client.contract_info(args.address)))
    return EXIT_OK


def format_info(info: m.ContractInfo) -> str:
    """A contract's record, then one line per code change (sequence, kind, code id, by whom)."""
    lines = [f"address:  {info.address}", f"code id:  {info.code_id}",
             f"admin:    {'(none)' if info.admin is None else show(info.admin)}",
             f"creator:  {show(info.creator)}", f"salt:     {show(info.salt)}", "history:"]
    lines.extend(f"  #{entry['sequence']} {entry['kind']:<11} {entry['code_id']} by {show(entry['by'])}"
                 for entry in info.history)
    return "\n".join(lines)


RUN: dict[str, Callable[[Client, argparse.Namespace], int]] = {
    "instantiate": _instantiate, "migrate": _migrate, "contract": _contract,
}
