"""The metered compile lowers each direct function once: pricing its entry keeps its register form."""

from __future__ import annotations

from pathlib import Path

import pytest

import wasmpool.wasm as wasm
import wasmpool.wasm.compiler as compiler
from wasmpool.wasm.compiler import EntryPrices, function_source, module_view
from wasmpool.wasm.compiler.lower import ModuleInfo
from wasmpool.wasm.module import Module

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@pytest.fixture(scope="module")
def crypto() -> Module:
    return wasm.decode((CORPUS / "rust" / "crypto.wasm").read_bytes())


def _sources(module: Module, order: list[int], prepay: EntryPrices | None) -> dict[int, str]:
    info = ModuleInfo.of(module, True)
    view = module_view(module)
    out = {}
    for index in order:
        fresh = prepay or EntryPrices(module, info, compiler.DEFAULT_MAX_REGISTERS)
        out[index] = function_source(module, index, True, info, view, prepay=fresh, canonical_nans=True)[0]
    return out


def test_every_function_is_lowered_once(crypto: Module, monkeypatch: pytest.MonkeyPatch) -> None:
    lowered: list[int] = []
    real = compiler.lower_function

    def counting(info: ModuleInfo, index: int) -> compiler.IRFunction:
        lowered.append(index)
        return real(info, index)

    monkeypatch.setattr(compiler, "lower_function", counting)
    compiled = wasm.compile(crypto, metered=True, canonical_nans=True)
    assert len(compiled.codes) == len(crypto.funcs)
    assert sorted(lowered) == sorted(set(lowered)) == list(compiled.codes)


def test_the_kept_form_gives_the_same_source_in_any_order(crypto: Module) -> None:
    first = crypto.num_imported_funcs
    indices = list(range(first, first + len(crypto.funcs)))
    info = ModuleInfo.of(crypto, True)
    alone = _sources(crypto, indices, None)  # a new pricer for each function: nothing reused
    forward = _sources(crypto, indices, EntryPrices(crypto, info, compiler.DEFAULT_MAX_REGISTERS))
    backward = _sources(crypto, indices[::-1], EntryPrices(crypto, info, compiler.DEFAULT_MAX_REGISTERS))
    assert forward == alone
    assert backward == alone


def test_a_kept_form_is_used_once_and_the_store_is_bounded(crypto: Module,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    info = ModuleInfo.of(crypto, True)
    prepay = EntryPrices(crypto, info, compiler.DEFAULT_MAX_REGISTERS)
    first = crypto.num_imported_funcs
    direct = [i for i in range(first, first + len(crypto.funcs)) if prepay(i) is not None]
    assert len(direct) > 2
    assert set(prepay.lowered) == set(direct)
    assert prepay.take(direct[0]) is not None
    assert prepay.take(direct[0]) is None  # compiled from it once; a second compile lowers again
    sizes = [crypto.funcs[i - first].size for i in direct]
    monkeypatch.setattr(compiler, "STASH_BYTES", max(sizes) + 1)
    small = EntryPrices(crypto, info, compiler.DEFAULT_MAX_REGISTERS)
    for index in direct:
        small(index)
        assert small.lowered_bytes <= compiler.STASH_BYTES
    assert direct[-1] in small.lowered  # the newest is kept, the oldest went first
    assert small.lowered_bytes == sum(crypto.funcs[i - first].size for i in small.lowered)
