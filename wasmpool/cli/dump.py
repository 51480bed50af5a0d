"""``wasmpool dump FILE.wasm``: print a module's sections, entries and code, like ``wasm-objdump``.

Reads the file, decodes (and by default validates) it, and prints the views
that ``wasmpool.wasm.dump`` formats: ``-h`` section headers, ``-x`` section
details, ``-d`` disassembly, ``--json`` all of it as one JSON document, and
``--ir``/``--python`` the register form or generated Python of one function.
With no view chosen it prints the headers. A missing file or a module that
does not decode prints ``wasmpool: FILE: message`` on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from enum import IntEnum
from pathlib import Path

import wasmpool.wasm as wasm
from wasmpool.wasm import dump
from wasmpool.wasm.errors import WasmError
from wasmpool.wasm.module import Module
from wasmpool.wasm.types import ExternKind


class Exit(IntEnum):
    """Exit statuses of the command."""

    OK = 0
    ERROR = 2


class DumpError(Exception):
    """A problem to report as ``wasmpool: FILE: message`` with exit status 2."""


TEXT_VIEWS: tuple[tuple[str, Callable[[bytes, Module], list[str]]], ...] = (
    ("headers", dump.headers),
    ("details", dump.details),
    ("disassemble", dump.disassemble),
)
"""The text views in the order they print, by the argparse destination that selects them."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``dump`` arguments."""
    parser.add_argument("file", metavar="FILE.wasm", help="the module to dump")
    parser.add_argument("--no-validate", action="store_true",
                        help="dump a well-formed module even if it does not validate")
    # -h means --headers, as in wasm-objdump; help stays available as --help. A group
    # created after switching to "resolve" takes -h over from the help action.
    parser.conflict_handler = "resolve"
    views = parser.add_argument_group("views (default: -h)")
    views.add_argument("-h", "--headers", action="store_true", help="print section headers")
    views.add_argument("-x", "--details", action="store_true", help="print every section's entries")
    views.add_argument("-d", "--disassemble", action="store_true", help="disassemble function bodies")
    views.add_argument("--json", action="store_true", help="print everything as one JSON document")
    views.add_argument("--ir", metavar="FUNC", help="print the register form of FUNC (index or name)")
    views.add_argument("--python", metavar="FUNC", help="print the Python generated for FUNC (index or name)")


def run(args: argparse.Namespace) -> int:
    """Dump the module; returns the exit status."""
    wasm.prepare_process()  # the compiler's views (--ir, --python) walk deeply nested functions
    try:
        data = read_module_file(args.file)
        needs_code_info = bool(args.ir or args.python)
        module = decode(data, validate=needs_code_info or not args.no_validate)
        text = render(args, data, module)
    except DumpError as exc:
        print(f"wasmpool: {args.file}: {exc}", file=sys.stderr)
        return Exit.ERROR
    sys.stdout.write(text)
    return Exit.OK


def read_module_file(path: str) -> bytes:
    """The file's bytes, or a :class:`DumpError` saying why not."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DumpError(exc.strerror or str(exc)) from exc


def decode(data: bytes, *, validate: bool) -> Module:
    """Decode (and validate) the module, turning engine errors into :class:`DumpError`."""
    try:
        return wasm.decode(data, validate=validate)
    except WasmError as exc:
        raise DumpError(str(exc)) from exc


def render(args: argparse.Namespace, data: bytes, module: Module) -> str:
    """All the requested views as one text."""
    if args.json:
        return json.dumps(dump.to_json(data, module), indent=2) + "\n"
    chosen = [view for name, view in TEXT_VIEWS if getattr(args, name)]
    if not chosen and not (args.ir or args.python):
        chosen = [dump.headers]
    lines = dump.preamble(Path(args.file).name, module) if chosen else []
    for i, view in enumerate(chosen):
        if i:
            lines.append("")
        lines.extend(view(data, module))
    for spec, renderer in ((args.ir, "render_ir"), (args.python, "render_python")):
        if spec is not None:
            lines.extend(render_function(module, spec, renderer))
    return "\n".join(lines) + "\n"


def render_function(module: Module, spec: str, renderer: str) -> list[str]:
    """``--ir``/``--python``: the compiler's view of one module-defined function."""
    index = resolve_function(module, spec)
    from wasmpool.wasm import compiler

    try:
        text: str = getattr(compiler, renderer)(module, index)
    except WasmError as exc:
        raise DumpError(str(exc)) from exc
    return text.rstrip("\n").split("\n")


def resolve_function(module: Module, spec: str) -> int:
    """A function index from an index, a ``name`` section name or an export name."""
    imported = module.num_imported_funcs
    total = imported + len(module.funcs)
    index = _find_function(module, spec)
    if index is None:
        raise DumpError(f"no function {spec!r} (give an index below {total}, a function name or an export)")
    if not 0 <= index < total:
        raise DumpError(f"function index {index} out of range (the module has {total} functions)")
    if index < imported:
        raise DumpError(f"function {index} is imported: it has no code")
    return index


def _find_function(module: Module, spec: str) -> int | None:
    try:
        return int(spec, 0)
    except ValueError:
        pass
    for index, name in module.names.functions.items():
        if name == spec:
            return index
    for export in module.exports:
        if export.kind == ExternKind.FUNC and export.name == spec:
            return export.index
    return None
