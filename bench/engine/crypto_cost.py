"""Crypto host functions against CPU: µs per call and per byte, the gas they imply, the speed-up.

The host ABI's crypto imports (``wasmpool.worker.host_crypto``) are priced
per call and per started 32-byte word hashed, and the prices should buy
about the time a unit of gas buys in ordinary instructions. This benchmark
measures, through a real contract on the metered engine with the pool's
``Host``:

- each import called in a wasm loop, minus the same loop calling
  ``input_len`` (the crossing, which ``HOST_CALL_GAS`` already pays): the
  µs of the host's work per call, with empty and with 64 KiB of data for
  the hashes and ``ed25519_verify``, hence µs per call and per byte;
- the reference µs per gas of ordinary code, measured side by side (the
  three mixes of ``instantiate_cost.py``), which turns them into gas: the
  derived base price and price per 32-byte word, next to the current ones;
- SHA-256 of 64 KiB through the ``sha256`` import against the same hash
  compiled into a contract (the C corpus's ``sha2.O2.wasm``), both metered,
  best of ``--repeat`` runs each.

Run: ``python bench/engine/crypto_cost.py [--repeat 5] [--calls 200]``
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import coincurve
from Crypto.Signature import eddsa

import wasmpool.wasm as wasm
from bench.engine import instantiate_cost
from wasmpool.wasm.builder import ModuleBuilder
from wasmpool.wasm.opcodes import Opcode as O
from wasmpool.worker import host_crypto
from wasmpool.worker.host import ABI, CallState, Host

ROOT = Path(__file__).resolve().parents[2]
SHA2_C = ROOT / "tests" / "corpus" / "c" / "sha2.O2.wasm"
BIG = 64 * 1024
DATA = 4096  # where the data lies in the bench contract's memory
SIG = DATA + BIG  # signature, key and hash for the signature functions
DST = 0
GAS = 10**13
I32 = "i32"


class NoState:
    """A StateReader for calls that read no state."""

    def get(self, key: bytes) -> bytes | None:
        return None


def bench_contract() -> wasm.Module:
    """``loop_<import>(a, b, c, d, n)``: calls the import n times with the given arguments."""
    b = ModuleBuilder()
    imported = {name: b.import_func("env", name, ABI[name].type.params, ABI[name].type.results)
                for name in ["input_len", *host_crypto.DIGESTS, "ed25519_verify", "secp256k1_verify",
                             "secp256k1_recover"]}
    b.memory(3, 3, export="memory")
    for name, index in imported.items():
        params = len(ABI[name].type.params)
        body = [(O.LOOP, None), (O.LOCAL_GET, 4), O.I32_EQZ, (O.BR_IF, 1),
                *[(O.LOCAL_GET, i) for i in range(params)], (O.CALL, index),
                *([O.DROP] if ABI[name].type.results else []),
                (O.LOCAL_GET, 4), (O.I32_CONST, 1), O.I32_SUB, (O.LOCAL_SET, 4), (O.BR, 0), O.END]
        b.func([I32] * 5, [], [(O.BLOCK, None), *body, O.END], export=f"loop_{name}")
    return wasm.decode(b.build())


def signatures() -> tuple[bytes, bytes, bytes, bytes, bytes, bytes]:
    """A valid Ed25519 (signature, key) over 64 KiB of zeros and secp256k1 (hash, sig, key, recoverable)."""
    ed_key = eddsa.import_private_key(bytes(range(32)))
    ed_sig = eddsa.new(ed_key, "rfc8032").sign(bytes(BIG))
    ed_pk = ed_key.public_key().export_key(format="raw")
    secp = coincurve.PrivateKey(bytes(range(1, 33)))
    digest = hashlib.sha256(b"crypto_cost").digest()
    recoverable = secp.sign_recoverable(digest, hasher=None)
    return ed_sig, ed_pk, digest, recoverable[:64], secp.public_key.format(), recoverable


def per_call(compiled: wasm.CompiledModule, name: str, args: Sequence[int], calls: int, repeat: int,
             host: Host) -> float:
    """Best µs per call of ``loop_<name>`` over ``calls`` iterations."""
    sig = signatures()
    best = float("inf")
    for _ in range(repeat):
        host.begin(CallState(reader=NoState()))
        instance = wasm.instantiate(compiled, host.imports(), gas_limit=GAS)
        memory = instance.exports["memory"]
        memory.write(SIG, sig[0] + sig[1])  # ed25519: signature at SIG, key at SIG + 64
        memory.write(SIG + 128, sig[2] + sig[3] + sig[4])  # secp256k1: hash, signature, key
        padded = list(args) + [0] * (4 - len(args))
        run = instance.exports[f"loop_{name}"]
        start = time.perf_counter()
        run(*padded, calls)
        best = min(best, (time.perf_counter() - start) * 1e6 / calls)
        host.end()
        instance.release()
    return best


def hash_speedup(repeat: int) -> tuple[float, float]:
    """(µs of sha256 of 64 KiB through the import, µs of the corpus's compiled SHA-256), metered, best of."""
    compiled = wasm.compile(bench_contract(), metered=True)
    host = Host()
    through_host = per_call(compiled, "sha256", [DATA, BIG, DST], 1, repeat, host)
    sha2 = wasm.compile(wasm.decode(SHA2_C.read_bytes()), metered=True)
    best = float("inf")
    for _ in range(repeat):
        instance = wasm.instantiate(sha2, gas_limit=GAS)
        start = time.perf_counter()
        instance.exports["sha256"](BIG)
        best = min(best, (time.perf_counter() - start) * 1e6)
        instance.release()
    return through_host, best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    wasm.prepare_process()

    compiled = wasm.compile(bench_contract(), metered=True)
    host = Host()
    ref = instantiate_cost.reference(args.repeat)

    def work(name: str, call_args: Sequence[int], calls: int) -> float:
        return per_call(compiled, name, call_args, calls, args.repeat, host) - crossing

    crossing = per_call(compiled, "input_len", [], args.calls, args.repeat, host)
    print(f"reference: {ref:.4f} µs/gas; a crossing with input_len: {crossing:.2f} µs\n")
    print(f"{'import':<18} {'µs/call':>9} {'ns/byte':>8} {'gas/call':>9} {'gas/word':>9}   "
          f"{'priced':>7} {'per word':>8}")
    rows: list[tuple[str, list[int], list[int] | None]] = [
        *[(name, [DATA, 0, DST], [DATA, BIG, DST]) for name in host_crypto.DIGESTS],
        ("ed25519_verify", [DATA, 0, SIG, SIG + 64], [DATA, BIG, SIG, SIG + 64]),
        ("secp256k1_verify", [SIG + 128, SIG + 160, SIG + 224, 33], None),
        ("secp256k1_recover", [SIG + 128, SIG + 160, 0, DST], None),
    ]
    for name, small, big in rows:
        base = work(name, small, args.calls)
        byte = (work(name, big, max(args.calls // 20, 3)) - base) / BIG if big else 0.0
        word_name = f"{name.upper()}_WORD"
        priced_word = host_crypto.CryptoGas.__members__.get(word_name, 0)
        print(f"{name:<18} {base:9.2f} {byte * 1e3:8.3f} {base / ref:9.0f} {byte * 32 / ref:9.2f}   "
              f"{int(ABI[name].gas):7d} {int(priced_word):8d}")

    host_us, compiled_us = hash_speedup(args.repeat)
    print(f"\nsha256 of 64 KiB, metered: through the import {host_us:.1f} µs, compiled into a contract "
          f"(sha2.O2.wasm) {compiled_us:.0f} µs: {compiled_us / host_us:.0f}x faster through the host")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
