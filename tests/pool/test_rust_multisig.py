"""The Rust multisig wallet (examples/rust/multisig.rs) in a real pool, calling a Rust token.

A wallet of three ed25519 signers (keys from fixed seeds, signed with
pycryptodome, verified by the host's ``ed25519_verify``) and a threshold of
two holds a balance on a token instance. A signed ``execute`` moves the
wallet's tokens (the token sees the wallet's address as its caller); each
test checks one way a call is refused: too few signatures, a key that is
not the signer's, a replayed nonce, a signature over another input or for
another wallet, and a callee that fails, which reverts the nonce bump too.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from Crypto.PublicKey import ECC
from Crypto.Signature import eddsa

from tests.pool.conftest import Pool
from wasmpool.client import Client, Result
from wasmpool.wire.protocol import Status

RUST = Path(__file__).resolve().parents[2] / "examples" / "rust"
DOMAIN = b"wasmpool-multisig-v1"
ALICE = b"alice"
_salts = itertools.count()


def signer(name: str) -> ECC.EccKey:
    """An ed25519 key from a fixed seed: the same keys every run."""
    return ECC.construct(curve="Ed25519", seed=hashlib.sha256(b"multisig test " + name.encode()).digest())


SIGNERS = [signer(name) for name in ("ann", "ben", "cat")]
OUTSIDER = signer("eve")


def public(key: ECC.EccKey) -> str:
    raw: bytes = key.public_key().export_key(format="raw")
    return raw.hex()


@dataclass(frozen=True)
class Wallet:
    address: str
    token: str


@pytest.fixture(scope="module")
def codes(pool: Pool) -> tuple[str, str]:
    """The multisig and token codes, deployed once; each test makes its own instances."""
    with pool.client() as client:
        multisig, token = ((RUST / f"{name}.wasm").read_bytes() for name in ("multisig", "token"))
        return client.deploy(multisig), client.deploy(token)


def instance(client: Client, code_id: str, init: str = "") -> Result:
    salt = f"multisig-test-{next(_salts)}".encode()
    made = client.instantiate(code_id, init.encode(), salt=salt, caller=ALICE)
    return made.result if not made.ok else Result(Status.OK, output=made.address.encode())


def make(client: Client, code_id: str, init: str = "") -> str:
    made = instance(client, code_id, init)
    assert made.ok, made.error
    return made.output.decode()


def ok(result: Result) -> Result:
    assert result.ok, result.error
    return result


@pytest.fixture
def wallet(client: Client, codes: tuple[str, str]) -> Wallet:
    """A 2-of-3 wallet holding 100 of a fresh token (alice owns the token and minted them to the wallet)."""
    multisig, token_code = codes
    address = make(client, multisig, "2 " + " ".join(public(k) for k in SIGNERS))
    token = make(client, token_code)
    ok(client.call(token, "mint", input=f"{address} 100".encode(), context={"caller": ALICE}))
    return Wallet(address, token)


def message(wallet: str, nonce: int, target: str, function: str, data: bytes) -> bytes:
    """The canonical message the signers sign (examples/rust/multisig.rs)."""
    return (DOMAIN + bytes.fromhex(wallet) + struct.pack("<Q", nonce) + bytes.fromhex(target)
            + struct.pack("<I", len(function)) + function.encode() + struct.pack("<I", len(data)) + data)


def sign(key: ECC.EccKey, signed: bytes) -> str:
    signature: bytes = eddsa.new(key, "rfc8032").sign(signed)
    return signature.hex()


def execute(client: Client, wallet: Wallet, nonce: int, function: str, data: bytes,
            signatures: list[tuple[int, ECC.EccKey]], signed_data: bytes | None = None,
            signed_wallet: str | None = None, target: str | None = None) -> Result:
    """Submit an execute (by a relayer: the caller does not matter), signed by ``(index, key)`` pairs.

    The signatures are over ``signed_data``/``signed_wallet`` when given, to forge mismatches.
    """
    target = target or wallet.token
    signed = message(signed_wallet or wallet.address, nonce, target, function,
                     data if signed_data is None else signed_data)
    sigs = [f"{index}:{sign(key, signed)}" for index, key in signatures]
    text = " ".join([str(nonce), target, function, data.hex() or "-", *sigs])
    return client.call(wallet.address, "execute", input=text.encode(), context={"caller": b"relayer"})


def balance(client: Client, wallet: Wallet, account: str) -> int:
    return int(ok(client.query(wallet.token, "balance", input=account.encode())).results[0])


def nonce(client: Client, wallet: Wallet) -> int:
    return int(ok(client.query(wallet.address, "nonce")).results[0])


def refused(result: Result, error: str) -> None:
    assert (result.status, result.error, result.writes, result.events) == (Status.REVERTED, error, {}, [])


def test_the_wallet_lists_its_threshold_and_signers_and_starts_at_nonce_0(client: Client,
                                                                         wallet: Wallet) -> None:
    listed = ok(client.query(wallet.address, "signers")).output.decode()
    assert listed == "2 " + " ".join(public(k) for k in SIGNERS)
    assert nonce(client, wallet) == 0


def test_a_threshold_of_signatures_moves_the_wallets_tokens(client: Client, wallet: Wallet) -> None:
    done = ok(execute(client, wallet, 0, "transfer", b"bob 30", [(0, SIGNERS[0]), (2, SIGNERS[2])]))
    assert [balance(client, wallet, wallet.address), balance(client, wallet, "bob")] == [70, 30]
    assert nonce(client, wallet) == 1
    assert done.events == [
        (b"transfer", [(b"from", wallet.address.encode()), (b"to", b"bob"), (b"amount", b"30")],
         bytes.fromhex(wallet.token)),
        (b"execute", [(b"nonce", b"0"), (b"target", wallet.token.encode()), (b"function", b"transfer")]),
    ]


def test_execute_forwards_the_callees_output(client: Client, codes: tuple[str, str], wallet: Wallet) -> None:
    other = make(client, codes[0], f"1 {public(OUTSIDER)}")  # its signers query outputs "1 KEY"
    asked = ok(execute(client, wallet, 0, "signers", b"", [(1, SIGNERS[1]), (0, SIGNERS[0])], target=other))
    assert asked.output == f"1 {public(OUTSIDER)}".encode()


def test_a_function_returning_a_value_cannot_be_called_by_a_contract(client: Client,
                                                                     wallet: Wallet) -> None:
    """The token's balance is () -> i64: a contract may call only () -> () exports (else code 4)."""
    signers = [(0, SIGNERS[0]), (1, SIGNERS[1])]
    refused(execute(client, wallet, 0, "balance", b"bob", signers), "call failed: balance: call refused")


