"""The crypto imports of the host ABI: standard vectors, malformed input, memory bounds, prices.

Every check runs a real contract (``crypto_contract.py``) on the metered
engine with the pool's ``Host``; the last ones deploy it to a real pool
(broker, worker processes, SQLite) and call it through a client.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.pool import crypto_contract
from tests.pool.conftest import unique
from wasmpool import wasm
from wasmpool.client import Client
from wasmpool.wasm.opcodes import Gas
from wasmpool.worker import host_crypto
from wasmpool.worker.host import ABI, CallState, Host, HostGas, check_imports
from wasmpool.worker.host_crypto import CryptoGas

GAS = 10_000_000
IN = crypto_contract.IN
N = host_crypto.SECP256K1_ORDER

# FIPS 180-2 / NIST examples
SHA256_VECTORS = {
    b"": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    b"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq":
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
}
KECCAK256_VECTORS = {
    b"": "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    b"abc": "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45",
}
SHA3_256_OF_EMPTY = "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
BLAKE2B256_VECTORS = {
    b"": "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8",
    b"abc": "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319",
}
# RFC 8032 section 7.1, tests 1-3: (public key, message, signature)
RFC8032 = [
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
    ("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"),
]
# EIP-155's example transaction: its signing hash, v = 37 (chain 1, so recid 0), r, s and sender
EIP155_HASH = bytes.fromhex("daf5a779ae972f972197303d7b574746c7ef83eadac0f2791ad23db92e4c8e53")
EIP155_R = 18515461264373351373200002665853028612451056578545711640558177340181847433846
EIP155_S = 46948507304638947509940763649030358759909902576025900602547168820602576006531
EIP155_RECID = 37 - 35 - 2 * 1
EIP155_SENDER = "9d8a62f656a8d1615c1294fd71e9cfb3e4855a4f"


def compact(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


EIP155_SIG = compact(EIP155_R, EIP155_S)


class NoState:
    def get(self, key: bytes) -> bytes | None:
        return None


@pytest.fixture(scope="module")
def contract() -> wasm.Module:
    return wasm.decode(crypto_contract.build())


def run(module: wasm.Module, function: str, *args: int, input: bytes = b"",
        gas: int = GAS) -> tuple[Any, bytes, int]:
    """(result, output, gas used) of one call on a fresh instance."""
    host = Host()
    call = CallState(reader=NoState(), input=input)
    host.begin(call)
    try:
        instance = wasm.instantiate(module, imports=host.imports(), gas_limit=gas)
        result = instance.exports[function](*args)
    finally:
        host.end()
    return result, call.output, instance.gas_used


def eth_address(compressed: bytes) -> str:
    """The Ethereum address of a compressed secp256k1 key (Keccak-256 of the uncompressed point)."""
    import coincurve

    point = coincurve.PublicKey(compressed).format(compressed=False)
    return host_crypto.DIGESTS["keccak256"][0](point[1:])[12:].hex()


# ---------------------------------------------------------------- vectors


@pytest.mark.parametrize(("name", "vectors"), [("sha256", SHA256_VECTORS), ("keccak256", KECCAK256_VECTORS),
                                               ("blake2b256", BLAKE2B256_VECTORS)])
def test_hashes_give_the_standard_digests(contract: wasm.Module, name: str,
                                          vectors: dict[bytes, str]) -> None:
    for message, digest in vectors.items():
        assert run(contract, name, input=message)[1].hex() == digest


def test_keccak256_is_not_sha3_256(contract: wasm.Module) -> None:
    assert hashlib.sha3_256(b"").hexdigest() == SHA3_256_OF_EMPTY
    assert run(contract, "keccak256")[1].hex() not in (SHA3_256_OF_EMPTY,)


def test_a_long_input_hashes_as_hashlib(contract: wasm.Module) -> None:
    data = bytes(range(256)) * 256  # 64 KiB
    assert run(contract, "sha256", input=data)[1] == hashlib.sha256(data).digest()
    assert run(contract, "blake2b256", input=data)[1] == hashlib.blake2b(data, digest_size=32).digest()


def ed25519_input(key: str, message: str, signature: str) -> bytes:
    return bytes.fromhex(signature) + bytes.fromhex(key) + bytes.fromhex(message)


@pytest.mark.parametrize(("key", "message", "signature"), RFC8032)
def test_ed25519_accepts_the_rfc8032_vectors(contract: wasm.Module, key: str, message: str,
                                             signature: str) -> None:
    assert run(contract, "ed25519", input=ed25519_input(key, message, signature))[0] == 1


def test_ed25519_refuses_a_tampered_message_signature_or_key(contract: wasm.Module) -> None:
    key, message, signature = RFC8032[2]
    good = ed25519_input(key, message, signature)
    assert run(contract, "ed25519", input=good[:-1] + bytes([good[-1] ^ 1]))[0] == 0  # message
    assert run(contract, "ed25519", input=good + b"\x00")[0] == 0  # a longer message
    assert run(contract, "ed25519", input=bytes([good[0] ^ 1]) + good[1:])[0] == 0  # R
    assert run(contract, "ed25519", input=good[:40] + bytes([good[40] ^ 1]) + good[41:])[0] == 0  # s
    assert run(contract, "ed25519", input=ed25519_input(RFC8032[1][0], message, signature))[0] == 0


def test_ed25519_refuses_malformed_keys_and_signatures(contract: wasm.Module) -> None:
    key, _, signature = RFC8032[0]
    sig = bytes.fromhex(signature)
    order = 2**252 + 27742317777372353535851937790883648493
    big_s = sig[:32] + order.to_bytes(32, "little")  # s >= L
    for bad_key in (b"\xff" * 32, (2).to_bytes(32, "little")):  # y >= p; no x for y = 2
        assert run(contract, "ed25519", input=sig + bad_key)[0] == 0
    assert run(contract, "ed25519", input=big_s + bytes.fromhex(key))[0] == 0
    assert run(contract, "ed25519", input=bytes(64) + bytes.fromhex(key))[0] == 0


def test_secp256k1_recovers_the_sender_of_eip155s_example(contract: wasm.Module) -> None:
    result, key, _ = run(contract, "secp_recover", EIP155_RECID, input=EIP155_HASH + EIP155_SIG)
    assert result == 0 and len(key) == 33 and key[0] in (2, 3)
    assert eth_address(key) == EIP155_SENDER
    other, key1, _ = run(contract, "secp_recover", 1 - EIP155_RECID, input=EIP155_HASH + EIP155_SIG)
    assert other == 0 and eth_address(key1) != EIP155_SENDER


def test_secp256k1_verifies_with_either_key_form(contract: wasm.Module) -> None:
    import coincurve

    key = run(contract, "secp_recover", EIP155_RECID, input=EIP155_HASH + EIP155_SIG)[1]
    full = coincurve.PublicKey(key).format(compressed=False)
    for form in (key, full):
        assert run(contract, "secp_verify", input=EIP155_HASH + EIP155_SIG + form)[0] == 1
    wrong_hash = bytes([EIP155_HASH[0] ^ 1]) + EIP155_HASH[1:]
    assert run(contract, "secp_verify", input=wrong_hash + EIP155_SIG + key)[0] == 0


def test_secp256k1_verify_refuses_high_s_and_recover_takes_it(contract: wasm.Module) -> None:
    key = run(contract, "secp_recover", EIP155_RECID, input=EIP155_HASH + EIP155_SIG)[1]
    high = compact(EIP155_R, N - EIP155_S)  # the same signature, malleated: valid ECDSA but high s
    assert run(contract, "secp_verify", input=EIP155_HASH + high + key)[0] == 0
    assert run(contract, "secp_recover", 1 - EIP155_RECID, input=EIP155_HASH + high)[:2] == (0, key)


@pytest.mark.parametrize("pk_len", [0, 32, 34, 64, 66])
def test_secp256k1_verify_refuses_wrong_key_lengths(contract: wasm.Module, pk_len: int) -> None:
    key = run(contract, "secp_recover", EIP155_RECID, input=EIP155_HASH + EIP155_SIG)[1]
    padded = (key * 3)[:pk_len]
    assert run(contract, "secp_verify", input=EIP155_HASH + EIP155_SIG + padded)[0] == 0


@pytest.mark.parametrize("key", [bytes([2]) + (5).to_bytes(32, "big"), bytes([5]) + bytes(32),
                                 bytes([4]) + bytes(64), bytes([2]) + b"\xff" * 32])
def test_secp256k1_verify_refuses_invalid_points(contract: wasm.Module, key: bytes) -> None:
    assert run(contract, "secp_verify", input=EIP155_HASH + EIP155_SIG + key)[0] == 0


@pytest.mark.parametrize(("r", "s"), [(0, EIP155_S), (EIP155_R, 0), (N, EIP155_S), (EIP155_R, N),
                                      (N + 1, EIP155_S), (2**256 - 1, 2**256 - 1)])
def test_secp256k1_refuses_scalars_out_of_range(contract: wasm.Module, r: int, s: int) -> None:
    key = run(contract, "secp_recover", EIP155_RECID, input=EIP155_HASH + EIP155_SIG)[1]
    assert run(contract, "secp_verify", input=EIP155_HASH + compact(r, s) + key)[0] == 0
    for recid in range(4):
        assert run(contract, "secp_recover", recid, input=EIP155_HASH + compact(r, s))[0] == -1


@pytest.mark.parametrize("recid", [2, 3, 4, 27, -1])
def test_secp256k1_recover_refuses_ids_that_recover_nothing(contract: wasm.Module, recid: int) -> None:
    # 2 and 3 name the point x = r + n, which does not exist for this r (r + n >= p)
    assert run(contract, "secp_recover", recid, input=EIP155_HASH + EIP155_SIG)[0] == -1


# ---------------------------------------------------------------- memory bounds


END = crypto_contract.MEMORY_BYTES


@pytest.mark.parametrize(("function", "args"), [
    ("raw_sha256", (END - 10, 11, 0)),
    ("raw_sha256", (0, 1, END - 31)),
    ("raw_keccak256", (0xFFFFFFFF, 2, 0)),
    ("raw_blake2b256", (0, 0, END)),
    ("raw_ed25519_verify", (0, END + 1, IN, IN)),
    ("raw_ed25519_verify", (0, 0, END - 63, IN)),
    ("raw_ed25519_verify", (0, 0, IN, END - 31)),
    ("raw_secp256k1_verify", (END - 31, IN, IN, 33)),
    ("raw_secp256k1_verify", (IN, END - 63, IN, 33)),
    ("raw_secp256k1_verify", (IN, IN, END - 10, 33)),
    ("raw_secp256k1_verify", (IN, IN, END - 10, 66)),  # out of memory traps before the length is judged
    ("raw_secp256k1_recover", (IN, IN, 0, END - 32)),
    ("raw_secp256k1_recover", (IN, IN, 9, END - 32)),  # and before the recovery id is
])
def test_pointers_outside_memory_trap(contract: wasm.Module, function: str, args: tuple[int, ...]) -> None:
    with pytest.raises(wasm.Trap) as caught:
        run(contract, function, *[a - (1 << 32) if a >= 1 << 31 else a for a in args])
    assert caught.value.kind is wasm.TrapKind.OUT_OF_BOUNDS_MEMORY


def test_the_last_bytes_of_memory_are_in_bounds(contract: wasm.Module) -> None:
    assert run(contract, "raw_sha256", END - 64, 32, END - 32)[0] == 0


# ---------------------------------------------------------------- prices


@pytest.mark.parametrize("name", crypto_contract.HASHES)
@pytest.mark.parametrize("length", [1, 32, 33, 1000, 65536])
def test_hashes_cost_a_price_per_started_word(contract: wasm.Module, name: str, length: int) -> None:
    word = CryptoGas[f"{name.upper()}_WORD"]
    used0 = run(contract, f"raw_{name}", IN, 0, 0)[2]
    used = run(contract, f"raw_{name}", IN, length, 0)[2]
    assert used - used0 == word * ((length + 31) // 32)


def test_base_prices_are_the_abi_table(contract: wasm.Module) -> None:
    """Same wasm around each import: the gas differs by the base prices only."""
    used = {name: run(contract, f"raw_{name}", IN, 0, 0)[2] for name in crypto_contract.HASHES}
    assert used["keccak256"] - used["sha256"] == CryptoGas.KECCAK256 - CryptoGas.SHA256
    assert used["blake2b256"] - used["sha256"] == CryptoGas.BLAKE2B256 - CryptoGas.SHA256
    four = {name: run(contract, f"raw_{name}", IN, 0, IN, IN)[2]  # an empty message: no word price
            for name in ("ed25519_verify", "secp256k1_verify", "secp256k1_recover")}
    assert four["ed25519_verify"] - four["secp256k1_verify"] == (CryptoGas.ED25519_VERIFY
                                                                  - CryptoGas.SECP256K1_VERIFY)
    assert four["secp256k1_recover"] - four["secp256k1_verify"] == (CryptoGas.SECP256K1_RECOVER
                                                                     - CryptoGas.SECP256K1_VERIFY)
    assert all(ABI[name].gas == CryptoGas[name.upper()] for name in crypto_contract.CRYPTO)


def test_a_hash_costs_its_base_price_over_a_trivial_import(contract: wasm.Module) -> None:
    """raw_sha256 against the same arguments dropped around a call of a 10-gas import."""
    probe = wasm.decode(trivial_probe())
    baseline = run(probe, "raw", IN, 0, 0)[2]
    extra = 4 * Gas.BASE  # the probe's three drops of the arguments and one of input_len's result
    assert run(contract, "raw_sha256", IN, 0, 0)[2] - baseline == CryptoGas.SHA256 - HostGas.TRIVIAL - extra


def trivial_probe() -> bytes:
    """``raw(a, b, c) -> i32``: drops its arguments around a call of ``input_len`` (10 gas), as raw_sha256."""
    from wasmpool.wasm.builder import ModuleBuilder
    from wasmpool.wasm.opcodes import Opcode as O

    b = ModuleBuilder()
    f = b.import_func("env", "input_len", [], ["i32"])
    b.memory(1, 1, export="memory")
    b.func(["i32"] * 3, ["i32"], [(O.LOCAL_GET, 0), (O.LOCAL_GET, 1), (O.LOCAL_GET, 2), O.DROP, O.DROP,
                                  O.DROP, (O.CALL, f), O.DROP, (O.I32_CONST, 0)], export="raw")
    return b.build()


def test_gas_is_charged_before_the_hash_is_made(contract: wasm.Module) -> None:
    """A limit one short of a 64 KiB hash's price: out of gas, and nothing written to dst."""
    used = run(contract, "raw_sha256", IN, 65536, 0)[2]
    host = Host()
    host.begin(CallState(reader=NoState()))
    instance = wasm.instantiate(contract, imports=host.imports(), gas_limit=used - 1)
    with pytest.raises(wasm.GasExhausted):
        instance.exports["raw_sha256"](IN, 65536, 0)
    assert bytes(instance.exports["memory"].read(0, 32)) == bytes(32)
    host.end()


