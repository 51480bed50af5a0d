"""Running a generated module on several execution paths and comparing what they did.

A *path* instantiates the module and makes its calls in order on that one
instance; after each call it records an :class:`Outcome`: the results' bit
patterns or the trap kind, and a digest of the state the call left (memory
bytes and every global). Paths here: the engine unmetered, the engine
metered (with gas to spare), and the reference interpreter; each also with
``canonical_nans=True`` (:data:`CANONICAL_PATHS`, against the reference with
the same option). Outcomes compare exactly, bit for bit, NaNs included (see
``tests/wasm/test_differential.py`` for why that is right for these paths).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import wasmpool.wasm as wasm
from wasmpool.wasm import reference

from ..recursion import engine_recursion
from .modules import GeneratedModule

GAS = 10**12  # the metered path's gas: enough for any generated call


@dataclass(frozen=True)
class Outcome:
    """What one call did: results (bit patterns) or trap kind, and the state after it."""

    results: tuple[Any, ...] | None
    trap: str | None
    state: int

    def __str__(self) -> str:
        what = f"trap {self.trap}" if self.trap else f"results {_hex(self.results or ())}"
        return f"{what}, state {self.state:08x}"


def _hex(values: Sequence[Any]) -> str:
    return "(" + ", ".join(f"{v:#x}" if isinstance(v, int) else repr(v) for v in values) + ")"


def as_tuple(raw: Any, count: int) -> tuple[Any, ...]:
    """``call_raw``'s None / one value / tuple as a tuple of ``count`` values."""
    if count == 1:
        return (raw,)
    return () if raw is None else tuple(raw)


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, wasm.Trap):
        return exc.kind.name
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class Run:
    """A path's whole run: an instantiation error, or one outcome per call.

    For the reference's runs, ``nan_choices`` holds the calls in which two
    different NaNs met in a float instruction (the spec lets either come out,
    and the engine's choice varies, see :mod:`wasmpool.wasm.reference`), and
    ``nan_made`` the calls that made any NaN whose sign and payload the spec
    leaves open (what another engine may legitimately do differently).
    """

    error: str | None
    outcomes: tuple[Outcome, ...]
    nan_choices: frozenset[int] = frozenset()
    nan_made: frozenset[int] = frozenset()


def _run(instance: Any, generated: GeneratedModule, state: Callable[[], int],
         nan_counts: Callable[[], tuple[int, int]] = lambda: (0, 0)) -> Run:
    outcomes: list[Outcome] = []
    choices: set[int] = set()
    made: set[int] = set()
    counts = nan_counts()
    for index, call in enumerate(generated.calls):
        func = instance.exports[call.export]
        try:
            results: tuple[Any, ...] | None = as_tuple(func.call_raw(list(call.args)), len(func.type.results))
            trap = None
        except Exception as exc:  # a trap, or a crash (a Python error leaking out of compiled code)
            results, trap = None, _describe_error(exc)
        outcomes.append(Outcome(results, trap, state()))
        now = nan_counts()
        if now[0] != counts[0]:
            choices.add(index)
        if now[1] != counts[1]:
            made.add(index)
        counts = now
    return Run(None, tuple(outcomes), frozenset(choices), frozenset(made))


def _digest(memory: bytes | bytearray, globals_: Sequence[Any]) -> int:
    return zlib.crc32(bytes(memory) + repr(list(globals_)).encode())


def _global_names(exports: Any) -> list[str]:
    """The exported globals ``g0``, ``g1``... in index order."""
    return sorted((n for n in exports if n[0] == "g" and n[1:].isdigit()), key=lambda n: int(n[1:]))


def run_engine(module: wasm.Module, generated: GeneratedModule, gas_limit: int | None,
               canonical: bool = False) -> Run:
    """The engine's run (``gas_limit`` None: unmetered; ``canonical``: with ``canonical_nans``)."""
    try:
        instance = wasm.instantiate(module, {}, gas_limit=gas_limit, canonical_nans=canonical)
    except Exception as exc:  # a compile error is a finding, not a crash of the harness
        return Run(_describe_error(exc), ())
    exports = instance.exports
    names = _global_names(exports)
    return _run(instance, generated, lambda: _digest(exports["mem"].data, [exports[n].raw for n in names]))


