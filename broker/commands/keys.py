"""``wasmpool keys generate DIR [--name NAME] [--force]``: make CurveZMQ key pairs for the pool.

Theory of operation: each ``NAME`` gets ``DIR/NAME.key`` (the public key, to
hand out) and ``DIR/NAME.key_secret`` (mode 0600, to keep) through
:func:`broker.security.generate_keys`. Without ``--name`` the three pairs a
pool needs are made: ``broker``, ``worker`` and ``client``. ``DIR`` is
created (mode 0700) when missing. Nothing is written unless every file can
be: if any of them exists the command stops before writing and says so,
unless ``--force`` replaces them. Each written path is printed as
``NAME public PATH`` / ``NAME secret PATH``.
"""

from __future__ import annotations

import argparse
import sys
from enum import IntEnum
from pathlib import Path

from broker.security import DEFAULT_KEY_NAMES, FileMode, SecurityError, generate_keys, key_paths

PROG = "wasmpool keys"


class Exit(IntEnum):
    """Exit statuses of the command."""

    OK = 0
    REFUSED = 1  # a key file exists and --force was not given
    USAGE = 2  # no action, or keys could not be written


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``keys`` actions and their arguments."""
    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION")
    generate = actions.add_parser("generate", help="write key pairs NAME.key / NAME.key_secret into DIR",
                                  description="Write CurveZMQ key pairs NAME.key (public) and "
                                              "NAME.key_secret (secret, mode 0600) into DIR.")
    generate.add_argument("directory", metavar="DIR", type=Path,
                          help="where to write the keys (created if missing)")
    generate.add_argument("--name", action="append", dest="names", metavar="NAME",
                          help=f"key pair to make; repeatable (default: {', '.join(DEFAULT_KEY_NAMES)})")
    generate.add_argument("--force", action="store_true", help="replace existing key files")
    parser.set_defaults(keys_action=None, _keys_usage=parser.format_usage())


def run(args: argparse.Namespace) -> int:
    """Carry out the chosen action; returns the exit status."""
    if args.keys_action is None:
        print(args._keys_usage, end="", file=sys.stderr)
        print(f"{PROG}: choose an action: generate", file=sys.stderr)
        return Exit.USAGE
    return generate(args.directory, tuple(args.names or DEFAULT_KEY_NAMES), force=args.force)


def generate(directory: Path, names: tuple[str, ...], *, force: bool) -> int:
    """Write every named pair into ``directory``, all or nothing; returns the exit status."""
    try:
        paths = [path for name in names for path in key_paths(directory, name)]  # checks every name
        existing = [] if force else [path for path in paths if path.exists()]
        if existing:
            for path in existing:
                print(f"{PROG}: {path} exists; use --force to replace it", file=sys.stderr)
            return Exit.REFUSED
        _make_directory(directory)
        for name in dict.fromkeys(names):  # each name once, in the order given
            public, secret = generate_keys(directory, name, force=force)
            print(f"{name} public {public}")
            print(f"{name} secret {secret}")
    except SecurityError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return Exit.USAGE
    return Exit.OK


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(mode=FileMode.KEY_DIR, parents=True, exist_ok=True)
    except OSError as exc:
        raise SecurityError(f"{directory}: cannot create directory: {exc.strerror or exc}") from exc
