"""``wasmpool run FILE.wasm``: run a module's exported functions, like wagon's ``wasm-run``.

Theory of operation: the file is decoded and instantiated; every import
module ``M`` is resolved, as wagon's resolver does, from ``M.wasm`` in the
same directory (or from ``--preload M=PATH``), itself decoded and
instantiated first, recursively, with a check that refuses import cycles.
Each instance is made once per file, so two modules importing ``env`` share
it (its memory, tables and globals included).

Then every exported function that takes no parameters runs, in export order,
and prints one line in wasm-run's format: ``name() i32 => 42 (uint32)``,
i.e. the result types, then each value as Go's ``%v`` prints it with its Go
type (i32/i64 unsigned, floats in Go's shortest ``%g`` form), or
``name() => `` for no result. A trap prints the line without a value and
``wasmpool run: err=name: message`` on stderr, and the run goes on; the exit
status is then 1. ``--invoke NAME ARGS...`` calls one export with arguments
parsed by its parameter types. ``-v`` logs, on stderr, each module's sections
as they were decoded. Unreadable or invalid modules, link errors and a trap
in a start function (instantiation fails) print ``wasmpool: FILE: message``
and exit 2.
"""

from __future__ import annotations

import argparse
import math
import struct
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any

import wasmpool.wasm as wasm
from wasmpool.wasm import dump
from wasmpool.wasm.errors import Trap, WasmError
from wasmpool.wasm.module import Module
from wasmpool.wasm.types import ExternKind, FuncType, ValType

PROG = "wasmpool run"


class Exit(IntEnum):
    """Exit statuses of the command."""

    OK = 0
    TRAPPED = 1  # at least one export trapped
    ERROR = 2  # the module could not be read, decoded, linked or called


class RunError(Exception):
    """A problem that stops the run: reported as ``wasmpool: FILE: message``, exit status 2."""


# ---------------------------------------------------------------------------
# Values in and out


class Width(IntEnum):
    """Bit widths of the numeric types."""

    W32 = 32
    W64 = 64


@dataclass(frozen=True, slots=True)
class NumKind:
    """How one value type crosses the command line: width, Go type name, float or not."""

    width: Width
    go_type: str
    is_float: bool
    pack: str  # struct code of the float (floats only)
    unpack_bits: str  # struct code of the same-width unsigned int


NUM_KINDS: dict[ValType, NumKind] = {
    ValType.I32: NumKind(Width.W32, "uint32", False, "", "<I"),
    ValType.I64: NumKind(Width.W64, "uint64", False, "", "<Q"),
    ValType.F32: NumKind(Width.W32, "float32", True, "<f", "<I"),
    ValType.F64: NumKind(Width.W64, "float64", True, "<d", "<Q"),
}

GO_EXPONENT_LIMIT = 6
"""Go's shortest ``%v`` switches to exponent form at 1e+06 (and below 1e-04)."""
GO_SMALL_EXPONENT = -4
MAX_SIGNIFICANT = {Width.W32: 9, Width.W64: 17}
"""Decimal digits that always identify a float of each width."""


def go_float(value: float, width: Width) -> str:
    """``value`` as Go's ``fmt`` prints a float32/float64 with ``%v`` (e.g. ``0.5``, ``1e+06``, ``NaN``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return f"{sign}0"
    digits, exponent = shortest_digits(abs(value), width)
    if exponent < GO_SMALL_EXPONENT or exponent >= GO_EXPONENT_LIMIT:
        mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    whole = digits[:exponent + 1].ljust(exponent + 1, "0")
    fraction = digits[exponent + 1:]
    return sign + whole + (f".{fraction}" if fraction else "")


def shortest_digits(value: float, width: Width) -> tuple[str, int]:
    """The fewest significant digits that read back as ``value`` at ``width``, and the decimal
    exponent of the first one: 1234.5 -> ("12345", 3)."""
    pack = NUM_KINDS[ValType.F32 if width == Width.W32 else ValType.F64].pack
    for precision in range(1, MAX_SIGNIFICANT[width] + 1):
        text = f"{value:.{precision - 1}e}"
        if _reads_back(text, value, pack):
            break
    mantissa, exponent = text.split("e")
    return mantissa.replace(".", "").rstrip("0") or "0", int(exponent)


def _reads_back(text: str, value: float, pack: str) -> bool:
    try:
        back: float = struct.unpack(pack, struct.pack(pack, float(text)))[0]
    except OverflowError:
        return False
    return back == value


def format_value(valtype: ValType, raw: Any) -> str:
    """One result as wasm-run prints it: ``42 (uint32)``, ``0.5 (float32)``."""
    kind = NUM_KINDS.get(valtype)
    if kind is None:
        return f"{'<nil>' if raw is None else raw} ({valtype})"
    bits = int(raw) & ((1 << kind.width) - 1)
    if not kind.is_float:
        return f"{bits} ({kind.go_type})"
    value: float = struct.unpack(kind.pack, struct.pack(kind.unpack_bits, bits))[0]
    return f"{go_float(value, kind.width)} ({kind.go_type})"


def parse_arg(valtype: ValType, text: str) -> int:
    """A command-line argument as the bit pattern of ``valtype`` (ints signed or unsigned, any base)."""
    kind = NUM_KINDS.get(valtype)
    if kind is None:
        raise RunError(f"cannot pass a {valtype} argument from the command line")
    if kind.is_float:
        return float_bits(parse_float(text), kind)
    try:
        value = int(text, 0)
    except ValueError:
        raise RunError(f"not an integer for {valtype}: {text!r}") from None
    if not -(1 << (kind.width - 1)) <= value < (1 << kind.width):
        raise RunError(f"{text} does not fit in {valtype}")
    return value & ((1 << kind.width) - 1)


def parse_float(text: str) -> float:
    """A decimal (``1.5``, ``nan``, ``-inf``) or hexadecimal (``0x1p-3``) float."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float.fromhex(text)
    except ValueError:
        raise RunError(f"not a number: {text!r}") from None


