"""Interprets the WebAssembly spec suite's JSON scripts against the engine's public API.

Theory of operation
-------------------
``wast2json`` turns each ``.wast`` script into a list of commands. The
commands of one script form a little program: ``module`` instantiates a module
and makes it *current* (and, with ``"name"``, addressable by that name),
``register`` exposes a module's exports to later imports under a module name,
and the assertions perform an *action* (``invoke`` an exported function or
``get`` an exported global) on the current or a named module and check its
outcome. :class:`ScriptRunner` keeps that state (current module, named
modules, the import registry seeded with the ``spectest`` host module) and
turns every execution command into an :class:`Outcome`; ``assert_malformed``
and ``assert_invalid`` belong to the decoder and validator tests and are
skipped here.

Values cross the engine boundary as exact bit patterns (``call_raw`` and
``Global.raw``): i32/f32 as unsigned 32-bit ints, i64/f64 as unsigned 64-bit
ints, references as ``None`` or objects (``ref.extern N`` is an
:class:`ExternRef`). Results are compared bit for bit, except the two NaN
patterns of the spec: ``nan:canonical`` (only the quiet bit of the payload
set, either sign) and ``nan:arithmetic`` (quiet bit set, any payload).

A failure never stops a script: it is recorded as that command's outcome, and
a module that failed to instantiate leaves a :class:`Failure` in its place, so
every later command that depends on it fails with a message naming the
original cause instead of an unrelated one. Nothing is rolled back: as the
spec says, a module whose instantiation traps keeps what it already wrote to
imported memories and tables. Each command runs under a CPU-time limit
(``ITIMER_PROF``, user + system time, on ``SIGPROF``, which leaves
pytest-timeout's ``SIGALRM`` alone) so one hanging command costs only its own
case. Modules are instantiated with runtime limits as wide as the spec's own
(:func:`spec_limits`), not the engine's deployment defaults.

Every script runs on four variants of the engine (:class:`Variant`): the
plain compiled code and the metered code that production always runs,
with a gas limit no script comes near, each with the spec's float semantics
and with canonical NaNs (``canonical_nans=True``, what the pool runs), so
all must give the same outcome for every command. ``strict_nans`` asks more
of the canonical variants: a result the script expects to be
``nan:arithmetic`` must be a canonical NaN, which holds for the suite's
float scripts, whose expected NaNs all come from arithmetic. Each variant
runs the script afresh, so each module is compiled once per variant.

Run it outside pytest with ``python -m tests.wasm.spec_runner [SCRIPT...]``:
it prints per-script pass/fail counts and the first failures of each script.
"""

from __future__ import annotations

import argparse
import signal
import struct
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from types import FrameType
from typing import Any

import wasmpool.wasm as wasm
from tests.conftest import SPEC_SKIP_MESSAGE, spec_dir
from tests.wasm.spec_cases import SpecCommand, load_script, script_names
from wasmpool.wasm import TrapKind
from wasmpool.wasm.types import MAX_PAGES

COMMAND_CPU_SECONDS = 15.0  # CPU time one command may take before it is failed
SPEC_GAS = 10**18  # the metered variant's gas limit per instance: no script comes near it
MESSAGE_LIMIT = 600  # characters of an outcome message


class Command(StrEnum):
    """The command types of a wast2json script."""

    MODULE = "module"
    REGISTER = "register"
    ACTION = "action"
    ASSERT_RETURN = "assert_return"
    ASSERT_TRAP = "assert_trap"
    ASSERT_EXHAUSTION = "assert_exhaustion"
    ASSERT_UNLINKABLE = "assert_unlinkable"
    ASSERT_UNINSTANTIABLE = "assert_uninstantiable"
    ASSERT_MALFORMED = "assert_malformed"
    ASSERT_INVALID = "assert_invalid"


# The commands this harness executes; the other two are the decoder's and validator's.
EXEC_COMMANDS: tuple[str, ...] = tuple(
    c.value for c in Command if c not in (Command.ASSERT_MALFORMED, Command.ASSERT_INVALID)
)

