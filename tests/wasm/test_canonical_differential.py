"""Differential tests of ``canonical_nans``: NaN-rich generated programs, every NaN compared bit for bit.

With canonical NaNs nothing about a NaN is left open: every NaN float
arithmetic makes is the positive canonical NaN and every NaN that is only
moved (locals, globals, memory, ``select``, calls, ``neg``, ``abs``,
``copysign``, ``reinterpret``) keeps its bits. So the compiled engine,
unmetered and metered, must agree with the reference interpreter on every
call, NaN payloads and signs included, with no call excused. The NaN-rich
profiles of :mod:`tests.wasm.gen` (``nans``, ``control-nans``) make NaNs with
payloads and move them through every place where the compiler leaves out a
check (``wasmpool.wasm.compiler.nans``). ``bench/differential.py --canonical``
runs the same comparison at scale, with wasmtime as a third opinion.
"""

from __future__ import annotations

import pytest

import wasmpool.wasm as wasm
from tests.wasm.gen.compare import compare, run_engine, run_reference
from tests.wasm.gen.modules import GeneratedModule, generate_module
from tests.wasm.gen.values import Chooser, draw_nan
from tests.wasm.recursion import engine_recursion
from wasmpool.wasm.types import ValType

F32_CANONICAL, F64_CANONICAL = 0x7FC0_0000, 0x7FF8_0000_0000_0000


def _float_results(generated: GeneratedModule, canonical: bool) -> list[tuple[ValType, int]]:
    """Every float result (type, bits) of the reference's calls."""
    module = wasm.decode(generated.wasm)
    with engine_recursion():
        run = run_reference(module, generated, canonical)
    found = []
    for call, outcome in zip(generated.calls, run.outcomes, strict=True):
        if outcome.results is None:  # trapped
            continue
        types = module.func_types[int(call.export[1:])].results
        found += [(t, bits) for t, bits in zip(types, outcome.results, strict=True)
                  if t in (ValType.F32, ValType.F64)]
    return found


def _is_nan(vtype: ValType, bits: int) -> bool:
    if vtype == ValType.F32:
        return bits & 0x7FFF_FFFF > 0x7F80_0000
    return bits & 0x7FFF_FFFF_FFFF_FFFF > 0x7FF0_0000_0000_0000


@pytest.mark.parametrize("seed", range(12))
def test_nan_rich_programs_agree_exactly_with_canonical_nans(seed: int) -> None:
    generated = generate_module(seed, "nans", 12)
    found = compare(generated, canonical=True)
    assert not found, "\n".join(str(m) for m in found[:5]) + f"\ngenerate_module({seed}, 'nans', 12)"


@pytest.mark.parametrize("seed", range(8))
def test_nan_rich_control_flow_agrees_exactly_with_canonical_nans(seed: int) -> None:
    generated = generate_module(seed, "control-nans", 5)
    found = compare(generated, canonical=True)
    assert not found, "\n".join(str(m) for m in found[:5]) + f"\ngenerate_module({seed}, 'control-nans', 5)"


def test_nan_rich_programs_return_nans_of_every_kind() -> None:
    """Many float results are NaNs, with payloads and signs; with the option, NaNs still come out."""
    plain = [r for seed in range(6) for r in _float_results(generate_module(seed, "nans", 12), False)]
    nans = [(t, bits) for t, bits in plain if _is_nan(t, bits)]
    assert len(nans) * 5 > len(plain)  # NaN-rich: over a fifth of the float results
    other = {bits for t, bits in nans if bits not in (F32_CANONICAL, F64_CANONICAL)}
    assert len(other) >= 10  # payloads and negative NaNs, not only the canonical one
    canonical = [r for seed in range(6) for r in _float_results(generate_module(seed, "nans", 12), True)]
    assert sum(_is_nan(t, bits) for t, bits in canonical) > 0


def test_nan_rich_programs_tell_canonical_from_plain_engines() -> None:
    """The programs see canonicalization: the plain engine differs from the canonical reference somewhere."""
    differing = 0
    for seed in range(6):
        generated = generate_module(seed, "nans", 12)
        module = wasm.decode(generated.wasm)
        with engine_recursion():
            want = run_reference(module, generated, canonical=True)
            plain = run_engine(module, generated, None, canonical=False)
            canonical = run_engine(module, generated, None, canonical=True)
        assert canonical.outcomes == want.outcomes
        differing += sum(a != b for a, b in zip(plain.outcomes, want.outcomes, strict=True))
    assert differing > 0


@pytest.mark.parametrize("vtype", [ValType.F32, ValType.F64])
def test_drawn_nans_are_nans_of_every_sign_and_kind(vtype: ValType) -> None:
    chooser = Chooser(7)
    drawn = [draw_nan(chooser, vtype) for _ in range(400)]
    assert all(_is_nan(vtype, bits) for bits in drawn)
    width = 32 if vtype == ValType.F32 else 64
    quiet = 1 << (22 if vtype == ValType.F32 else 51)
    assert any(bits >> (width - 1) for bits in drawn) and any(not bits >> (width - 1) for bits in drawn)
    assert any(bits & quiet for bits in drawn) and any(not bits & quiet for bits in drawn)
