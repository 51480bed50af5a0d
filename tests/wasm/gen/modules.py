"""Whole generated modules: functions, memory, globals, a table, and the calls to make.

:func:`generate_module` writes a module of ``functions`` random functions
(each exported as ``f{i}``, callable from later ones, all in table slot
``i``), a one-page memory (growable to two, or eight with the growing
profiles) with a data segment, mutable
and immutable globals of every numeric type (exported as ``g{i}``), and a
list of calls (export, argument bit patterns) to run in order on one
instance (the profiles: :data:`PROFILES`). :func:`generate_op_module` puts
each given numeric instruction at the root of one function and as an operand of a random parent in another,
so that every instruction meets every operand position.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import OPS, Opcode
from wasmpool.wasm.types import ExternKind, ValType

from .functions import (
    CONTROL,
    CONTROL_NANS,
    DATA_BYTES,
    EXPRESSIONS,
    NANS,
    NUMERIC_OPS,
    Callee,
    Code,
    Env,
    FuncGen,
    Profile,
    const,
    growing,
    with_pointers,
    with_words,
)
from .values import NUM_TYPES, Chooser

_BASE_PROFILES: dict[str, Profile] = {"expressions": EXPRESSIONS, "control": CONTROL, "nans": NANS,
                                      "control-nans": CONTROL_NANS}
PROFILES: dict[str, Profile] = {
    **_BASE_PROFILES,
    **{f"{name}-grow": growing(p) for name, p in _BASE_PROFILES.items()},
    **{f"{name}-words": with_words(p) for name, p in _BASE_PROFILES.items()},
    **{f"{name}-pointers": with_pointers(p) for name, p in _BASE_PROFILES.items()},
}
"""The profiles by name; ``{name}-grow``: the same with memory that grows (see ``functions.growing``);
``{name}-words``: with word locals (see ``functions.with_words``); ``{name}-pointers``: with pointer
locals stepped through memory in loops (see ``functions.with_pointers``)."""


@dataclass(frozen=True)
class Call:
    """One call to make: the export and its arguments' bit patterns."""

    export: str
    args: tuple[int, ...]


@dataclass(frozen=True)
class GeneratedModule:
    """A generated module's bytes and the calls to run on one instance of it, in order."""

    seed: int
    profile: str
    wasm: bytes
    calls: tuple[Call, ...]
    functions: int


def _signature(c: Chooser) -> tuple[tuple[ValType, ...], tuple[ValType, ...]]:
    params = tuple(c.pick(NUM_TYPES) for _ in range(c.below(4)))
    roll = c.below(10)
    count = 1 if roll < 6 else 0 if roll < 7 else 2 + c.below(2)
    return params, tuple(c.pick(NUM_TYPES) for _ in range(count))


def _module_frame(c: Chooser, profile: Profile = EXPRESSIONS) -> tuple[ModuleBuilder, Env]:
    """A builder with the memory, data and globals every module has (initial values as ``profile`` draws)."""
    builder = ModuleBuilder()
    builder.memory(1, profile.max_pages, export="mem")
    builder.data([(Opcode.I32_CONST, 0)], bytes(c.below(256) for _ in range(DATA_BYTES)))
    globals_: list[tuple[ValType, bool]] = []
    for vtype in NUM_TYPES:
        for mutable in (False, True, True):
            index = builder.global_(vtype, mutable, [const(vtype, profile.draw(c, vtype))], export=None)
            builder.export(f"g{index}", ExternKind.GLOBAL, index)
            globals_.append((vtype, mutable))
    return builder, Env(builder, globals_)


def _calls(c: Chooser, name: str, params: tuple[ValType, ...], count: int,
           profile: Profile = EXPRESSIONS) -> list[Call]:
    return [Call(name, tuple(profile.draw(c, t) for t in params)) for _ in range(count)]


def _finish(builder: ModuleBuilder, env: Env, bit_wrappers: bool) -> bytes:
    functions = len(env.callees)
    builder.table(functions, functions)
    builder.elem([(Opcode.I32_CONST, 0)], list(range(functions)))
    if bit_wrappers:
        _add_bit_wrappers(builder, env)
    return builder.build()


_AS_BITS: dict[ValType, tuple[ValType, list[Opcode]]] = {
    ValType.I32: (ValType.I32, []), ValType.I64: (ValType.I64, []),
    ValType.F32: (ValType.I32, [Opcode.I32_REINTERPRET_F32]),
    ValType.F64: (ValType.I64, [Opcode.I64_REINTERPRET_F64]),
}
_FROM_BITS: dict[ValType, list[Opcode]] = {
    ValType.I32: [], ValType.I64: [], ValType.F32: [Opcode.F32_REINTERPRET_I32],
    ValType.F64: [Opcode.F64_REINTERPRET_I64],
}


