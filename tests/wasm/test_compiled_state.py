"""What a compiled module prepares once for all its instances: the instantiation price, the code size."""

from __future__ import annotations

import pytest

from tests.conftest import REPO_ROOT
from wasmpool import wasm
from wasmpool.wasm.runtime import compiled as compiled_module
from wasmpool.wasm.runtime import instance as instance_module
from wasmpool.worker.host import Host

TOKEN = (REPO_ROOT / "examples" / "token.wasm").read_bytes()


def test_the_price_is_counted_once_per_compiled_module(monkeypatch: pytest.MonkeyPatch) -> None:
    module = wasm.decode(TOKEN)
    imports = Host().imports()
    counted = []
    real = instance_module.instantiation_charge

    def counting(of: wasm.Module) -> int:
        counted.append(of)
        return real(of)

    monkeypatch.setattr(instance_module, "instantiation_charge", counting)
    plain = wasm.instantiate(module, imports, gas_limit=10**6)
    assert len(counted) == 1  # a plain module: priced for its one instance
    compiled = wasm.compile(module, metered=True)
    first = wasm.instantiate(compiled, imports, gas_limit=10**6)
    second = wasm.instantiate(compiled, imports, gas_limit=10**6)
    assert len(counted) == 2  # the compiled module counted its entries once, for both instances
    assert compiled.setup_price == real(module)
    assert plain.gas_used == first.gas_used == second.gas_used  # the same price either way
    for inst in (plain, first, second):
        inst.release()


def test_an_unmetered_instance_is_not_priced() -> None:
    compiled = wasm.compile(wasm.decode(TOKEN), metered=False)
    wasm.instantiate(compiled, Host().imports()).release()
    assert compiled.setup_price is None


def test_a_compiled_small_module_is_compiled_whole_once(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = wasm.compile(wasm.decode(TOKEN), metered=True)
    assert compiled.code_bytes == sum(func.size for func in compiled.module.funcs)
    assert compiled.code_bytes <= compiled_module.EAGER_CODE_BYTES
    assert len(compiled.codes) == len(compiled.module.funcs)
    calls = []
    monkeypatch.setattr(compiled, "compile_all", lambda: calls.append(1))
    wasm.instantiate(compiled, Host().imports(), gas_limit=10**6).release()
    assert calls == []  # already whole: instantiation does not walk the functions again