# The spec's trap texts and what they mean. A text matches when it starts with a
# key (the suite sometimes appends detail: "uninitialized element 2").
TRAP_TEXTS: dict[str, TrapKind] = {
    "unreachable": TrapKind.UNREACHABLE,
    "integer divide by zero": TrapKind.INTEGER_DIVIDE_BY_ZERO,
    "integer overflow": TrapKind.INTEGER_OVERFLOW,
    "invalid conversion to integer": TrapKind.INVALID_CONVERSION,
    "out of bounds memory access": TrapKind.OUT_OF_BOUNDS_MEMORY,
    "out of bounds table access": TrapKind.OUT_OF_BOUNDS_TABLE,
    "undefined element": TrapKind.UNDEFINED_ELEMENT,
    "uninitialized element": TrapKind.UNINITIALIZED_ELEMENT,
    "indirect call type mismatch": TrapKind.INDIRECT_CALL_TYPE_MISMATCH,
    "call stack exhausted": TrapKind.STACK_EXHAUSTED,
}

NUM_WIDTH: dict[str, int] = {"i32": 32, "i64": 64, "f32": 32, "f64": 64}
REF_TYPES: frozenset[str] = frozenset({"funcref", "externref"})
# Canonical NaN: exponent all ones and only the quiet (top payload) bit set. An
# arithmetic NaN has at least these bits set; the sign is free in both.
CANONICAL_NAN: dict[str, int] = {"f32": 0x7FC0_0000, "f64": 0x7FF8_0000_0000_0000}
SIGN_BIT: dict[str, int] = {"f32": 1 << 31, "f64": 1 << 63}
NULL = "null"


class NanKind(StrEnum):
    """The NaN patterns an expected float result may name."""

    CANONICAL = "nan:canonical"
    ARITHMETIC = "nan:arithmetic"


_NAN_TEXTS = frozenset(kind.value for kind in NanKind)


class SpecFormatError(ValueError):
    """A script value this harness cannot represent (a bug in the script or in us)."""


class CommandFailure(Exception):
    """A command's assertion did not hold; the message says why."""


class CommandTimeout(BaseException):
    """A command used up its CPU time. A BaseException so engine ``except Exception`` cannot eat it."""


@dataclass(frozen=True, slots=True)
class ExternRef:
    """The script value ``ref.extern N``: an opaque host reference, equal by ``n``."""

    n: int

    def __repr__(self) -> str:
        return f"ref.extern {self.n}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The verdict on one command."""

    passed: bool
    message: str = ""


PASSED = Outcome(True)


class Variant(StrEnum):
    """The engine's kinds of compiled code, each of which runs every script."""

    PLAIN = "plain"
    METERED = "metered"
    CANONICAL = "canonical"
    CANONICAL_METERED = "canonical-metered"


VARIANT_GAS: dict[Variant, int | None] = {
    Variant.PLAIN: None, Variant.METERED: SPEC_GAS,
    Variant.CANONICAL: None, Variant.CANONICAL_METERED: SPEC_GAS,
}
"""The gas limit each variant's instances get (metered code iff there is one)."""

CANONICAL_VARIANTS: frozenset[Variant] = frozenset({Variant.CANONICAL, Variant.CANONICAL_METERED})
"""The variants compiled with ``canonical_nans=True``."""


@dataclass(frozen=True, slots=True)
class Failure:
    """Stands in for a module that failed to instantiate: where and why."""

    source: str  # e.g. "the module of line 12"
    reason: str

    def __str__(self) -> str:
        return f"{self.source} failed: {self.reason}"


# A module slot: the exports of a live instance, or why there is none.
Slot = Mapping[str, Any] | Failure


# ---------------------------------------------------------------- values


