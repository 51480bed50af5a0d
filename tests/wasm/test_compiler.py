"""The register compiler: register form, branch resolution, generated source.

Modules come from ``tests/fixtures/engine`` (``.wat`` sources beside the built
``.wasm``, rebuilt by ``build.sh``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import wasmpool.wasm as wasm
from tests.conftest import FIXTURES
from wasmpool.wasm import compiler
from wasmpool.wasm.compiler import ir
from wasmpool.wasm.compiler.exprs import HELPER_NAMES
from wasmpool.wasm.compiler.ir import Br, BrIf, BrTable, Const, Loc, Op, Reg, Return
from wasmpool.wasm.module import Module
from wasmpool.wasm.opcodes import Opcode
from wasmpool.wasm.runtime import compiled as compiled_module
from wasmpool.wasm.runtime.helpers import BASE_NAMESPACE


@pytest.fixture(scope="module")
def engine_dir() -> Path:
    return FIXTURES / "engine"


@pytest.fixture(scope="module")
def load(engine_dir: Path) -> Callable[[str], Module]:
    def decode(name: str) -> Module:
        return wasm.decode((engine_dir / f"{name}.wasm").read_bytes())
    return decode


@pytest.fixture(scope="module")
def basic(load: Callable[[str], Module]) -> Module:
    return load("basic")


@pytest.fixture(scope="module")
def basic_code(basic: Module) -> wasm.CompiledModule:
    """``basic`` compiled once (unmetered) for the tests that run it."""
    return wasm.compile(basic, metered=False)


def func_index(module: Module, export: str) -> int:
    return next(e.index for e in module.exports if e.name == export)


def ops(func: ir.IRFunction) -> list[ir.Node]:
    return [n for n in func.body if not isinstance(n, ir.Gas)]


# ---------------------------------------------------------------- registers


def test_registers_are_named_by_stack_height(basic: Module) -> None:
    lowered = compiler.lower(basic, func_index(basic, "expr"))
    assert ops(lowered) == [
        Op(Opcode.I32_MUL, (Reg(0),), (Loc(0), Loc(1))),
        Op(Opcode.I32_MUL, (Reg(1),), (Loc(2), Loc(3))),
        Op(Opcode.I32_ADD, (Reg(0),), (Reg(0), Reg(1))),
        Return((Reg(0),)),
    ]


def test_register_form_of_a_small_function(basic: Module) -> None:
    index = func_index(basic, "add")
    assert compiler.render_ir(basic, index) == (
        f"func {index} (l0:i32, l1:i32) -> (i32)  max_height=2\n"
        "  gas 4 check\n"
        "  s0 = i32.add l0, l1\n"
        "  return s0\n"
    )


def test_constants_fold_at_compile_time(basic: Module) -> None:
    lowered = compiler.lower(basic, func_index(basic, "folded"))
    assert ops(lowered) == [Return((Const(5, wasm.ValType.I32),))]


def test_local_read_before_a_set_is_copied_first(basic: Module, basic_code: wasm.CompiledModule) -> None:
    lowered = compiler.lower(basic, func_index(basic, "local_then_set"))
    body = ops(lowered)
    copy = Op(Opcode.LOCAL_GET, (Reg(0),), (Loc(0),))
    assert body.index(copy) < next(i for i, n in enumerate(body)
                                   if isinstance(n, Op) and n.op is Opcode.LOCAL_SET)
    assert wasm.instantiate(basic_code).exports["local_then_set"](5) == 1005


# ---------------------------------------------------------------- branches


def _branches(nodes: list[ir.Node]) -> list[ir.Node]:
    found: list[ir.Node] = []
    for node in nodes:
        if isinstance(node, Br | BrIf | BrTable):
            found.append(node)
        if isinstance(node, ir.Block | ir.Loop):
            found += _branches(node.body)
        if isinstance(node, ir.If):
            found += _branches(node.then) + _branches(node.orelse)
    return found


def test_br_out_of_nested_blocks_carries_its_value(basic: Module, basic_code: wasm.CompiledModule) -> None:
    lowered = compiler.lower(basic, func_index(basic, "nested_br"))
    to_outer, to_inner = _branches(lowered.body)
    assert isinstance(to_outer, BrIf) and isinstance(to_inner, BrIf)
    assert to_outer.values == (Const(7, wasm.ValType.I32),)
    assert to_outer.label.regs == (Reg(0),) and to_outer.label.kind is ir.LabelKind.BLOCK
    assert to_inner.values == (Const(8, wasm.ValType.I32),)
    assert to_outer.label is not to_inner.label
    add = wasm.instantiate(basic_code).exports["nested_br"]
    assert [add(0), add(1), add(2)] == [7, 108, 109]


@pytest.mark.parametrize(("index", "expected"), [(0, 11), (1, 12), (2, 10), (3, 10), (-1, 10)],
                         ids=["entry0", "entry1", "default-entry", "past-end", "huge-unsigned"])
def test_br_table_with_results(basic_code: wasm.CompiledModule, index: int, expected: int) -> None:
    assert wasm.instantiate(basic_code).exports["table"](index) == expected


def test_br_table_resolves_every_target(basic: Module) -> None:
    lowered = compiler.lower(basic, func_index(basic, "table"))
    (table,) = _branches(lowered.body)
    assert isinstance(table, BrTable)
    assert [label.base for label in table.labels] == [0, 0]
    assert table.values == (Const(10, wasm.ValType.I32),)
    assert len({table.labels[0].id, table.labels[1].id, table.default.id}) == 3


def test_loop_back_edge(basic: Module, basic_code: wasm.CompiledModule) -> None:
    lowered = compiler.lower(basic, func_index(basic, "sum"))
    loops = [n for n in lowered.body if isinstance(n, ir.Block)]
    back = [b for b in _branches(lowered.body) if isinstance(b, Br)]
    assert back and back[0].label.kind is ir.LabelKind.LOOP
    assert "while True:" in compiler.render_python(basic, func_index(basic, "sum"))
    assert loops
    assert wasm.instantiate(basic_code).exports["sum"](100) == 5050


@pytest.mark.parametrize(("export", "args", "expected"), [
    ("divmod", (17, 5), (3, 2)),
    ("swap_block", (1, 2), (2, 1)),
    ("mv_loop", (5,), 77),
])
def test_multi_value(basic_code: wasm.CompiledModule, export: str, args: tuple[int, ...],
                     expected: object) -> None:
    assert wasm.instantiate(basic_code).exports[export](*args) == expected


def test_operands_are_evaluated_left_to_right(basic_code: wasm.CompiledModule) -> None:
    assert wasm.instantiate(basic_code).exports["order"]() == 1 * 10 - 2


# ---------------------------------------------------------------- generated source


def test_generated_source_is_a_plain_def(basic: Module) -> None:
    source = compiler.render_python(basic, func_index(basic, "fib"))
    index = func_index(basic, "fib")
    assert f"def f{index}(d, l0):" in source
    assert f"f{index}(d - 1, " in source  # a direct call, depth counted down
    assert source.startswith(f"# wasm function {index}: (i32) -> (i32)")
    compile(source, "<test>", "exec")


def test_metered_variant_differs(basic: Module) -> None:
    index = func_index(basic, "sum")
    assert "gas" not in compiler.render_python(basic, index)
    metered = compiler.render_python(basic, index, metered=True)
    assert "gas -= " in metered and "if gas < 0: raise out_of_gas()" in metered


HOSTILE = ("__import__", "pwned", "SystemExit", "os.system", "eval", "exec", '"""', "'")


