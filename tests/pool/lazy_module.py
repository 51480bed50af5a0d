"""A module with more code than the engine compiles eagerly: its functions compile on first call.

Built with :class:`~wasmpool.wasm.builder.ModuleBuilder` (no wabt needed):
``HELPERS`` helper functions ``h{k}(x) -> i32`` of about a kilobyte each
(a loop of ``x & 15`` turns, then a chain of constants added and xored
in), reached by ``call`` alone, so the compiler treats them as direct
functions and prices their entry at each call site; and as many exports
``e{k}() -> i32`` that call ``h{k}`` and ``h{k+1}``, so compiling an
export prices (lowers) two helpers. Its code is over
``runtime.compiled.EAGER_CODE_BYTES``, so :func:`wasmpool.wasm.compile`
leaves it lazy. Used by the partial disk-entry tests and ``bench/pool/cold_start.py``.
"""

from __future__ import annotations

from wasmpool.wasm.builder import Instruction, ModuleBuilder
from wasmpool.wasm.opcodes import Opcode

HELPERS = 300
CHAIN = 120  # (add, xor) pairs of constants per helper: about 960 bytes of code


def helper_body(k: int) -> list[Instruction]:
    """``h{k}``: loop ``x & 15`` times adding ``k`` to an accumulator, then the constant chain."""
    body: list[Instruction] = [
        (Opcode.LOCAL_GET, 0), (Opcode.I32_CONST, 15), Opcode.I32_AND, (Opcode.LOCAL_SET, 1),
        (Opcode.BLOCK, None), (Opcode.LOOP, None),
        (Opcode.LOCAL_GET, 1), Opcode.I32_EQZ, (Opcode.BR_IF, 1),
        (Opcode.LOCAL_GET, 2), (Opcode.I32_CONST, k), Opcode.I32_ADD, (Opcode.LOCAL_SET, 2),
        (Opcode.LOCAL_GET, 1), (Opcode.I32_CONST, 1), Opcode.I32_SUB, (Opcode.LOCAL_SET, 1),
        (Opcode.BR, 0), Opcode.END, Opcode.END,
        (Opcode.LOCAL_GET, 2), (Opcode.LOCAL_GET, 0), Opcode.I32_ADD,
    ]
    for j in range(CHAIN):
        body += [(Opcode.I32_CONST, (k * 31 + j * 7) % 4000), Opcode.I32_ADD,
                 (Opcode.I32_CONST, (k * 17 + j * 13) % 4000), Opcode.I32_XOR]
    return body


def build(helpers: int = HELPERS) -> bytes:
    """The module's bytes: ``helpers`` helpers, then as many exports."""
    builder = ModuleBuilder()
    builder.memory(1, export="memory")  # the host ABI's
    for k in range(helpers):
        builder.func(["i32"], ["i32"], helper_body(k), locals=["i32", "i32"])
    for k in range(helpers):
        builder.func([], ["i32"], [(Opcode.I32_CONST, k), (Opcode.CALL, k), (Opcode.I32_CONST, k + 7),
                                   (Opcode.CALL, (k + 1) % helpers), Opcode.I32_ADD], export=f"e{k}")
    return builder.build()
