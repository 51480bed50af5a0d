"""The Rust SDK's iteration, crypto, event and gas_left wrappers, through examples/rust/toolbox.rs.

The toolbox contract calls ``scan_prefix`` (``state_scan``/``state_next``)
and the six crypto wrappers; these tests deploy it to a real broker, run
it on real worker processes over SQLite, and compare what it outputs with
Python's own answers and the standards' test vectors.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import coincurve
import pytest
from Crypto.Hash import keccak

from tests.pool.conftest import unique
from wasmpool.client import Client
from wasmpool.wire.protocol import Status

RUST = Path(__file__).resolve().parents[2] / "examples" / "rust"
NIST_SHA256_ABC = bytes.fromhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
KECCAK_EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
# RFC 8032, section 7.1, TEST 1 (the empty message) and TEST 2 (one byte, 0x72).
RFC8032 = [
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd"
     "25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c"
     "387b2eaeb4302aeeb00d291612bb0c00"),
]
SECRET = bytes(range(1, 33))


@pytest.fixture
def toolbox(client: Client) -> str:
    return client.deploy(unique((RUST / "toolbox.wasm").read_bytes()))


def put(client: Client, code: str, *pairs: bytes) -> None:
    for pair in pairs:
        assert client.call(code, "put", input=pair).ok


def test_a_scan_lists_a_prefix_in_either_order(client: Client, toolbox: str) -> None:
    put(client, toolbox, b"bal:carol 3", b"bal:alice 1", b"bal:bob 2", b"other x", b"bal; y")
    ascending = client.query(toolbox, "list", input=b"bal:")
    assert ascending.ok and ascending.output == b"bal:alice=1\nbal:bob=2\nbal:carol=3\n"
    descending = client.query(toolbox, "list_desc", input=b"bal:")
    assert descending.output == b"bal:carol=3\nbal:bob=2\nbal:alice=1\n"
    assert client.query(toolbox, "count", input=b"bal:").results == [3]
    assert client.query(toolbox, "count", input=b"nothing").results == [0]


def test_a_scan_returns_values_longer_than_its_first_buffer(client: Client, toolbox: str) -> None:
    long = b"v" * 1000
    put(client, toolbox, b"k:1 " + long, b"k:2 short")
    listed = client.query(toolbox, "list", input=b"k:")
    assert listed.output == b"k:1=" + long + b"\nk:2=short\n"


def test_the_digests_are_sha256_keccak256_and_blake2b256(client: Client, toolbox: str) -> None:
    empty = client.query(toolbox, "digests", input=b"")
    assert empty.ok and empty.output[32:64] == KECCAK_EMPTY
    assert client.query(toolbox, "digests", input=b"abc").output[:32] == NIST_SHA256_ABC
    data = b"abc" * 1000
    digests = client.query(toolbox, "digests", input=data).output
    assert digests == (hashlib.sha256(data).digest() + keccak.new(data=data, digest_bits=256).digest()
                       + hashlib.blake2b(data, digest_size=32).digest())


@pytest.mark.parametrize(("key", "message", "signature"), RFC8032)
def test_ed25519_accepts_the_rfc_8032_vectors_and_refuses_a_changed_message(
        client: Client, toolbox: str, key: str, message: str, signature: str) -> None:
    program = bytes.fromhex(signature) + bytes.fromhex(key)
    assert client.query(toolbox, "ed25519", input=program + bytes.fromhex(message)).results == [1]
    assert client.query(toolbox, "ed25519", input=program + bytes.fromhex(message) + b"!").results == [0]


def test_secp256k1_verifies_and_recovers_a_signer(client: Client, toolbox: str) -> None:
    key = coincurve.PrivateKey(SECRET)
    digest = hashlib.sha256(b"pay bob 5").digest()
    recoverable = key.sign_recoverable(digest, hasher=None)
    signature, recid = recoverable[:64], recoverable[64]
    public = key.public_key.format(compressed=True)
    verified = client.query(toolbox, "secp_verify", input=digest + signature + public)
    assert verified.results == [1]
    other = hashlib.sha256(b"pay bob 6").digest()
    assert client.query(toolbox, "secp_verify", input=other + signature + public).results == [0]
    recovered = client.query(toolbox, "secp_recover", input=digest + signature + bytes([recid]))
    assert recovered.ok and recovered.output == public


def test_a_signature_that_recovers_no_key_reverts_with_the_contracts_message(client: Client,
                                                                             toolbox: str) -> None:
    nothing = client.query(toolbox, "secp_recover", input=bytes(32) + bytes(64) + b"\x00")
    assert nothing.status is Status.REVERTED and nothing.error == "no key recovers"


def test_a_deleted_key_is_gone_from_state_and_from_scans(client: Client, toolbox: str) -> None:
    put(client, toolbox, b"d:1 one", b"d:2 two")
    assert client.call(toolbox, "forget", input=b"d:1").ok
    assert client.state_get(toolbox, b"d:1")[0] is None
    assert client.query(toolbox, "list", input=b"d:").output == b"d:2=two\n"


def test_the_context_wrappers_return_height_time_and_caller(client: Client, toolbox: str) -> None:
    context = {"caller": b"\x01\x02", "height": 7, "time": 1_700_000_000}
    assert client.query(toolbox, "context", context=context).output == b"7 1700000000 0102"
    assert client.query(toolbox, "context", context={"caller": b"alice"}).output == b"0 0 alice"


def test_a_key_longer_than_the_iterators_room_reverts_unless_it_is_given_room(client: Client,
                                                                              toolbox: str) -> None:
    long = b"w:" + b"k" * 300
    put(client, toolbox, long + b" v", b"w:a short")
    refused = client.query(toolbox, "list", input=b"w:")
    assert refused.status is Status.REVERTED
    assert refused.error == "state_next: a key longer than the iterator's key buffer"
    assert client.query(toolbox, "list_wide", input=b"w:").output == b"w:a=short\n" + long + b"=v\n"


# --- events and gas_left (issue 16): the SDK's Event and gas_left wrappers ---------------------------


def test_the_rust_event_wrapper_emits_typed_events_in_order(client: Client, toolbox: str) -> None:
    result = client.call(toolbox, "events", input=b"transfer from=alice to=bob amount=7 to=carol")
    assert result.ok
    assert result.events == [(b"transfer", [(b"from", b"alice"), (b"to", b"bob"), (b"amount", b"7"),
                                            (b"to", b"carol")])]
    undone = client.call(toolbox, "events_then_revert", input=b"transfer from=alice")
    assert undone.status is Status.REVERTED and undone.events == [] and undone.error == "undone"


def test_the_rust_gas_left_wrapper_reads_the_calls_meter(client: Client, toolbox: str) -> None:
    small, large = (client.call(toolbox, "gas", gas_limit=limit) for limit in (2_000_000, 3_000_000))
    assert small.ok and large.ok and small.gas_used == large.gas_used
    assert large.results[0] - small.results[0] == 1_000_000  # exact: the same code, a larger meter
    assert 0 < small.results[0] < 2_000_000 - small.gas_used + 1_000  # read near the end of the call