def run_reference(module: wasm.Module, generated: GeneratedModule, canonical: bool = False) -> Run:
    """The reference interpreter's run (``canonical``: with ``canonical_nans``, leaving no NaN bits open)."""
    try:
        instance = reference.instantiate(module, canonical_nans=canonical)
    except wasm.WasmError as exc:
        return Run(_describe_error(exc), ())
    exports = instance.exports
    names = _global_names(exports)
    return _run(instance, generated, lambda: _digest(exports["mem"].data, [exports[n].value for n in names]),
                lambda: (instance.nan_choices, instance.nan_results))


PATHS: dict[str, Callable[[wasm.Module, GeneratedModule], Run]] = {
    "engine": lambda m, g: run_engine(m, g, None),
    "engine-metered": lambda m, g: run_engine(m, g, GAS),
    "reference": run_reference,
}

CANONICAL_PATHS: dict[str, Callable[[wasm.Module, GeneratedModule], Run]] = {
    "engine": lambda m, g: run_engine(m, g, None, canonical=True),
    "engine-metered": lambda m, g: run_engine(m, g, GAS, canonical=True),
    "reference": lambda m, g: run_reference(m, g, canonical=True),
}
"""The same paths with ``canonical_nans=True``: compared with the canonical reference, every call exactly."""


@dataclass(frozen=True)
class Mismatch:
    """A call (or the instantiation) where a path differs from the reference."""

    path: str
    call: int | None
    expected: str
    actual: str

    def __str__(self) -> str:
        where = "instantiation" if self.call is None else f"call #{self.call}"
        return f"{self.path}: {where}: reference {self.expected}, {self.path} {self.actual}"


def exact_calls(expected: Run, actual: Run, open_calls: frozenset[int]) -> list[bool]:
    """Which calls must agree exactly: those that start from the same state and are not in ``open_calls``.

    Everything a call can see of earlier calls is in the memory and globals,
    whose digests both runs record; a call whose NaN bits are open (see
    :class:`Run`) may leave a different state, and then later calls may differ too.
    """
    exact = []
    for i in range(min(len(expected.outcomes), len(actual.outcomes))):
        same_start = i == 0 or expected.outcomes[i - 1].state == actual.outcomes[i - 1].state
        exact.append(same_start and i not in open_calls)
    return exact


def diff_runs(path: str, expected: Run, actual: Run, generated: GeneratedModule) -> list[Mismatch]:
    """Every difference of ``actual`` from the reference's run, except where NaN bits were open."""
    if expected.error or actual.error:
        if expected.error != actual.error:
            return [Mismatch(path, None, str(expected.error), str(actual.error))]
        return []
    found = []
    exact = exact_calls(expected, actual, expected.nan_choices)
    for i, (want, got) in enumerate(zip(expected.outcomes, actual.outcomes, strict=True)):
        if exact[i] and want != got:
            call = generated.calls[i]
            found.append(Mismatch(path, i, f"{call.export}{_hex(call.args)} -> {want}", str(got)))
    return found


ENGINE_PATHS = ("engine", "engine-metered")


def compare(generated: GeneratedModule, paths: Sequence[str] = ENGINE_PATHS,
            canonical: bool = False) -> list[Mismatch]:
    """Run the module on the reference and on ``paths`` (all with ``canonical_nans`` if ``canonical``).

    Runs under hypothesis, which sets its own recursion limit while a test
    runs: the engine's is raised for the comparison and put back afterwards.
    """
    module = wasm.decode(generated.wasm)
    with engine_recursion():
        expected = run_reference(module, generated, canonical)
        table = CANONICAL_PATHS if canonical else PATHS
        found: list[Mismatch] = []
        for path in paths:
            found += diff_runs(path, expected, table[path](module, generated), generated)
    return found
