"""``wasmpool keys generate DIR [--client NAME]... [--worker NAME]... [--force]``: CurveZMQ keys for the pool.

Theory of operation: each ``NAME`` gets ``DIR/NAME.key`` (the public key, to
hand out) and ``DIR/NAME.key_secret`` (mode 0600, to keep) through
:func:`wasmpool.broker.security.generate_keys`, and its public key is also placed in
the broker's allowed-keys directory under its role: ``DIR/allowed/clients/``
or ``DIR/allowed/workers/`` (what ``wasmpool broker --curve-public-dir
DIR/allowed`` reads; a key is accepted in its own role only). Without names
the pairs a pool needs are made: ``broker``, a worker ``worker`` and a
client ``client``; the broker's public key is also copied to
``DIR/broker/broker.key``, the directory workers and clients are given.
``DIR`` is created (mode 0700) when missing. Nothing is written unless
every file can be: if any of them exists the command stops before writing
and says so, unless ``--force`` replaces them. Each written path is printed
as ``NAME public PATH`` / ``NAME secret PATH``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from enum import IntEnum
from pathlib import Path

from wasmpool.broker.security import BROKER_KEY, FileMode, PeerRole, SecurityError, generate_keys, key_paths

PROG = "wasmpool keys"
ALLOWED_DIR = "allowed"  # DIR/allowed/{clients,workers}: the broker's --curve-public-dir
BROKER_DIR = "broker"  # DIR/broker/broker.key: the --curve-public-dir of workers and clients
DEFAULT_PAIRS: tuple[tuple[str, PeerRole | None], ...] = (
    (BROKER_KEY, None), ("worker", PeerRole.WORKERS), ("client", PeerRole.CLIENTS))


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
                                              "NAME.key_secret (secret, mode 0600) into DIR, and each "
                                              "public key into DIR/allowed/clients or DIR/allowed/workers.")
    generate.add_argument("directory", metavar="DIR", type=Path,
                          help="where to write the keys (created if missing)")
    generate.add_argument("--client", action="append", dest="clients", metavar="NAME", default=[],
                          help="a client's key pair to make; repeatable")
    generate.add_argument("--worker", action="append", dest="workers", metavar="NAME", default=[],
                          help="a worker's key pair to make; repeatable "
                               "(default, with no --client either: broker, worker and client)")
    generate.add_argument("--force", action="store_true", help="replace existing key files")
    parser.set_defaults(keys_action=None, _keys_usage=parser.format_usage())


def run(args: argparse.Namespace) -> int:
    """Carry out the chosen action; returns the exit status."""
    if args.keys_action is None:
        print(args._keys_usage, end="", file=sys.stderr)
        print(f"{PROG}: choose an action: generate", file=sys.stderr)
        return Exit.USAGE
    pairs = [*((name, PeerRole.CLIENTS) for name in args.clients),
             *((name, PeerRole.WORKERS) for name in args.workers)]
    return generate(args.directory, tuple(pairs) or DEFAULT_PAIRS, force=args.force)


def _targets(directory: Path, name: str, role: PeerRole | None) -> list[Path]:
    """Every file one pair writes: the pair, and its public key where the other side reads it."""
    public = key_paths(directory, name)[0]
    copy = (directory / BROKER_DIR if role is None else directory / ALLOWED_DIR / role) / public.name
    return [*key_paths(directory, name), copy]


def generate(directory: Path, pairs: tuple[tuple[str, PeerRole | None], ...], *, force: bool) -> int:
    """Write every named pair into ``directory``, all or nothing; returns the exit status."""
    try:
        pairs = tuple(dict.fromkeys(pairs))  # each pair once, in the order given
        _refuse_two_roles(pairs)
        paths = [path for name, role in pairs for path in _targets(directory, name, role)]  # checks names
        existing = [] if force else [path for path in paths if path.exists()]
        if existing:
            for path in existing:
                print(f"{PROG}: {path} exists; use --force to replace it", file=sys.stderr)
            return Exit.REFUSED
        _make_directory(directory)
        for name, role in pairs:
            public, secret = generate_keys(directory, name, force=force)
            _share(public, _targets(directory, name, role)[-1])
            print(f"{name} public {public}")
            print(f"{name} secret {secret}")
    except SecurityError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return Exit.USAGE
    return Exit.OK


def _refuse_two_roles(pairs: tuple[tuple[str, PeerRole | None], ...]) -> None:
    names = [name for name, _ in pairs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise SecurityError(f"{', '.join(twice)}: one key pair per role; give the client and the worker "
                            "different names")


def _share(public: Path, target: Path) -> None:
    """Copy a public key where its readers look for it."""
    try:
        target.parent.mkdir(mode=FileMode.KEY_DIR, parents=True, exist_ok=True)
        shutil.copyfile(public, target)
        target.chmod(FileMode.PUBLIC)
    except OSError as exc:
        raise SecurityError(f"{target}: cannot write: {exc.strerror or exc}") from exc


def _make_directory(directory: Path) -> None:
    try:
        directory.mkdir(mode=FileMode.KEY_DIR, parents=True, exist_ok=True)
    except OSError as exc:
        raise SecurityError(f"{directory}: cannot create directory: {exc.strerror or exc}") from exc