def trap_kind_for(text: str) -> TrapKind | None:
    """The :class:`TrapKind` a spec trap text means (longest matching prefix), or None."""
    kind = TRAP_TEXTS.get(text)
    if kind is not None:
        return kind
    matches = [key for key in TRAP_TEXTS if text.startswith(key)]
    return TRAP_TEXTS[max(matches, key=len)] if matches else None


def _parse_bits(vtype: str, text: str) -> int:
    """A numeric value's bit pattern from its unsigned decimal text, range-checked."""
    try:
        bits = int(text, 10)
    except ValueError:
        raise SpecFormatError(f"{vtype} value {text!r} is not an unsigned decimal") from None
    if not 0 <= bits < 1 << NUM_WIDTH[vtype]:
        raise SpecFormatError(f"{vtype} value {text} does not fit in {NUM_WIDTH[vtype]} bits")
    return bits


def _parse_ref(vtype: str, text: str) -> ExternRef | None:
    """A reference argument: null, or ``ref.extern N``."""
    if text == NULL:
        return None
    if vtype == "externref":
        return ExternRef(_parse_bits("i64", text))
    raise SpecFormatError(f"a non-null {vtype} argument cannot be written in a script: {text!r}")


def parse_arg(value: Mapping[str, Any]) -> object:
    """A script argument as the raw value ``call_raw`` takes."""
    vtype, text = value["type"], value.get("value")
    if not isinstance(text, str):
        raise SpecFormatError(f"argument without a value: {dict(value)}")
    if vtype in NUM_WIDTH:
        return _parse_bits(vtype, text)
    if vtype in REF_TYPES:
        return _parse_ref(vtype, text)
    raise SpecFormatError(f"unknown value type {vtype!r}")


def format_value(vtype: str, value: object) -> str:
    """A raw value for messages: type, bits, and the number they mean."""
    if vtype in NUM_WIDTH and type(value) is int and 0 <= value < 1 << NUM_WIDTH[vtype]:
        return _NUM_FORMATTERS[vtype](value)
    if vtype in REF_TYPES:
        return f"{vtype}:{NULL if value is None else repr(value)}"
    return f"{value!r} (not a {vtype} bit pattern)"


def _signed(bits: int, width: int) -> int:
    return bits - (1 << width) if bits >> (width - 1) else bits


def _float_text(fmt: str, bits: int) -> str:
    packed = struct.pack("<I" if fmt == "<f" else "<Q", bits)
    return repr(struct.unpack(fmt, packed)[0])


_NUM_FORMATTERS: dict[str, Callable[[int], str]] = {
    "i32": lambda b: f"i32:{_signed(b, 32)} (0x{b:08x})",
    "i64": lambda b: f"i64:{_signed(b, 64)} (0x{b:016x})",
    "f32": lambda b: f"f32:0x{b:08x} ({_float_text('<f', b)})",
    "f64": lambda b: f"f64:0x{b:016x} ({_float_text('<d', b)})",
}


class Expected(ABC):
    """An expected result of type ``vtype``: says whether a raw value matches and how it reads."""

    vtype: str

    @abstractmethod
    def matches(self, actual: object) -> bool:
        """Whether the raw result ``actual`` is acceptable."""

    @abstractmethod
    def describe(self) -> str:
        """The expectation as the script means it."""


@dataclass(frozen=True, slots=True)
class ExactBits(Expected):
    """A number that must come back with exactly these bits."""

    vtype: str
    bits: int

    def matches(self, actual: object) -> bool:
        return type(actual) is int and actual == self.bits

    def describe(self) -> str:
        return format_value(self.vtype, self.bits)


@dataclass(frozen=True, slots=True)
class NanPattern(Expected):
    """A float result that must be a canonical or an arithmetic NaN (either sign)."""

    vtype: str
    kind: NanKind

    def matches(self, actual: object) -> bool:
        if type(actual) is not int or not 0 <= actual < 1 << NUM_WIDTH[self.vtype]:
            return False
        canonical = CANONICAL_NAN[self.vtype]
        if self.kind is NanKind.CANONICAL:
            return actual & ~SIGN_BIT[self.vtype] == canonical
        return actual & canonical == canonical

    def describe(self) -> str:
        return f"{self.vtype}:{self.kind.value}"


