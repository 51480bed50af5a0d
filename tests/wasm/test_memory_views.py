"""Aligned 4- and 8-byte accesses go through typed views of memory that a grow replaces.

The last tests check the alignment the compiler knows without testing an
address (``compiler.align``): an address it wrongly believed aligned would
read the aligned word around it.

Compiled code keeps ``memoryview`` casts of the memory in locals (see
``runtime.memory``); a grow releases them and makes new ones, so a frame must
read them again after anything that may grow: ``memory.grow`` in the frame,
a callee that grows, a host function that grows. Each test touches the new
pages right after such a grow, aligned and not, on both compiled variants.
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

import wasmpool.wasm as wasm
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.compiler import render_python
from wasmpool.wasm.compiler.align import local_zeros
from wasmpool.wasm.compiler.ir import IRFunction
from wasmpool.wasm.compiler.lower import ModuleInfo, lower_function
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.wasm.runtime.memory import LittleEndianView, Memory
from wasmpool.wasm.types import PAGE_SIZE

VARIANTS = [pytest.param(None, id="unmetered"), pytest.param(10**9, id="metered")]
NEW = PAGE_SIZE + 8  # an address in the second page, which the grow adds
MINUS_2_5 = struct.unpack("<Q", struct.pack("<d", -2.5))[0]  # f64.const -2.5 (its bits)


def _instance(builder: ModuleBuilder, gas_limit: int | None, imports: Any = None) -> wasm.Instance:
    compiled = wasm.compile(wasm.decode(builder.build()), metered=gas_limit is not None)
    return wasm.instantiate(compiled, imports, gas_limit=gas_limit)


def _round_trip(address: int, value: int) -> list[Any]:
    """Store ``value`` as an i64 at ``address``, load it back as i64 plus its low half as i32."""
    return [
        (O.I32_CONST, address), (O.I64_CONST, value), (O.I64_STORE, (3, 0)),
        (O.I32_CONST, address), (O.I64_LOAD, (3, 0)),
        (O.I32_CONST, address), (O.I32_LOAD, (2, 0)), O.I64_EXTEND_I32_U, O.I64_XOR,
    ]


def _grower(builder: ModuleBuilder) -> int:
    """A function that grows memory by one page (its result dropped)."""
    return builder.func(body=[(O.I32_CONST, 1), (O.MEMORY_GROW, 0), O.DROP])


@pytest.mark.parametrize("gas_limit", VARIANTS)
@pytest.mark.parametrize("address", [NEW, NEW + 1, NEW + 4])
def test_a_callee_grows_and_the_caller_uses_the_new_page(gas_limit: int | None, address: int) -> None:
    builder = ModuleBuilder()
    builder.memory(1, 2)
    grow = _grower(builder)
    body = [(O.I32_CONST, 0), (O.I32_LOAD, (2, 0)), O.DROP, (O.CALL, grow),
            *_round_trip(address, 0x1122334455667788)]
    builder.func(results=["i64"], body=body, export="run")
    instance = _instance(builder, gas_limit)
    assert instance.exports["run"]() == 0x1122334455667788 ^ 0x55667788
    assert instance.memory.read(address, 8) == struct.pack("<Q", 0x1122334455667788)


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_memory_grow_in_the_frame_then_the_new_page(gas_limit: int | None) -> None:
    builder = ModuleBuilder()
    builder.memory(1, 2)
    body = [(O.I32_CONST, 0), (O.F64_LOAD, (3, 0)), O.DROP, (O.I32_CONST, 1), (O.MEMORY_GROW, 0), O.DROP,
            (O.I32_CONST, NEW), (O.F64_CONST, MINUS_2_5), (O.F64_STORE, (3, 0)),
            *_round_trip(NEW + 8, 7), O.DROP, (O.I32_CONST, NEW), (O.F64_LOAD, (3, 0))]
    builder.func(results=["f64"], body=body, export="run")
    assert _instance(builder, gas_limit).exports["run"]() == -2.5


@pytest.mark.parametrize("gas_limit", VARIANTS)
def test_a_host_function_grows_and_the_caller_uses_the_new_page(gas_limit: int | None) -> None:
    builder = ModuleBuilder()
    grow = builder.import_func("env", "grow")
    builder.memory(1, 2, export="memory")
    body = [(O.I32_CONST, 8), (O.I32_LOAD, (2, 0)), O.DROP, (O.CALL, grow),
            (O.I32_CONST, NEW), (O.I32_CONST, 0x7EADBEEF), (O.I32_STORE, (2, 0)),
            (O.I32_CONST, NEW), (O.I32_LOAD, (2, 0))]
    builder.func(results=["i32"], body=body, export="run")

    def host_grow(caller: wasm.Caller) -> None:
        assert caller.memory.grow(1) == 1

    instance = _instance(builder, gas_limit, {"env": {"grow": wasm.host(host_grow)}})
    assert instance.exports["run"]() == 0x7EADBEEF


@pytest.mark.parametrize("gas_limit", VARIANTS)
@pytest.mark.parametrize("address", [PAGE_SIZE - 4, PAGE_SIZE - 3, PAGE_SIZE - 1, PAGE_SIZE])
def test_the_last_word_loads_and_the_next_traps(gas_limit: int | None, address: int) -> None:
    builder = ModuleBuilder()
    builder.memory(1, 1)
    body = [(O.LOCAL_GET, 0), (O.I32_LOAD, (2, 0))]
    builder.func(params=["i32"], results=["i32"], body=body, export="load")
    load = _instance(builder, gas_limit).exports["load"]
    if address + 4 <= PAGE_SIZE:
        assert load(address) == 0
    else:
        with pytest.raises(wasm.Trap):
            load(address)


def test_grow_gives_views_of_the_new_size_and_releases_the_old() -> None:
    memory = Memory(1, 3)
    old = memory.w32
    memory.w32[3] = 0xAABBCCDD
    assert memory.grow(1) == 1
    assert len(memory.w32) == 2 * PAGE_SIZE // 4 and len(memory.w64) == 2 * PAGE_SIZE // 8
    assert memory.w32[3] == 0xAABBCCDD and memory.w64[1] == 0xAABBCCDD << 32
    with pytest.raises(ValueError, match="released"):
        old[0]


def test_little_endian_view_indexes_like_a_memoryview_cast() -> None:
    data = bytearray(struct.pack("<4I", 1, 2, 0xFFFFFFFF, 4))
    view = LittleEndianView(data, "I")
    assert [view[i] for i in range(4)] == list(memoryview(data).cast("I"))
    view[1] = 0x01020304
    assert data[4:8] == bytes([4, 3, 2, 1])
    for index in (4, -1):
        with pytest.raises(IndexError):
            view[index]


# ---------------------------------------------------------------- known alignment


def _load_at(address: list[Any], load: Any = (O.I32_LOAD, (2, 0))) -> ModuleBuilder:
    """``run(p)`` loads at the address the instructions ``address`` compute from ``p`` (local 0)."""
    builder = ModuleBuilder()
    builder.memory(1, 1)
    builder.data([(O.I32_CONST, 0)], bytes(range(256)))
    result = "i64" if load[0] is O.I64_LOAD else "i32"
    builder.func(params=["i32"], results=[result], body=[*address, load], export="run")
    return builder


SHL2 = [(O.LOCAL_GET, 0), (O.I32_CONST, 2), O.I32_SHL]  # p << 2
I32_LOAD, I64_LOAD = (O.I32_LOAD, (2, 0)), (O.I64_LOAD, (3, 0))


@pytest.mark.parametrize("gas_limit", VARIANTS)
@pytest.mark.parametrize(("address", "load", "fmt", "step"), [
    pytest.param([*SHL2, (O.I32_CONST, 1), O.I32_OR], I32_LOAD, "<I", lambda p: (p << 2) | 1, id="shl|1"),
    pytest.param([*SHL2, (O.I32_CONST, 2), O.I32_ADD], I32_LOAD, "<I", lambda p: (p << 2) + 2, id="shl+2"),
    pytest.param(SHL2, I64_LOAD, "<Q", lambda p: p << 2, id="shl2 as i64"),
    pytest.param([(O.LOCAL_GET, 0), (O.I32_CONST, 3), O.I32_SHL], (O.I64_LOAD, (3, 4)), "<Q",
                 lambda p: (p << 3) + 4, id="shl3 offset 4"),
    pytest.param([(O.LOCAL_GET, 0), (O.I32_CONST, -4), O.I32_AND], I32_LOAD, "<I", lambda p: p & ~3,
                 id="and -4"),
])
def test_addresses_of_known_and_unknown_alignment_load_the_same_bytes(
        gas_limit: int | None, address: list[Any], load: Any, fmt: str, step: Any) -> None:
    run = _instance(_load_at(address, load), gas_limit).exports["run"]
    image = bytes(range(256)) + bytes(64)
    for p in range(0, 24):
        assert run(p) & 0xFFFFFFFFFFFFFFFF == struct.unpack_from(fmt, image, step(p))[0], p


WRAPS = [0, 1, 5, 0x3FFFFFFF, 0x3FFFFFF0, 0x40000000, 0x1FFFFFFF, 0xFFFFFFFF]  # p; (p << 2) wraps for most


@pytest.mark.parametrize("gas_limit", VARIANTS)
@pytest.mark.parametrize(("address", "load", "fmt", "step"), [
    pytest.param([*SHL2, (O.I32_CONST, 1120), O.I32_ADD], I32_LOAD, "<I",
                 lambda p: ((p << 2) + 1120) & 0xFFFFFFFF, id="shl2+1120"),
    pytest.param([*SHL2, (O.I32_CONST, -4), O.I32_ADD], (O.I32_LOAD, (2, 8)), "<I",
                 lambda p: (((p << 2) - 4) & 0xFFFFFFFF) + 8, id="shl2-4 offset 8"),
    pytest.param([(O.LOCAL_GET, 0), (O.I32_CONST, 3), O.I32_SHL, (O.I32_CONST, 16), O.I32_ADD], I32_LOAD,
                 "<I", lambda p: ((p << 3) + 16) & 0xFFFFFFFF, id="shl3+16 as i32"),
    pytest.param([(O.LOCAL_GET, 0), (O.I32_CONST, 255), O.I32_AND, (O.I32_CONST, 3), O.I32_SHL,
                  (O.I32_CONST, 64), O.I32_ADD], I64_LOAD, "<Q", lambda p: ((p & 255) << 3) + 64,
                 id="byte<<3+64"),
])  # fmt: skip
def test_scaled_addresses_wrap_like_the_address(
        gas_limit: int | None, address: list[Any], load: Any, fmt: str, step: Any) -> None:
    run = _instance(_load_at(address, load), gas_limit).exports["run"]
    image = bytes(range(256)) + bytes(PAGE_SIZE - 256)
    for p in WRAPS:
        ea = step(p)
        signed = p - (1 << 32) if p >> 31 else p
        if ea + struct.calcsize(fmt) > PAGE_SIZE:
            with pytest.raises(wasm.Trap):
                run(signed)
        else:
            assert run(signed) & 0xFFFFFFFFFFFFFFFF == struct.unpack_from(fmt, image, ea)[0], hex(p)


def test_an_address_known_aligned_is_not_tested() -> None:
    address = [(O.LOCAL_GET, 0), (O.I32_CONST, 2), O.I32_SHL, (O.I32_CONST, 1120), O.I32_ADD]
    module = wasm.decode(_load_at(address).build())
    source = render_python(module, 0)
    assert "w4[" in source and "ld_u32" not in source


def _pointer_loop(bump: list[Any]) -> IRFunction:
    """A loop stepping local 1 by 4 from 1024, with ``bump`` applied to it once after the loop."""
    builder = ModuleBuilder()
    builder.memory(1)
    body = [(O.I32_CONST, 1024), (O.LOCAL_SET, 1),
            (O.LOOP, None), (O.LOCAL_GET, 1), (O.I32_CONST, 4), O.I32_ADD, (O.LOCAL_TEE, 1),
            (O.LOCAL_GET, 0), O.I32_LT_U, (O.BR_IF, 0), O.END, *bump,
            (O.LOCAL_GET, 1), (O.I32_LOAD, (2, 0)), O.DROP]
    builder.func(params=["i32"], body=body, locals=["i32"])
    module = wasm.decode(builder.build())
    return lower_function(ModuleInfo.of(module), 0)


@pytest.mark.parametrize(("bump", "zeros"), [
    pytest.param([], {1: 2}, id="stepped by 4"),
    pytest.param([(O.LOCAL_GET, 1), (O.I32_CONST, 8), O.I32_ADD, (O.LOCAL_SET, 1)], {1: 2}, id="then +8"),
    pytest.param([(O.LOCAL_GET, 1), (O.I32_CONST, 2), O.I32_ADD, (O.LOCAL_SET, 1)], {1: 1}, id="then +2"),
    pytest.param([(O.LOCAL_GET, 0), (O.LOCAL_SET, 1)], {}, id="then a parameter"),
])
def test_local_alignment_is_the_least_of_every_assignment(bump: list[Any], zeros: dict[int, int]) -> None:
    assert local_zeros(_pointer_loop(bump)) == zeros