def _add_bit_wrappers(builder: ModuleBuilder, env: Env) -> None:
    """Exports ``w{i}`` (function ``i`` with floats passed and returned as integer bits) and ``gg{i}``
    (global ``i``'s bits), for embedders whose API turns floats into Python floats (losing NaN bits)."""
    for callee in env.callees:
        params = [_AS_BITS[t][0] for t in callee.params]
        results = [_AS_BITS[t][0] for t in callee.results]
        body: Code = []
        for k, ptype in enumerate(callee.params):
            body += [(Opcode.LOCAL_GET, k), *_FROM_BITS[ptype]]
        body.append((Opcode.CALL, callee.index))
        first = len(params)
        body += [(Opcode.LOCAL_SET, first + k) for k in reversed(range(len(results)))]
        for k, rtype in enumerate(callee.results):
            body += [(Opcode.LOCAL_GET, first + k), *_AS_BITS[rtype][1]]
        index = builder.func(params, results, body, locals=list(callee.results), export=None)
        builder.export(f"w{callee.index}", ExternKind.FUNC, index)
    for index, (vtype, _) in enumerate(env.globals):
        getter = builder.func([], [_AS_BITS[vtype][0]], [(Opcode.GLOBAL_GET, index), *_AS_BITS[vtype][1]])
        builder.export(f"gg{index}", ExternKind.FUNC, getter)


def _add(builder: ModuleBuilder, env: Env, gen: FuncGen, body: Code) -> int:
    index = builder.func(gen.params, gen.results, body, locals=gen.declared_locals, export=None)
    builder.export(f"f{index}", ExternKind.FUNC, index)
    env.callees.append(Callee(index, gen.params, gen.results, gen.cost + 1, gen.grows))
    return index


def generate_module(seed: int, profile: str = "control", functions: int = 4, calls_each: int = 3,
                    bit_wrappers: bool = False) -> GeneratedModule:
    """A random module of ``functions`` functions (see the module docstring).

    Function ``i`` does not depend on how many functions follow it, so a
    mismatch in a big module can be looked for in its smaller prefixes.
    """
    c = Chooser(seed)
    builder, env = _module_frame(c, PROFILES[profile])
    env.table_size = functions
    calls: list[Call] = []
    for _ in range(functions):
        params, results = _signature(c)
        gen = FuncGen(c, env, params, results, PROFILES[profile])
        index = _add(builder, env, gen, gen.body())
        calls += _calls(c, f"f{index}", params, calls_each, PROFILES[profile])
    c.rng.shuffle(calls)
    return GeneratedModule(seed, profile, _finish(builder, env, bit_wrappers), tuple(calls), functions)


def _rooted(gen: FuncGen, op: Opcode, depth: int) -> Code:
    """``op`` over generated operands; half the time fed to a random parent at a random operand position."""
    info = OPS[op]
    assert info.pops is not None and info.pushes is not None
    code: Code = []
    for operand in info.pops:
        code += gen.expr(operand, depth)
    code.append(op)
    result = info.pushes[0]
    parents = [(p, i) for p in NUMERIC_OPS for i, t in enumerate(p.pops or ()) if t == result]
    parent, position = gen.c.pick(parents)
    assert parent.pops is not None and parent.pushes is not None
    before: Code = []
    for operand in parent.pops[:position]:
        before += gen.expr(operand, depth)
    after: Code = []
    for operand in parent.pops[position + 1:]:
        after += gen.expr(operand, depth)
    code = before + code + after + [parent.op]
    want = gen.results[0]
    if parent.pushes[0] != want:
        code.append(Opcode.DROP)
        code += gen.expr(want, depth)
    return code


def generate_op_module(seed: int, ops: Iterable[Opcode], calls_each: int = 3,
                       bit_wrappers: bool = False) -> GeneratedModule:
    """One function per instruction in ``ops``, with it inside a random tree (see the module docstring)."""
    c = Chooser(seed)
    builder, env = _module_frame(c)
    op_list = list(ops)
    env.table_size = len(op_list)
    calls: list[Call] = []
    for op in op_list:
        params = tuple(c.pick(NUM_TYPES) for _ in range(1 + c.below(3)))
        info = OPS[op]
        assert info.pushes is not None
        gen = FuncGen(c, env, params, info.pushes, EXPRESSIONS)
        index = _add(builder, env, gen, _rooted(gen, op, 1 + c.below(3)))
        calls += _calls(c, f"f{index}", params, calls_each)
    return GeneratedModule(seed, "ops", _finish(builder, env, bit_wrappers), tuple(calls), len(op_list))