@dataclass(frozen=True, slots=True)
class RefResult(Expected):
    """A reference result: null, ``ref.extern N``, or (``nonnull``) any non-null function."""

    vtype: str
    ref: ExternRef | None
    nonnull: bool = False

    def matches(self, actual: object) -> bool:
        if self.nonnull:
            return actual is not None
        if self.ref is None:
            return actual is None
        return isinstance(actual, ExternRef) and actual == self.ref

    def describe(self) -> str:
        return f"{self.vtype}:{'non-null' if self.nonnull else NULL if self.ref is None else repr(self.ref)}"


def _expected_number(vtype: str, text: str) -> Expected:
    if text in _NAN_TEXTS:
        if vtype not in CANONICAL_NAN:
            raise SpecFormatError(f"{text} expected for {vtype}")
        return NanPattern(vtype, NanKind(text))
    return ExactBits(vtype, _parse_bits(vtype, text))


def _expected_ref(vtype: str, text: str) -> Expected:
    if text == NULL:
        return RefResult(vtype, None)
    if vtype == "externref":
        return RefResult(vtype, ExternRef(_parse_bits("i64", text)))
    return RefResult(vtype, None, nonnull=True)


_EXPECTED_PARSERS: dict[str, Callable[[str, str], Expected]] = {
    **dict.fromkeys(NUM_WIDTH, _expected_number),
    **dict.fromkeys(REF_TYPES, _expected_ref),
}


def parse_expected(value: Mapping[str, Any]) -> Expected:
    """A script's expected result as a matcher."""
    vtype, text = value["type"], value.get("value")
    parser = _EXPECTED_PARSERS.get(vtype)
    if parser is None:
        raise SpecFormatError(f"unknown value type {vtype!r}")
    if not isinstance(text, str):
        raise SpecFormatError(f"expected result without a value: {dict(value)}")
    return parser(vtype, text)


def canonical_expectation(want: Expected) -> Expected:
    """``want`` under canonical NaNs, for NaNs made by arithmetic: an arithmetic NaN must be canonical.

    The sign stays free because a bit operation (``neg``, ``copysign``) may
    flip the sign of a canonical NaN after the arithmetic that made it.
    """
    if isinstance(want, NanPattern):
        return NanPattern(want.vtype, NanKind.CANONICAL)
    return want


def check_results(expected: Sequence[Expected], actual: Sequence[object]) -> list[str]:
    """Every way ``actual`` differs from ``expected``: empty when they match."""
    if len(actual) != len(expected):
        return [f"expected {len(expected)} results, got {len(actual)}: {list(actual)!r}"]
    return [
        f"result {i}: expected {want.describe()}, got {format_value(want.vtype, got)}"
        for i, (want, got) in enumerate(zip(expected, actual, strict=True))
        if not want.matches(got)
    ]


def results_of(raw: object, count: int) -> list[object]:
    """``call_raw``'s return value as a list of ``count`` results.

    The engine returns None, the bare value, or a tuple (like the public call);
    an always-a-sequence convention is accepted too. Since no raw value is
    itself a list or tuple (references are None or objects), this is
    unambiguous once the function's result count is known.
    """
    if count == 1 and not isinstance(raw, list | tuple):
        return [raw]
    if raw is None and count == 0:
        return []
    if isinstance(raw, list | tuple) and len(raw) == count:
        return list(raw)
    raise CommandFailure(f"call_raw returned {raw!r} for a function with {count} results")


def describe_error(exc: BaseException) -> str:
    """An exception for messages: class, trap kind, text, and its cause."""
    kind = getattr(exc, "kind", None)
    label = type(exc).__name__ + (f"[{kind.name}]" if isinstance(kind, TrapKind) else "")
    text = f"{label}: {exc}"
    if exc.__cause__ is not None:
        text += f" (caused by {type(exc.__cause__).__name__}: {exc.__cause__})"
    return text


