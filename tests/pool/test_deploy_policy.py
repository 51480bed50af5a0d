"""The deploy policy, socket-free: every deploy limit at and just over its value, the host ABI and memory
rules, the float scan over every float instruction, and the typed refusals on the wire and through pickle.

Modules are built with ModuleBuilder; each limit is tested with a module whose figure is 3, under a
policy whose limit is 3 (accepted) and 2 (refused, naming the limit, the figure and where).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from wasmpool import wasm
from wasmpool.broker.config import BrokerConfig
from wasmpool.embed import Broker
from wasmpool.wasm.builder import ModuleBuilder, name, uleb, vector
from wasmpool.wasm.opcodes import OPS, PREFIX_MISC, Imm
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.types import ValType
from wasmpool.wire import errors
from wasmpool.wire import messages as m
from wasmpool.wire import protocol as p
from wasmpool.wire.deploy_policy import DEFAULT_DEPLOY_LIMITS, DeployLimits, DeployPolicy, Floats
from wasmpool.worker.float_scan import FLOAT_OPCODES, reject_floats
from wasmpool.worker.validate import module_error, validator_for

FIGURE = 3
REJECT = DeployPolicy(floats=Floats.REJECT)


def contract(builder: ModuleBuilder | None = None) -> ModuleBuilder:
    """A builder that already has the memory every contract exports."""
    builder = builder or ModuleBuilder()
    builder.memory(1, export="memory")
    return builder


def with_names(module: bytes, names: dict[int, str]) -> bytes:
    """``module`` with a ``name`` custom section naming functions."""
    entries = vector(uleb(index) + name(text) for index, text in sorted(names.items()))
    payload = name("name") + bytes([1]) + uleb(len(entries)) + entries
    return module + bytes([0]) + uleb(len(payload)) + payload


def policy(**limits: int | bool) -> DeployPolicy:
    return DeployPolicy(replace(DEFAULT_DEPLOY_LIMITS, **limits))


# --- one module per limit, each with the figure FIGURE --------------------------------------------


def _functions() -> bytes:
    builder = contract()
    for _ in range(FIGURE):
        builder.func()
    return builder.build()


def _function_params() -> bytes:
    builder = contract()
    builder.func(["i32"] * FIGURE, export="wide")
    return with_names(builder.build(), {0: "wide"})


def _total_params() -> bytes:
    builder = contract()
    for _ in range(FIGURE):
        builder.func(["i64"])
    return builder.build()


def _imports() -> bytes:
    builder = ModuleBuilder()
    for field_name in ("input_len", "block_height", "block_time"):
        builder.import_func("env", field_name, [], ["i64" if field_name.startswith("block") else "i32"])
    return contract(builder).build()


def _exports() -> bytes:
    builder = contract()
    builder.func(export="a")
    builder.func(export="b")
    return builder.build()


def _memory_initial() -> bytes:
    builder = ModuleBuilder()
    builder.memory(FIGURE, export="memory")
    return builder.build()


def _memory_maximum() -> bytes:
    builder = ModuleBuilder()
    builder.memory(1, FIGURE, export="memory")
    return builder.build()


def _table_initial() -> bytes:
    builder = contract()
    builder.table(FIGURE)
    return builder.build()


def _table_maximum() -> bytes:
    builder = contract()
    builder.table(0, FIGURE)
    return builder.build()


def _locals() -> bytes:
    builder = contract()
    builder.func(locals=["i32"] * FIGURE)
    builder.func(["i32"], locals=["f64"] * FIGURE)  # function 1 is named below
    return with_names(builder.build(), {1: "heavy"})


def _nesting() -> bytes:
    builder = contract()
    builder.func(body=[(O.BLOCK, None)] * FIGURE + [O.END] * FIGURE)
    return builder.build()


def _br_table() -> bytes:
    builder = contract()
    builder.func(["i32"], body=[(O.BLOCK, None), (O.LOCAL_GET, 0), (O.BR_TABLE, ((0,) * FIGURE, 0)), O.END])
    return builder.build()


LIMITS: dict[str, tuple[str, Callable[[], bytes], str]] = {
    # case: (limit, module, where)
    "functions": ("functions", _functions, "function section"),
    "function_params": ("function_params", _function_params, 'function 0 "wide"'),
    "total_params": ("total_params", _total_params, "function section"),
    "imports": ("imports", _imports, "import section"),
    "exports": ("exports", _exports, "export section"),  # memory, a, b
    "memory initial": ("memory_pages", _memory_initial, "memory 0"),
    "memory maximum": ("memory_pages", _memory_maximum, "memory 0"),
    "table initial": ("table_elements", _table_initial, "table 0"),
    "table maximum": ("table_elements", _table_maximum, "table 0"),
    "locals": ("function_locals", _locals, "function 0"),
    "nesting": ("nesting_depth", _nesting, "function 0"),
    "br_table": ("br_table_size", _br_table, "function 0"),
}


@pytest.mark.parametrize("case", LIMITS)
def test_a_module_at_a_limit_is_deployed_and_one_just_over_it_is_refused_naming_it(case: str) -> None:
    limit, build, where = LIMITS[case]
    module = build()
    assert module_error(module) is None  # the defaults admit it
    assert module_error(module, policy(**{limit: FIGURE})) is None
    refusal = module_error(module, policy(**{limit: FIGURE - 1}))
    assert isinstance(refusal, errors.ModuleLimitExceeded)
    found = (refusal.limit, refusal.value, refusal.maximum, refusal.where)
    assert found == (limit, FIGURE, FIGURE - 1, where)
    assert refusal.reason.startswith(f"invalid module: {where}: {FIGURE} ")
    assert f"{limit}={FIGURE - 1}" in refusal.reason


def test_the_module_size_is_checked_before_decoding() -> None:
    module = _functions()
    assert module_error(module, policy(module_bytes=len(module))) is None
    refusal = module_error(module + b"\xff" * 100, policy(module_bytes=len(module)))  # not even decodable
    assert isinstance(refusal, errors.ModuleLimitExceeded)
    assert (refusal.limit, refusal.value, refusal.where) == ("module_bytes", len(module) + 100, "module")


def test_the_locals_limit_names_the_function_that_breaks_it_with_its_name() -> None:
    refusal = module_error(_locals(), policy(function_locals=FIGURE - 1))
    assert isinstance(refusal, errors.ModuleLimitExceeded) and refusal.where == "function 0"
    builder = contract()
    builder.func(locals=["i32"])
    builder.func(locals=["i64"] * FIGURE)
    refusal = module_error(with_names(builder.build(), {1: "heavy"}), policy(function_locals=FIGURE - 1))
    assert isinstance(refusal, errors.ModuleLimitExceeded) and refusal.where == 'function 1 "heavy"'


def test_function_indices_count_the_imported_functions_first() -> None:
    builder = ModuleBuilder()
    builder.import_func("env", "input_len", [], ["i32"])
    contract(builder).func(["i32"] * FIGURE)
    refusal = module_error(builder.build(), policy(function_params=FIGURE - 1))
    assert isinstance(refusal, errors.ModuleLimitExceeded) and refusal.where == "function 1"


# --- rules that are not numbers ------------------------------------------------------------------


@pytest.mark.parametrize(("module_name", "field_name", "params", "results", "says"), [
    ("env", "launch_missiles", [], [], "env.launch_missiles is not a function of the host ABI"),
    ("env", "log", ["i32"], [], "env.log must be imported as a function (i32, i32) -> ()"),
    ("wasi_snapshot_preview1", "fd_write", ["i32"] * 4, ["i32"], "only functions of the host ABI"),
])
def test_only_host_abi_functions_may_be_imported(module_name: str, field_name: str, params: list[str],
                                                 results: list[str], says: str) -> None:
    builder = ModuleBuilder()
    builder.import_func("env", "input_len", [], ["i32"])
    builder.import_func(module_name, field_name, params, results)
    refusal = module_error(contract(builder).build())
    assert isinstance(refusal, errors.DeployRefused) and not isinstance(refusal, errors.ModuleLimitExceeded)
    assert (refusal.limit, refusal.where) == ("host_abi", f"import 1 {module_name}.{field_name}")
    assert says in refusal.reason


def test_every_host_abi_function_may_be_imported() -> None:
    from wasmpool.worker.host import ABI
    builder = ModuleBuilder()
    for field_name, function in ABI.items():
        builder.import_func("env", field_name, function.type.params, function.type.results)
    assert module_error(contract(builder).build()) is None


def test_a_memory_import_is_refused() -> None:
    module = bytearray(ModuleBuilder().build())
    memory_import = name("env") + name("memory") + bytes([2, 0, 1])  # (import "env" "memory" (memory 1))
    module += bytes([2]) + uleb(len(vector([memory_import]))) + vector([memory_import])
    refusal = module_error(bytes(module))
    assert isinstance(refusal, errors.DeployRefused)
    assert (refusal.limit, refusal.where) == ("host_abi", "import 0 env.memory")


@pytest.mark.parametrize("exported_as", [None, "mem"])
def test_a_module_must_export_its_memory_as_memory(exported_as: str | None) -> None:
    builder = ModuleBuilder()
    builder.memory(1, export=exported_as)
    builder.func(export="run")
    refusal = module_error(builder.build())
    assert isinstance(refusal, errors.DeployRefused)
    assert (refusal.limit, refusal.where) == ("memory_export", "export section")
    assert module_error(builder.build(), policy(memory_export=False)) is None


def test_a_start_function_is_allowed() -> None:
    builder = contract()
    builder.start = builder.func()
    assert module_error(builder.build()) is None


def test_an_undecodable_module_still_gets_the_engines_reason() -> None:
    assert module_error(b"\x00asm\x01\x00\x00\x00\x05") == "offset 0x9: unexpected end"


# --- the float scan --------------------------------------------------------------------------------


IMMEDIATES = {Imm.NONE: None, Imm.MEMARG: (0, 0), Imm.F32: 0, Imm.F64: 0}


def lone(op: O) -> bytes:
    """A contract whose only function runs ``op`` in unreachable code (so it needs no float operands)."""
    info = OPS[op]
    builder = contract()
    builder.func(body=[O.UNREACHABLE, (op, IMMEDIATES[info.imm])] + [O.DROP] * len(info.pushes or ()))
    return builder.build()


def test_the_float_instructions_are_every_instruction_named_for_f32_or_f64() -> None:
    named = {info.op for info in OPS.values()
             if any(tag in info.name for tag in ("f32", "f64"))}  # f32.add, i32.trunc_f64_s, ...
    assert named == FLOAT_OPCODES and len(named) == 76  # wasm 2.0 without SIMD


@pytest.mark.parametrize("op", sorted(FLOAT_OPCODES), ids=lambda op: OPS[op].name)
def test_every_float_instruction_is_refused_under_reject_and_accepted_under_canonical(op: O) -> None:
    module = lone(op)
    assert module_error(module) is None
    refusal = module_error(module, REJECT)
    assert isinstance(refusal, errors.FloatsRejected) and isinstance(refusal, errors.InvalidModule)
    assert (refusal.function, refusal.instruction, refusal.limit) == ("function 0", OPS[op].name, "floats")
    assert module[refusal.offset] == (PREFIX_MISC if op > 0xFF else op)  # the instruction's first byte


def _typed(kind: str) -> ModuleBuilder:
    """A contract with one float-typed thing that no float instruction touches."""
    builder = contract()
    if kind == "param":
        builder.func(["f32"])
    elif kind == "result":
        builder.func([], ["f64"], [O.UNREACHABLE])
    elif kind == "local":
        builder.func(locals=["i32", "f64"])
    elif kind == "global":
        builder.global_("i32", False, [(O.I32_CONST, 0)])
        builder.global_("f32", True, [(O.F32_CONST, 0)])
    elif kind == "block":
        builder.func(body=[(O.BLOCK, ValType.F64), O.UNREACHABLE, O.END, O.DROP])
    elif kind == "block type":
        index = builder.type(["f32"], [])
        builder.func(body=[O.UNREACHABLE, (O.LOOP, index), O.DROP, O.END])
    elif kind == "select":
        builder.func(body=[O.UNREACHABLE, (O.SELECT_T, (ValType.F32,)), O.DROP])
    elif kind == "call":
        builder.func(body=[O.UNREACHABLE, (O.CALL, 1), O.DROP])
        builder.func(["i32"], ["f64"], [O.UNREACHABLE])
    elif kind == "call_indirect":
        builder.table(1)
        index = builder.type([], ["f32"])
        builder.func(body=[(O.I32_CONST, 0), (O.CALL_INDIRECT, (index, 0)), O.DROP])
    return builder


FLOAT_TYPES = {
    "param": ("function 0", "param f32"),
    "result": ("function 0", "result f64"),
    "local": ("function 0", "local f64"),
    "global": ("global 1", "global f32"),
    "block": ("function 0", "block (result f64)"),
    "block type": ("function 0", "loop (f32) -> ()"),
    "select": ("function 0", "select (result f32)"),
    "call": ("function 0", "call 1 (i32) -> (f64)"),
    "call_indirect": ("function 0", "call_indirect () -> (f32)"),
}


@pytest.mark.parametrize("kind", FLOAT_TYPES)
def test_float_types_in_signatures_locals_globals_blocks_and_calls_are_refused(kind: str) -> None:
    module = _typed(kind).build()
    assert module_error(module) is None
    refusal = module_error(module, REJECT)
    assert isinstance(refusal, errors.FloatsRejected)
    assert (refusal.function, refusal.instruction) == FLOAT_TYPES[kind]


def test_the_first_offending_function_is_named_with_its_name() -> None:
    builder = contract()
    builder.func(["i32"], ["i32"], [(O.LOCAL_GET, 0)])
    builder.func(body=[(O.F64_CONST, 0), O.DROP])
    builder.func(["f32"])
    module = with_names(builder.build(), {1: "mean", 2: "later"})
    refusal = module_error(module, REJECT)
    assert isinstance(refusal, errors.FloatsRejected)
    assert (refusal.function, refusal.instruction) == ('function 1 "mean"', "f64.const")
    assert module[refusal.offset] == O.F64_CONST
    assert f'function 1 "mean": f64.const at byte {refusal.offset}' in refusal.reason


def test_float_imports_are_found_by_the_scan() -> None:
    builder = ModuleBuilder()
    builder.import_func("env", "sqrt", ["f64"], ["f64"])
    decoded = wasm.decode(contract(builder).build())
    with pytest.raises(errors.FloatsRejected) as caught:
        reject_floats(decoded)
    assert (caught.value.function, caught.value.instruction) == ("import 0 env.sqrt", "param f64")


def test_integer_only_contracts_pass_the_float_scan() -> None:
    from tests.pool.conftest import EXAMPLES
    for contract_name in ("token", "counter"):
        assert module_error((EXAMPLES / f"{contract_name}.wasm").read_bytes(), REJECT) is None


# --- the typed refusals: wire, client, pickle -------------------------------------------------------


REFUSALS = [
    errors.ModuleLimitExceeded("invalid module: function 2: 7 locals", "function_locals", "function 2", 7, 6),
    errors.FloatsRejected("invalid module: function 0: f64.add at byte 40", "function 0", "f64.add", 40),
    errors.FloatsRejected("invalid module: function 0: param f32", "function 0", "param f32"),
    errors.DeployRefused("invalid module: export section: no memory", "memory_export", "export section"),
]


def fields_of(exc: errors.PoolError) -> tuple[object, ...]:
    return (type(exc), exc.reason, getattr(exc, "limit", None), getattr(exc, "where", None),
            getattr(exc, "value", None), getattr(exc, "maximum", None), getattr(exc, "instruction", None),
            getattr(exc, "offset", None))


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda r: type(r).__name__)
def test_a_refusal_crosses_the_wire_and_a_process_boundary_whole(refusal: errors.DeployRefused) -> None:
    frames = p.error_frames(b"r", p.error_code(refusal), refusal.reason, refusal.limit, refusal.details())
    reply = p.decode_reply(frames)
    rebuilt = m.ErrorReply.from_body(reply.body).error()
    assert fields_of(rebuilt) == fields_of(refusal) and isinstance(rebuilt, errors.InvalidModule)
    assert reply.body["code"] == p.ErrorCode.INVALID_MODULE
    assert fields_of(pickle.loads(pickle.dumps(refusal))) == fields_of(refusal)


def test_a_plain_invalid_module_stays_plain_on_the_wire() -> None:
    plain = errors.invalid_module("offset 0x8: unexpected end")
    frames = p.error_frames(b"r", p.error_code(plain), plain.reason, "", plain.details())
    rebuilt = m.ErrorReply.from_body(p.decode_reply(frames).body).error()
    assert type(rebuilt) is errors.InvalidModule
    assert rebuilt.reason == "invalid module: offset 0x8: unexpected end"


# --- the policy objects ---------------------------------------------------------------------------


def test_the_validator_for_a_policy_pickles_and_enforces_it() -> None:
    assert validator_for(DeployPolicy()) is module_error
    strict = pickle.loads(pickle.dumps(validator_for(REJECT)))
    assert isinstance(strict(lone(O.F32_ADD)), errors.FloatsRejected) and strict(_functions()) is None


def test_a_misspelt_float_policy_or_negative_limit_is_refused_when_configured() -> None:
    with pytest.raises(ValueError, match="canonical, reject"):
        BrokerConfig(floats="rejected")
    with pytest.raises(ValueError, match="nesting_depth"):
        DeployLimits(nesting_depth=-1)


def test_the_embedded_broker_enforces_the_policy_it_is_given() -> None:
    broker = Broker("memory:", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", floats="reject",
                    deploy_limits=DeployLimits(functions=FIGURE - 1))
    try:
        expected = DeployPolicy(DeployLimits(functions=FIGURE - 1), Floats.REJECT)
        assert broker.core.config.deploy_policy() == expected
        assert isinstance(broker.core.validate(lone(O.F64_SQRT)), errors.FloatsRejected)
        assert isinstance(broker.core.validate(_functions()), errors.ModuleLimitExceeded)
        stats = broker.core.stats()
        assert stats["floats"] == "reject" and stats["deploy_limits"]["functions"] == FIGURE - 1
    finally:
        broker.close()


CORPUS = sorted([*Path(__file__).resolve().parents[1].glob("corpus/*/*.wasm"),
                 *Path(__file__).resolve().parents[2].glob("examples/*.wasm")])


@pytest.mark.parametrize("path", CORPUS, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_real_compiler_output_passes_the_default_limits(path: Path) -> None:
    assert module_error(path.read_bytes()) is None