def test_fewer_signatures_than_the_threshold_are_refused(client: Client, wallet: Wallet) -> None:
    refused(execute(client, wallet, 0, "transfer", b"bob 30", [(1, SIGNERS[1])]), "1 of 2 signatures")
    assert balance(client, wallet, wallet.address) == 100 and nonce(client, wallet) == 0


def test_one_signer_signing_twice_is_refused(client: Client, wallet: Wallet) -> None:
    refused(execute(client, wallet, 0, "transfer", b"bob 30", [(1, SIGNERS[1]), (1, SIGNERS[1])]),
            "signer 1 signed twice")


def test_a_signature_by_a_key_not_the_signers_is_refused(client: Client, wallet: Wallet) -> None:
    refused(execute(client, wallet, 0, "transfer", b"bob 30", [(0, SIGNERS[0]), (1, OUTSIDER)]),
            "signature of signer 1 is invalid")
    assert balance(client, wallet, "bob") == 0


def test_a_replayed_nonce_is_refused(client: Client, wallet: Wallet) -> None:
    signers = [(0, SIGNERS[0]), (1, SIGNERS[1])]
    ok(execute(client, wallet, 0, "transfer", b"bob 30", signers))
    refused(execute(client, wallet, 0, "transfer", b"bob 30", signers), "nonce 0 is not the wallet's nonce 1")
    assert balance(client, wallet, "bob") == 30