def _shorten(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 3] + "..."


# ---------------------------------------------------------------- spectest


SPECTEST = "spectest"
SPECTEST_F32_BITS = 0x4426A666  # 666.6 rounded to f32
SPECTEST_F64 = 666.6
SPECTEST_PRINTS = (
    "print", "print_i32", "print_i64", "print_f32", "print_f64", "print_i32_f32", "print_f64_f64",
)


def _spectest_print(*args: object) -> None:
    """The spectest ``print*`` functions: accept their arguments and do nothing."""


def spectest_exports() -> dict[str, Any]:
    """A fresh ``spectest`` host module, as the spec's reference interpreter defines it."""
    f32_value = struct.unpack("<f", struct.pack("<I", SPECTEST_F32_BITS))[0]
    exports: dict[str, Any] = dict.fromkeys(SPECTEST_PRINTS, _spectest_print)
    exports.update(
        global_i32=wasm.Global("i32", 666),
        global_i64=wasm.Global("i64", 666),
        global_f32=wasm.Global("f32", f32_value),
        global_f64=wasm.Global("f64", SPECTEST_F64),
        table=wasm.Table(10, 20, elem="funcref"),
        memory=wasm.Memory(1, 2),
    )
    return exports


def spec_limits() -> Any:
    """Runtime limits as wide as the spec's own: memories may grow to 4 GiB.

    The engine's default memory cap (a deployment policy) is below sizes the
    suite grows to successfully (e.g. 804 pages in ``memory_grow``); the suite
    never grows a memory past a few MiB of real allocation.
    """
    return wasm.RuntimeLimits(memory_pages=MAX_PAGES)


# ---------------------------------------------------------------- CPU limit


def _timer_usable() -> bool:
    return hasattr(signal, "SIGPROF") and threading.current_thread() is threading.main_thread()


