"""A contract that uses every crypto import of the host ABI, built with ModuleBuilder.

Exports (input lies at ``IN`` once copied by ``get_input``; results at 0):

- ``sha256``, ``keccak256``, ``blake2b256``: the digest of the call's input, as output;
- ``ed25519() -> i32``: input = signature (64) || key (32) || message;
- ``secp_verify() -> i32``: input = hash (32) || signature (64) || key (33 or 65, or any length);
- ``secp_recover(recid) -> i32``: input = hash (32) || signature (64); the recovered key is the output;
- ``raw_<import>(...) -> i32``: the import called with the export's own arguments (0 for a void import),
  for memory bounds and prices.
"""

from __future__ import annotations

from wasmpool.wasm.builder import Instruction, ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.worker.host import ABI

IN = 4096
PAGES = 4
MEMORY_BYTES = PAGES * 65536
HASHES = ("sha256", "keccak256", "blake2b256")
CRYPTO = (*HASHES, "ed25519_verify", "secp256k1_verify", "secp256k1_recover")
I32 = "i32"


def _const(value: int) -> Instruction:
    return (O.I32_CONST, value)


def build() -> bytes:
    """The contract's wasm bytes."""
    b = ModuleBuilder()
    used = ["input_len", "get_input", "set_output", *CRYPTO]
    f = {name: b.import_func("env", name, ABI[name].type.params, ABI[name].type.results) for name in used}
    b.memory(PAGES, PAGES, export="memory")
    read_input = [(O.CALL, f["input_len"]), (O.LOCAL_SET, 0), _const(IN), (O.LOCAL_GET, 0),
                  (O.CALL, f["get_input"]), O.DROP]
    n = (O.LOCAL_GET, 0)
    for name in HASHES:
        b.func([], [], [*read_input, _const(IN), n, _const(0), (O.CALL, f[name]),
                        _const(0), _const(32), (O.CALL, f["set_output"])], locals=[I32], export=name)
    b.func([], [I32], [*read_input, _const(IN + 96), n, _const(96), O.I32_SUB, _const(IN), _const(IN + 64),
                       (O.CALL, f["ed25519_verify"])], locals=[I32], export="ed25519")
    b.func([], [I32], [*read_input, _const(IN), _const(IN + 32), _const(IN + 96), n, _const(96), O.I32_SUB,
                       (O.CALL, f["secp256k1_verify"])], locals=[I32], export="secp_verify")
    recover_input = [(O.CALL, f["input_len"]), (O.LOCAL_SET, 1), _const(IN), (O.LOCAL_GET, 1),
                     (O.CALL, f["get_input"]), O.DROP]
    b.func([I32], [I32], [*recover_input, _const(IN), _const(IN + 32), (O.LOCAL_GET, 0), _const(0),
                          (O.CALL, f["secp256k1_recover"]), _const(0), _const(33), (O.CALL, f["set_output"])],
           locals=[I32], export="secp_recover")
    for name in CRYPTO:
        params = len(ABI[name].type.params)
        tail: list[Instruction] = [] if ABI[name].type.results else [_const(0)]
        b.func([I32] * params, [I32], [*[(O.LOCAL_GET, i) for i in range(params)], (O.CALL, f[name]), *tail],
               export=f"raw_{name}")
    return b.build()
