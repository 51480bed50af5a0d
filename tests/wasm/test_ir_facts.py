"""The facts lowering records on an IRFunction agree with walking the tree, on real toolchains' code.

Lowering records nesting depth, loops, direct calls, ``br_table`` and the
memory instructions (with the signed orderings of locals) as it builds a body (``IRFunction.depth`` ...
``accesses``), and the later steps trust them instead of walking the tree;
the walks remain for functions built by hand. Here every function of the
corpus (Rust, AssemblyScript, clang at each optimization level) and of the
engine benchmarks is lowered and each recorded fact is checked against an
independent walk of the body as lowered, and, for the facts the reshaping
passes must keep (loops, calls, memory instructions), of the body as
reshaped. Finally, a function whose facts are erased compiles to the same
source as with them: the walks and the records decide alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasmpool import wasm
from wasmpool.wasm import compiler
from wasmpool.wasm.compiler import EntryPrices, emit, function_source, module_view, nesting_depth
from wasmpool.wasm.compiler.ir import Block, BrTable, If, IRFunction, Loc, Loop, Node, Op, Reg, Switch
from wasmpool.wasm.compiler.lower import SIGNED_ORDERINGS, ModuleInfo, lower_function
from wasmpool.wasm.compiler.structure import has_loops
from wasmpool.wasm.opcodes import OPS, Family, Opcode

ROOT = Path(__file__).resolve().parents[2]
CORPUS, ENGINE = ROOT / "tests" / "corpus", ROOT / "bench" / "engine"
MODULES = [*sorted(CORPUS.rglob("*.wasm")), *sorted(ENGINE.glob("*.wasm"))]


def walk(nodes: list[Node]) -> Iterator[tuple[Node, int]]:
    """Every node of a body with the nesting level of the constructs around it."""
    stack = [(nodes, 0)]
    while stack:
        body, level = stack.pop()
        for node in body:
            yield node, level
            if type(node) is Block or type(node) is Loop:
                stack.append((node.body, level + 1))
            elif type(node) is If:
                stack.append((node.then, level + 1))
                stack.append((node.orelse, level + 1))
            elif type(node) is Switch:
                stack.extend((case, level + 1) for case in node.cases)


def facts(body: list[Node]) -> dict[str, object]:
    nodes = list(walk(body))
    ops = {node.op for node, _ in nodes if type(node) is Op}
    constructs = (Block, Loop, If, Switch)
    return {
        "depth": max((level + 1 for node, level in nodes if type(node) in constructs), default=0),
        "loops": any(type(node) is Loop for node, _ in nodes),
        "calls": Opcode.CALL in ops,
        "tables": any(type(node) is BrTable for node, _ in nodes),
        "accesses": frozenset(op for op in ops if OPS[op].family is Family.MEMORY) | {
            node.op for node, _ in nodes if type(node) is Op and of_locals(node)},
    }


def of_locals(node: Op) -> bool:
    """A signed ordering of locals and constants, a local at least (``lower.SIGNED_ORDERINGS``)."""
    if node.op not in SIGNED_ORDERINGS:
        return False
    kinds = {type(a) for a in node.args}
    return Loc in kinds and Reg not in kinds


def recorded(func: IRFunction) -> dict[str, object]:
    return {name: getattr(func, name) for name in ("depth", "loops", "calls", "tables", "accesses")}


def lowered(path: Path) -> Iterator[tuple[ModuleInfo, IRFunction]]:
    module = wasm.decode(path.read_bytes())
    info = ModuleInfo.of(module, True)
    for defined in range(len(module.funcs)):
        yield info, lower_function(info, info.num_imported + defined)


@pytest.fixture(autouse=True)
def recursion() -> None:
    wasm.prepare_process()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_recorded_facts_match_a_walk_of_the_lowered_and_the_reshaped_body(path: Path) -> None:
    seen = {"loops": 0, "calls": 0, "tables": 0}
    for _, func in lowered(path):
        assert recorded(func) == facts(func.body), f"function {func.index}"
        bare = dataclasses.replace(func, depth=None)
        assert nesting_depth(bare) == func.depth  # the fallback walk agrees too
        assert has_loops(func.body) is func.loops
        emit.prepare(func)  # the reshaping passes (switches, return threading, gas blocks)
        after = facts(func.body)
        assert (after["loops"], after["calls"], after["accesses"]) == (func.loops, func.calls, func.accesses)
        for name in seen:
            seen[name] += bool(getattr(func, name))
    assert sum(seen.values()) > 0 or path.stat().st_size < 4096  # large modules have loops or calls


@pytest.mark.parametrize("name", ["tests/corpus/rust/text.wasm", "tests/corpus/c/json.O2.wasm",
                                  "bench/engine/interp.wasm"])
@pytest.mark.parametrize("metered", [False, True], ids=["plain", "metered"])
def test_a_function_without_recorded_facts_compiles_to_the_same_source(
        name: str, metered: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    module = wasm.decode((ROOT / name).read_bytes())
    indexes = [module.num_imported_funcs + d for d in range(len(module.funcs))]

    def sources() -> list[str]:
        info = ModuleInfo.of(module, True)  # each pass its own, with the entry prices of direct functions
        prepay = EntryPrices(module, info, compiler.DEFAULT_MAX_REGISTERS) if metered else None
        view = module_view(module)
        return [function_source(module, index, metered, info, view, compiler.DEFAULT_MAX_REGISTERS, prepay,
                                True)[0] for index in indexes]

    with_facts = sources()
    real = compiler.lower_function

    def forgetful(*args: object) -> IRFunction:
        func = real(*args)  # type: ignore[arg-type]
        return dataclasses.replace(func, depth=None, loops=None, calls=None, tables=None, accesses=None)

    monkeypatch.setattr(compiler, "lower_function", forgetful)
    assert sources() == with_facts