@contextmanager
def cpu_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`CommandTimeout` in the body once it has used ``seconds`` of CPU time."""
    if seconds is None or not _timer_usable():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise CommandTimeout(f"took more than {seconds:g} s of CPU time")

    previous = signal.signal(signal.SIGPROF, expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


# ---------------------------------------------------------------- the interpreter


class ScriptRunner:
    """Executes one script's commands in order, keeping the state they share."""

    def __init__(self, load_module: Callable[[str], bytes],
                 cpu_seconds: float | None = COMMAND_CPU_SECONDS, variant: Variant = Variant.PLAIN,
                 strict_nans: bool = False) -> None:
        self.load_module = load_module
        self.cpu_seconds = cpu_seconds
        self.gas_limit = VARIANT_GAS[variant]
        self.canonical_nans = variant in CANONICAL_VARIANTS
        self.strict_nans = strict_nans and self.canonical_nans  # arithmetic NaNs must be canonical
        self.registry: dict[str, Mapping[str, Any]] = {}
        self.failed_registrations: dict[str, Failure] = {}
        try:
            self.registry[SPECTEST] = spectest_exports()
        except Exception as exc:  # an engine without Memory/Table/Global: fail the importers, not the run
            self.failed_registrations[SPECTEST] = Failure("the spectest host module", describe_error(exc))
        self.named: dict[str, Slot] = {}
        self.current: Slot | None = None
        self._handlers: dict[str, Callable[[Mapping[str, Any]], None]] = {
            Command.MODULE: self._module,
            Command.REGISTER: self._register,
            Command.ACTION: self._action,
            Command.ASSERT_RETURN: self._assert_return,
            Command.ASSERT_TRAP: self._assert_trap,
            Command.ASSERT_EXHAUSTION: self._assert_exhaustion,
            Command.ASSERT_UNLINKABLE: self._assert_unlinkable,
            Command.ASSERT_UNINSTANTIABLE: self._assert_uninstantiable,
        }

    def run(self, commands: Sequence[Mapping[str, Any]]) -> Iterator[Outcome | None]:
        """Each command's outcome, in order (None for commands that are not executed here)."""
        for command in commands:
            yield self.execute(command)

    def execute(self, command: Mapping[str, Any]) -> Outcome | None:
        """Run one command; never raises for a failing command (only for interruptions)."""
        handler = self._handlers.get(command["type"])
        if handler is None:
            return None
        try:
            with cpu_limit(self.cpu_seconds):
                handler(command)
        except CommandTimeout as exc:
            return Outcome(False, f"timeout: {exc}")
        except CommandFailure as exc:
            return Outcome(False, _shorten(str(exc)))
        except Exception as exc:
            return Outcome(False, _shorten(f"unexpected {describe_error(exc)}"))
        return PASSED

    # -- modules

    def _instantiate(self, command: Mapping[str, Any]) -> Any:
        """Decode and instantiate the command's module against the registry."""
        if command.get("module_type", "binary") != "binary":
            raise CommandFailure(f"{command['module_type']} modules are not supported: {command['filename']}")
        module = wasm.decode(self.load_module(command["filename"]))
        for imp in module.imports:
            failed = self.failed_registrations.get(imp.module)
            if failed is not None:
                raise CommandFailure(f"imports {imp.module}.{imp.name}, but {failed}")
        return wasm.instantiate(module, imports=self.registry, limits=spec_limits(), gas_limit=self.gas_limit,
                                canonical_nans=self.canonical_nans)

    def _bind(self, command: Mapping[str, Any], slot: Slot) -> None:
        self.current = slot
        if "name" in command:
            self.named[command["name"]] = slot

    def _module(self, command: Mapping[str, Any]) -> None:
        # Bound before instantiating so an interrupted module is a failure too.
        self._bind(command, Failure(_module_source(command), "it did not finish"))
        try:
            instance = self._instantiate(command)
        except CommandFailure as exc:
            self._bind(command, Failure(_module_source(command), str(exc)))
            raise
        except Exception as exc:
            self._bind(command, Failure(_module_source(command), describe_error(exc)))
            raise CommandFailure(f"{command['filename']}: {describe_error(exc)}") from exc
        self._bind(command, instance.exports)

    def _register(self, command: Mapping[str, Any]) -> None:
        slot = self._slot(command.get("name"))
        name = command["as"]
        if isinstance(slot, Failure):
            self.registry.pop(name, None)
            self.failed_registrations[name] = slot
            raise CommandFailure(f"cannot register {name!r}: {slot}")
        self.failed_registrations.pop(name, None)
        self.registry[name] = slot

    def _slot(self, name: str | None) -> Slot:
        """The current module, or the one with this ``$name`` or registered name."""
        if name is None:
            if self.current is None:
                raise CommandFailure("no module has been instantiated yet")
            return self.current
        for scope in (self.named, self.registry, self.failed_registrations):
            if name in scope:
                return scope[name]
        raise CommandFailure(f"no module named {name!r}")

    def _expect_instantiation_error(self, command: Mapping[str, Any], error: type[Exception]) -> Exception:
        """Instantiate a module that must fail with ``error``; return that error."""
        try:
            self._instantiate(command)
        except error as exc:
            return exc
        except CommandFailure:
            raise
        except Exception as exc:
            raise CommandFailure(
                f"expected {error.__name__} ({command['text']!r}), got {describe_error(exc)}"
            ) from exc
        raise CommandFailure(f"module instantiated, expected {error.__name__}: {command['text']!r}")

    def _assert_unlinkable(self, command: Mapping[str, Any]) -> None:
        self._expect_instantiation_error(command, wasm.LinkError)

    def _assert_uninstantiable(self, command: Mapping[str, Any]) -> None:
        trap = self._expect_instantiation_error(command, wasm.Trap)
        _check_trap_kind(trap, command["text"])

    # -- actions

    def _perform(self, action: Mapping[str, Any]) -> list[object]:
        """Invoke a function or read a global; the raw results."""
        slot = self._slot(action.get("module"))
        if isinstance(slot, Failure):
            raise CommandFailure(f"cannot {action['type']} {action['field']!r}: {slot}")
        try:
            export = slot[action["field"]]
        except KeyError:
            raise CommandFailure(f"no export named {action['field']!r}") from None
        return _ACTIONS[action["type"]](export, action)

    def _action(self, command: Mapping[str, Any]) -> None:
        results = self._perform(command["action"])
        expected = command.get("expected")
        if expected is not None and len(results) != len(expected):
            raise CommandFailure(f"expected {len(expected)} results, got {results!r}")

    def _assert_return(self, command: Mapping[str, Any]) -> None:
        action = command["action"]
        expected = [parse_expected(value) for value in command["expected"]]
        if self.strict_nans:
            expected = [canonical_expectation(want) for want in expected]
        try:
            results = self._perform(action)
        except wasm.Trap as trap:
            raise CommandFailure(f"{_action_text(action)} trapped: {describe_error(trap)}") from trap
        problems = check_results(expected, results)
        if problems:
            raise CommandFailure(f"{_action_text(action)}: " + "; ".join(problems))

    def _assert_trap(self, command: Mapping[str, Any]) -> None:
        if "action" not in command:  # a module whose instantiation must trap
            self._assert_uninstantiable(command)
            return
        trap = self._expect_action_error(command, wasm.Trap)
        _check_trap_kind(trap, command["text"])

    def _assert_exhaustion(self, command: Mapping[str, Any]) -> None:
        exhausted = self._expect_action_error(command, wasm.StackExhausted)
        _check_trap_kind(exhausted, command["text"])

    def _expect_action_error(self, command: Mapping[str, Any], error: type[Exception]) -> Exception:
        action = command["action"]
        try:
            results = self._perform(action)
        except error as exc:
            return exc
        except CommandFailure:
            raise
        except Exception as exc:
            raise CommandFailure(
                f"{_action_text(action)}: expected {error.__name__} ({command['text']!r}), "
                f"got {describe_error(exc)}"
            ) from exc
        raise CommandFailure(
            f"{_action_text(action)}: expected {error.__name__} ({command['text']!r}), returned {results!r}"
        )