def test_generated_source_contains_no_module_text(load: Callable[[str], Module]) -> None:
    module = load("names")
    assert module.names.functions  # the fixture really has a name section
    first = module.num_imported_funcs
    for index in range(first, first + len(module.funcs)):
        for metered in (False, True):
            source = compiler.render_python(module, index, metered=metered)
            for text in HOSTILE:
                assert text not in source, (text, source)
        assert not any(text in compiler.render_ir(module, index) for text in HOSTILE[:4])


def test_module_with_hostile_names_runs(load: Callable[[str], Module]) -> None:
    calls: list[int] = []
    instance = wasm.instantiate(load("names"), {"__import__('os')": {"system('echo pwned')": calls.append}})
    assert instance.exports["__import__('os').system('echo pwned')"](41) == 42
    assert instance.exports['"""; raise SystemExit; """']() == 5
    assert calls == []


# ---------------------------------------------------------------- compilation


def test_compiled_code_belongs_to_the_caller_one_object_per_variant(basic: Module) -> None:
    plain = wasm.compile(basic, metered=False)
    assert wasm.compile(basic, metered=False) is not plain  # no hidden cache: each call compiles
    metered = wasm.compile(basic, metered=True)
    assert metered.metered and not plain.metered
    assert set(plain.codes) == set(metered.codes)
    assert len(plain.codes) == len(basic.funcs)