def test_the_contract_passes_the_import_check(contract: wasm.Module) -> None:
    check_imports(contract)  # every crypto import is in the ABI table with its exact type


# ---------------------------------------------------------------- through a real pool


def test_crypto_through_a_pool(client: Client) -> None:
    code = client.deploy(unique(crypto_contract.build()))
    assert client.call(code, "sha256", input=b"abc").output.hex() == SHA256_VECTORS[b"abc"]
    assert client.query(code, "keccak256").output.hex() == KECCAK256_VECTORS[b""]
    assert client.call(code, "ed25519", input=ed25519_input(*RFC8032[1])).results == [1]
    recovered = client.call(code, "secp_recover", [EIP155_RECID], input=EIP155_HASH + EIP155_SIG)
    assert recovered.ok and recovered.results == [0] and eth_address(recovered.output) == EIP155_SENDER
    high = client.call(code, "secp_verify", input=EIP155_HASH + compact(EIP155_R, N - EIP155_S)
                       + recovered.output)
    assert high.ok and high.results == [0]
    trapped = client.call(code, "raw_sha256", [crypto_contract.MEMORY_BYTES - 4, 8, 0])
    assert trapped.status.value == "trap"


def test_the_calibration_bench_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/engine/crypto_cost.py, at its smallest: a row per import and the speed-up line."""
    from bench.engine import crypto_cost

    assert crypto_cost.main(["--repeat", "1", "--calls", "3"]) == 0
    printed = capsys.readouterr().out
    assert all(f"\n{name} " in printed for name in crypto_contract.CRYPTO)
    assert "faster through the host" in printed