def _module_source(command: Mapping[str, Any]) -> str:
    return f"the module of line {command.get('line', '?')} ({command['filename']})"


def _invoke(export: Any, action: Mapping[str, Any]) -> list[object]:
    args = [parse_arg(value) for value in action.get("args", ())]
    return results_of(export.call_raw(args), len(export.type.results))


def _get(export: Any, action: Mapping[str, Any]) -> list[object]:
    return [export.raw]


_ACTIONS: dict[str, Callable[[Any, Mapping[str, Any]], list[object]]] = {"invoke": _invoke, "get": _get}


def _action_text(action: Mapping[str, Any]) -> str:
    """An action as the script wrote it, e.g. ``invoke "add"(i32:1 (0x00000001), ...)``."""
    where = f"{action['module']}." if "module" in action else ""
    if "args" not in action:
        return f"{action['type']} {where}{action['field']!r}"
    args = ", ".join(format_value(a["type"], _safe_arg(a)) for a in action["args"])
    return f"{action['type']} {where}{action['field']!r}({args})"


def _safe_arg(value: Mapping[str, Any]) -> object:
    try:
        return parse_arg(value)
    except SpecFormatError:
        return value.get("value")


def _check_trap_kind(trap: Exception, text: str) -> None:
    """The trap must mean what the script's text says."""
    kind = trap_kind_for(text)
    if kind is None:
        raise CommandFailure(f"unknown trap text {text!r} (add it to TRAP_TEXTS); got {describe_error(trap)}")
    actual = getattr(trap, "kind", None)
    if actual != kind:
        raise CommandFailure(
            f"trap kind mismatch: expected {text!r} ({kind.name}), got {describe_error(trap)}"
        )