def test_instances_of_one_compiled_module_share_its_code(basic: Module) -> None:
    compiled = wasm.compile(basic, metered=False)
    first, second = wasm.instantiate(compiled), wasm.instantiate(compiled)
    assert first.exports["fib"].fn.__code__ is second.exports["fib"].fn.__code__
    assert first.exports["fib"](10) == second.exports["fib"](10) == 55


def test_a_plain_module_is_compiled_for_its_one_instance(basic: Module) -> None:
    first, second = wasm.instantiate(basic), wasm.instantiate(basic)
    assert first.exports["fib"].fn.__code__ is not second.exports["fib"].fn.__code__
    assert first.exports["fib"](10) == second.exports["fib"](10) == 55


@pytest.mark.parametrize(("metered", "gas_limit"), [(True, None), (False, 10**6)], ids=["metered", "plain"])
def test_an_instance_needs_the_variant_its_gas_limit_asks_for(basic: Module, metered: bool,
                                                              gas_limit: int | None) -> None:
    compiled = wasm.compile(basic, metered=metered)
    with pytest.raises(ValueError, match=f"metered={not metered}"):
        wasm.instantiate(compiled, gas_limit=gas_limit)


def test_stricter_instance_limits_check_the_registers_again(basic: Module) -> None:
    compiled = wasm.compile(basic, metered=False)
    with pytest.raises(compiler.CompileError, match="more than the limit 1"):
        wasm.instantiate(compiled, limits=wasm.RuntimeLimits(max_registers=1))
    with pytest.raises(compiler.CompileError, match="more than the limit 1"):
        wasm.compile(basic, metered=False, limits=wasm.RuntimeLimits(max_registers=1))


def test_big_modules_compile_functions_on_their_first_call(load: Callable[[str], Module],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiled_module, "EAGER_CODE_BYTES", 0)  # treat the fixture as big
    module = load("basic")
    fib, add = func_index(module, "fib"), func_index(module, "add")
    compiled = wasm.compile(module, metered=False)
    instance = wasm.instantiate(compiled)
    assert fib not in compiled.codes
    assert instance.exports["fib"](10) == 55
    assert fib in compiled.codes and add not in compiled.codes
    assert instance.exports["fib"].fn.__name__ == f"f{fib}"  # the stub stepped aside
    again = wasm.instantiate(compiled)  # a second instance starts with the compiled code
    assert again.exports["fib"].fn.__name__ == f"f{fib}" and again.exports["fib"](11) == 89


def test_small_modules_compile_whole(load: Callable[[str], Module]) -> None:
    module = load("basic")
    assert len(wasm.compile(module, metered=True).codes) == len(module.funcs)


def test_every_helper_the_rules_name_is_in_the_namespace() -> None:
    assert HELPER_NAMES.issubset(BASE_NAMESPACE)
    expected = {"i32_div_s", "f32_nearest", "ld_u32", "st_u64", "memory_grow", "table_init"}
    assert expected.issubset(HELPER_NAMES)


# ---------------------------------------------------------------- mask elision


MASK_CASES = [
    pytest.param("small_index", (0xFFFF_FFFF,), 255 * 4 + 1024, True, id="and-shl-add-fits"),
    pytest.param("big_sum", (0xFFFF,), (0xFFFF_0000 + 0xFFFF_0000) % 2**32, False, id="sum-past-2**32-wraps"),
    pytest.param("bytes_shl", (0,), ((0xFF ^ 0xFE) << 24) % 2**32, True, id="byte-loads-shifted"),
    pytest.param("shr_mul", (0xFFFF_FFFF,), 225, True, id="shr-products-fit"),
    pytest.param("wide", (2**64 - 1, 2**64 - 1), (0xFFFF_FFFF**2 + 0xFFFF_FFFF) % 2**64, True,
                 id="i64-product"),
    pytest.param("sub_and", (0,), 7, True, id="negative-intermediate-and"),
]


@pytest.mark.parametrize(("export", "args", "expected", "elided"), MASK_CASES)
def test_small_operands_need_no_mask(load: Callable[[str], Module], export: str, args: tuple[int, ...],
                                     expected: int, elided: bool) -> None:
    module = load("masks")
    source = compiler.render_python(module, func_index(module, export))
    (result,) = [line.strip() for line in source.splitlines() if line.strip().startswith("return")]
    masks = ("% 0x100000000", "& 0xffffffff", "% 0x10000000000000000", "& 0xffffffffffffffff")
    masked = result.endswith(masks)
    assert masked is not elided, result
    assert wasm.instantiate(module).exports[export].call_raw(list(args)) == expected