def float_bits(value: float, kind: NumKind) -> int:
    """The bit pattern of ``value`` rounded to the kind's width (overflow rounds to infinity)."""
    try:
        packed = struct.pack(kind.pack, value)
    except OverflowError:
        packed = struct.pack(kind.pack, math.copysign(math.inf, value))
    bits: int = struct.unpack(kind.unpack_bits, packed)[0]
    return bits


def as_results(raw: Any, count: int) -> list[Any]:
    """``call_raw``'s answer as a list of ``count`` values."""
    if count == 0:
        return []
    if count == 1 and not isinstance(raw, list | tuple):
        return [raw]
    return list(raw)


# ---------------------------------------------------------------------------
# Loading and linking


@dataclass
class Loaded:
    """A decoded, instantiated module and the file it came from."""

    path: Path
    module: Module
    instance: Any


@dataclass
class Linker:
    """Loads modules and, recursively, the modules they import from (wagon's resolver)."""

    preload: dict[str, Path]
    log: Callable[[str], None] | None = None
    gas_limit: int | None = None
    loaded: dict[Path, Loaded] = field(default_factory=dict)

    def load(self, path: Path, chain: tuple[Path, ...] = ()) -> Loaded:
        """Decode and instantiate ``path`` after everything it imports; ``chain`` detects cycles."""
        key = path.resolve()
        if key in self.loaded:
            return self.loaded[key]
        data = read_file(path)
        module = decode(data)
        if self.log is not None:
            log_sections(self.log, path, data, module)
        imports = {name: self.exports_of(name, path, (*chain, key)) for name in import_modules(module)}
        instance = self.instantiate(module, imports, gas_limit=self.gas_limit if not chain else None)
        if self.log is not None:
            self.log(f"instantiated {path}" + (f" with imports from {', '.join(imports)}" if imports else ""))
        loaded = Loaded(path, module, instance)
        self.loaded[key] = loaded
        return loaded

    def exports_of(self, name: str, importer: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
        """The exports of import module ``name``: preloaded, or ``name.wasm`` beside ``importer``."""
        preloaded = self.preload.get(name)
        path = preloaded or importer.parent / f"{name}.wasm"
        if path.resolve() in chain:
            cycle = " -> ".join(p.name for p in (*chain, path.resolve()))
            raise RunError(f"import cycle: {cycle}")
        if not path.is_file():
            hint = ("" if preloaded else
                    f" (put {name}.wasm beside {importer.name} or use --preload {name}=PATH)")
            raise RunError(f'cannot resolve import module "{name}": no file {path}{hint}')
        try:
            dep = self.load(path, chain)
        except RunError as exc:
            raise RunError(f'import module "{name}" ({path}): {exc}') from exc
        return {e.name: dep.instance.exports[e.name] for e in dep.module.exports}

    @staticmethod
    def instantiate(module: Module, imports: Mapping[str, Mapping[str, Any]], gas_limit: int | None) -> Any:
        try:
            return wasm.instantiate(module, imports=imports, gas_limit=gas_limit)
        except Trap as exc:
            raise RunError(f"start function trapped: {exc}") from exc
        except WasmError as exc:
            raise RunError(str(exc)) from exc


def read_file(path: Path) -> bytes:
    """The file's bytes, or a :class:`RunError` saying why not."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise RunError(exc.strerror or str(exc)) from exc


def decode(data: bytes) -> Module:
    """The decoded, validated module, or a :class:`RunError` with the decoder's message."""
    try:
        return wasm.decode(data)
    except WasmError as exc:
        raise RunError(str(exc)) from exc


def import_modules(module: Module) -> list[str]:
    """The distinct module names the module imports from, in order of first use."""
    return list(dict.fromkeys(imp.module for imp in module.imports))


def log_sections(log: Callable[[str], None], path: Path, data: bytes, module: Module) -> None:
    """``-v``: each section as decoded (kind, offset, size, entries) and a summary of its contents."""
    log(f"decoded {path}: {len(data)} bytes, {len(module.sections)} sections")
    for header, lines in dump.section_details(data, module):
        what = dump.section_title(header) + (f' "{header.name}"' if header.name is not None else "")
        count = "" if header.count is None else f", count {header.count}"
        log(f"section {int(header.id)} {what}: offset {header.start:#x}, size {header.size}{count}")
        for line in lines:
            log(f"  {line.strip()}")


def parse_preload(specs: Sequence[str]) -> dict[str, Path]:
    """``--preload M=PATH`` options as a mapping."""
    out = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise RunError(f"--preload wants MODULE=PATH, not {spec!r}")
        out[name] = Path(path)
    return out


# ---------------------------------------------------------------------------
# Running


@dataclass
class Runner:
    """Calls exports and prints their results in wasm-run's format."""

    loaded: Loaded
    trapped: bool = False

    def func_type(self, index: int) -> FuncType:
        return self.loaded.module.func_types[index]

    def run_all(self, log: Callable[[str], None] | None) -> None:
        """Every exported function without parameters, in export order."""
        for export in self.loaded.module.exports:
            if export.kind != ExternKind.FUNC:
                continue
            ftype = self.func_type(export.index)
            if ftype.params:
                if log is not None:
                    log(f"skipping {export.name}: it takes parameters ({', '.join(ftype.params)})")
                continue
            self.call(export.name, ftype, [], [])

    def invoke(self, name: str, texts: Sequence[str]) -> None:
        """``--invoke NAME ARGS...``."""
        export = next((e for e in self.loaded.module.exports if e.name == name), None)
        if export is None:
            raise RunError(f'no export named "{name}"')
        if export.kind != ExternKind.FUNC:
            raise RunError(f'export "{name}" is a {dump.KIND_NAMES[export.kind]}, not a function')
        ftype = self.func_type(export.index)
        if len(texts) != len(ftype.params):
            raise RunError(f"{name} takes {len(ftype.params)} arguments ({', '.join(ftype.params)}), "
                           f"got {len(texts)}")
        args = [parse_arg(t, text) for t, text in zip(ftype.params, texts, strict=True)]
        self.call(name, ftype, args, texts)

    def call(self, name: str, ftype: FuncType, args: list[int], texts: Sequence[str]) -> None:
        """One call: prints ``name(args) types => values``, or the trap."""
        results = " ".join(ftype.results)
        head = f"{name}({', '.join(texts)}) " + (f"{results} => " if results else "=> ")
        func = self.loaded.instance.exports[name]
        try:
            raw = func.call_raw(args)
        except Trap as exc:
            self.trapped = True
            print(head)
            sys.stdout.flush()
            print(f"{PROG}: err={name}: {exc}", file=sys.stderr)
            return
        except WasmError as exc:
            raise RunError(f"{name}: {exc}") from exc
        values = as_results(raw, len(ftype.results))
        print(head + " ".join(format_value(t, v) for t, v in zip(ftype.results, values, strict=True)))


def gas_limit(text: str) -> int:
    """``--gas N``: a non-negative integer."""
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``run`` arguments."""
    parser.add_argument("file", metavar="FILE.wasm", help="the module to run")
    parser.add_argument("--invoke", nargs="+", metavar=("NAME", "ARG"),
                        help="call only export NAME, with arguments parsed by its parameter types")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log each module's sections as they are decoded (on stderr)")
    parser.add_argument("--preload", action="append", default=[], metavar="MODULE=PATH",
                        help="resolve import module MODULE from PATH instead of MODULE.wasm beside FILE")
    parser.add_argument("--gas", type=gas_limit, metavar="N",
                        help="gas limit; prints the gas used at the end")


def run(args: argparse.Namespace) -> int:
    """Load, link and run; returns the exit status."""
    log = _stderr_log if args.verbose else None
    wasm.prepare_process()  # this process runs wasm: it owns the recursion limit the engine needs
    try:
        linker = Linker(parse_preload(args.preload), log=log, gas_limit=args.gas)
        runner = Runner(linker.load(Path(args.file)))
        if args.invoke:
            runner.invoke(args.invoke[0], args.invoke[1:])
        else:
            runner.run_all(log)
    except RunError as exc:
        sys.stdout.flush()
        print(f"wasmpool: {args.file}: {exc}", file=sys.stderr)
        return Exit.ERROR
    if args.gas is not None:
        print(f"gas used: {runner.loaded.instance.gas_used}")
    return Exit.TRAPPED if runner.trapped else Exit.OK


def _stderr_log(message: str) -> None:
    sys.stdout.flush()
    print(f"{PROG}: {message}", file=sys.stderr)