# ---------------------------------------------------------------- the suite


def run_spec_script(name: str, cpu_seconds: float | None = COMMAND_CPU_SECONDS,
                    variant: Variant = Variant.PLAIN,
                    strict_nans: bool = False) -> Iterator[tuple[SpecCommand, Outcome]]:
    """Run one spec script on one variant; yield each execution command with its outcome, as it completes."""
    commands = load_script(name)
    runner = ScriptRunner(lambda filename: (commands[0].directory / filename).read_bytes(), cpu_seconds,
                          variant, strict_nans)
    for command in commands:
        outcome = runner.execute(command.command)
        if outcome is not None:
            yield command, outcome


class SuiteResults:
    """Runs each script once per variant, on first demand, and keeps only the outcomes.

    Instances are dropped with the script's runner, so nothing is cached
    across scripts but verdicts. If a run is interrupted (a pytest timeout),
    the commands it did not reach report that instead of running it again.
    """

    def __init__(self, cpu_seconds: float | None = COMMAND_CPU_SECONDS) -> None:
        self.cpu_seconds = cpu_seconds
        self._outcomes: dict[tuple[str, Variant], dict[int, Outcome]] = {}

    def outcome(self, command: SpecCommand, variant: Variant = Variant.PLAIN) -> Outcome:
        key = (command.script, variant)
        outcomes = self._outcomes.get(key)
        if outcomes is None:
            outcomes = self._outcomes[key] = {}
            for done, outcome in run_spec_script(command.script, self.cpu_seconds, variant):
                outcomes[done.index] = outcome
        found = outcomes.get(command.index)
        if found is None:
            return Outcome(False, f"not run: the {variant} run of script {command.script!r} was interrupted "
                                  "before this command (see the first failing case of that script)")
        return found


# ---------------------------------------------------------------- command line


def _print_script(name: str, results: list[tuple[SpecCommand, Outcome]], seconds: float, show: int) -> None:
    failures = [(c, o) for c, o in results if not o.passed]
    status = "ok" if not failures else "FAIL"
    print(f"{name:<30} {len(results) - len(failures):>6}/{len(results):<6} {status:<4} {seconds:7.2f} s")
    for command, outcome in failures[:show]:
        print(f"    {command.id}: {outcome.message}")
    if len(failures) > show:
        print(f"    ... and {len(failures) - show} more")


def main(argv: Sequence[str] | None = None) -> int:
    """Run scripts outside pytest; print per-script counts and the first failures."""
    parser = argparse.ArgumentParser(prog="python -m tests.wasm.spec_runner", description=main.__doc__)
    parser.add_argument("scripts", nargs="*", help="script names (default: all non-SIMD scripts)")
    parser.add_argument("--show", type=int, default=3, metavar="N", help="failures to print per script")
    parser.add_argument("--variant", choices=[v.value for v in Variant], action="append",
                        help="run only this variant (repeatable; default: both)")
    args = parser.parse_args(argv)
    variants = [Variant(v) for v in args.variant] if args.variant else list(Variant)
    wasm.prepare_process()
    if spec_dir() is None:
        print(SPEC_SKIP_MESSAGE, file=sys.stderr)
        return 2
    available = script_names()
    unknown = sorted(set(args.scripts) - set(available))
    if unknown:
        parser.error(f"unknown scripts: {', '.join(unknown)}")
    passed = total = 0
    start = time.perf_counter()
    for name in args.scripts or available:
        for variant in variants:
            began = time.perf_counter()
            results = list(run_spec_script(name, variant=variant))
            _print_script(f"{name} ({variant})", results, time.perf_counter() - began, args.show)
            passed += sum(o.passed for _, o in results)
            total += len(results)
    print(f"{'total':<30} {passed:>6}/{total:<6} {'ok' if passed == total else 'FAIL':<4} "
          f"{time.perf_counter() - start:7.2f} s")
    return 0 if passed == total else 1


if __name__ == "__main__":
    sys.exit(main())