def test_a_signature_over_another_input_is_refused(client: Client, wallet: Wallet) -> None:
    refused(execute(client, wallet, 0, "transfer", b"bob 90", [(0, SIGNERS[0]), (1, SIGNERS[1])],
                    signed_data=b"bob 9"), "signature of signer 0 is invalid")
    assert balance(client, wallet, "bob") == 0


def test_a_signature_for_another_wallet_of_the_same_signers_is_refused(client: Client, codes: tuple[str, str],
                                                                       wallet: Wallet) -> None:
    twin = make(client, codes[0], "2 " + " ".join(public(k) for k in SIGNERS))
    refused(execute(client, wallet, 0, "transfer", b"bob 30", [(0, SIGNERS[0]), (1, SIGNERS[1])],
                    signed_wallet=twin), "signature of signer 0 is invalid")


def test_a_failing_callee_reverts_everything_and_the_call_may_be_submitted_again(client: Client,
                                                                                 wallet: Wallet) -> None:
    signers = [(0, SIGNERS[0]), (2, SIGNERS[2])]
    refused(execute(client, wallet, 0, "transfer", b"bob 150", signers),
            "call failed: transfer: insufficient balance")
    assert nonce(client, wallet) == 0  # the bump was undone with the rest
    ok(client.call(wallet.token, "mint", input=f"{wallet.address} 50".encode(), context={"caller": ALICE}))
    ok(execute(client, wallet, 0, "transfer", b"bob 150", signers))  # the same signed call, now funded
    assert [balance(client, wallet, wallet.address), balance(client, wallet, "bob"), nonce(client, wallet)] \
        == [0, 150, 1]


def test_a_call_to_no_contract_or_back_into_the_wallet_is_refused(client: Client, wallet: Wallet) -> None:
    signers = [(0, SIGNERS[0]), (1, SIGNERS[1])]
    refused(execute(client, wallet, 0, "transfer", b"bob 1", signers, target="00" * 20),
            "call failed: transfer: call refused")  # unknown contract: call_contract returns 4
    refused(execute(client, wallet, 0, "nonce", b"", signers, target=wallet.address),
            "call failed: nonce: call refused")  # reentrancy: the wallet is on the call stack


BAD_THRESHOLD = "the threshold must be 1 to the number of signers"


@pytest.mark.parametrize(("init", "error"), [
    pytest.param("", "expected: THRESHOLD KEY...", id="empty"),
    pytest.param("1", "a wallet has 1 to 32 signers", id="no-keys"),
    pytest.param(f"0 {public(SIGNERS[0])}", BAD_THRESHOLD, id="threshold-0"),
    pytest.param(f"2 {public(SIGNERS[0])}", BAD_THRESHOLD, id="threshold-above"),
    pytest.param(f"1 {public(SIGNERS[0])} {public(SIGNERS[0])}", "a signer is listed twice", id="duplicate"),
    pytest.param("1 abcd", "a public key must be 64 hex characters", id="short-key"),
])
def test_a_malformed_wallet_is_not_created(client: Client, codes: tuple[str, str], init: str,
                                           error: str) -> None:
    made = instance(client, codes[0], init)
    assert (made.status, made.error) == (Status.REVERTED, error)


def test_the_signing_script_makes_a_wallet_and_an_execute_it_accepts(client: Client,
                                                                     codes: tuple[str, str]) -> None:
    """examples/rust/multisig_sign.py, as docs/contracts.md runs it: keys, then a signed execute."""
    def script(*argv: str) -> str:
        done = subprocess.run([sys.executable, str(RUST / "multisig_sign.py"), *argv], capture_output=True,
                              text=True, check=True, timeout=60)
        return done.stdout.strip()

    address = make(client, codes[0], "2 " + script("keys", "0", "1", "2"))
    token = make(client, codes[1])
    ok(client.call(token, "mint", input=f"{address} 5".encode(), context={"caller": ALICE}))
    signed = script("execute", address, "0", token, "transfer", "carol 5", "0", "2")
    ok(client.call(address, "execute", input=signed.encode(), context={"caller": b"anyone"}))
    assert ok(client.query(token, "balance", input=b"carol")).results == [5]
    once = script("execute", address, "1", token, "transfer", "carol 5", "1")
    refused(client.call(address, "execute", input=once.encode()), "1 of 2 signatures")
