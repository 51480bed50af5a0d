"""The crypto of the host ABI: hashes and signature checks on plain bytes, and their prices.

Contracts hash and check signatures more than they do anything else, and
compiled to our engine that work is slow (a SHA-256 of 64 KiB compiled into a
contract takes tens of milliseconds). The ABI (``wasmpool.worker.host``) gives
them these as host functions; this module is their pure part: it takes and
returns bytes, never touches a contract's memory and never raises for bad
input (a malformed signature or key is a failed check, not an error).

Libraries: ``hashlib`` for SHA-256 and BLAKE2b-256; ``pycryptodome`` for
Keccak-256 (Ethereum's, with the original padding, not SHA3-256) and Ed25519
(RFC 8032); ``coincurve`` (bindings of libsecp256k1, the library Bitcoin Core
and Ethereum clients use) for secp256k1 verification and public-key recovery,
which pycryptodome lacks.

Prices (:class:`CryptoGas`) are a base per call, charged on entry like every
ABI function's, plus a price per started 32-byte word of the data hashed
(hashing a byte costs far less than one gas). They were set with
``bench/engine/crypto_cost.py`` so that a unit of gas buys about the time it
buys in ordinary instructions (docs/gas.md, "Crypto").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from enum import IntEnum

import coincurve
from coincurve import ecdsa as coincurve_ecdsa
from Crypto.Hash import keccak
from Crypto.Signature import eddsa

DIGEST_SIZE = 32
WORD = 32
"""Bytes per priced word of hashed data."""
ED25519_SIGNATURE = 64
ED25519_KEY = 32
SECP256K1_HASH = 32
SECP256K1_SIGNATURE = 64
SECP256K1_KEYS = (33, 65)
"""Compressed and uncompressed SEC1 public keys."""
SECP256K1_RECOVERED_KEY = 33
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_ORDER = SECP256K1_ORDER // 2
RECOVERY_IDS = range(4)
"""0 and 1: the y parity of the point r; 2 and 3 the same for x = r + n (possible, astronomically rare)."""


class CryptoGas(IntEnum):
    """Crypto prices: base per call, and per started 32-byte word hashed."""

    SHA256 = 300
    KECCAK256 = 900
    BLAKE2B256 = 450
    ED25519_VERIFY = 40_000
    SECP256K1_VERIFY = 5_000
    SECP256K1_RECOVER = 5_000
    SHA256_WORD = 2
    KECCAK256_WORD = 9
    BLAKE2B256_WORD = 4
    ED25519_VERIFY_WORD = 6  # the SHA-512 of the message


def words(length: int) -> int:
    """Started 32-byte words in ``length`` bytes."""
    return (length + WORD - 1) // WORD


def _keccak256(data: bytes) -> bytes:
    return keccak.new(data=data, digest_bits=256).digest()


DIGESTS: dict[str, tuple[Callable[[bytes], bytes], CryptoGas]] = {
    "sha256": (lambda data: hashlib.sha256(data).digest(), CryptoGas.SHA256_WORD),
    "keccak256": (_keccak256, CryptoGas.KECCAK256_WORD),
    "blake2b256": (lambda data: hashlib.blake2b(data, digest_size=DIGEST_SIZE).digest(),
                   CryptoGas.BLAKE2B256_WORD),
}
"""Hash import name -> (32-byte digest function, price per word)."""


def ed25519_verify(message: bytes, signature: bytes, key: bytes) -> bool:
    """RFC 8032 Ed25519 (cofactored check, s < L): False for any malformed signature or key."""
    if len(signature) != ED25519_SIGNATURE or len(key) != ED25519_KEY:
        return False
    try:
        verifier = eddsa.new(eddsa.import_public_key(key), "rfc8032")
        verifier.verify(message, signature)
    except ValueError:
        return False
    return True


def _compact_scalars_valid(signature: bytes) -> bool:
    """Both r and s in [1, n)."""
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    return 0 < r < SECP256K1_ORDER and 0 < s < SECP256K1_ORDER


def secp256k1_verify(digest: bytes, signature: bytes, key: bytes) -> bool:
    """ECDSA over secp256k1 of a 32-byte hash, compact (r, s), low s only (s <= n/2)."""
    if (len(digest) != SECP256K1_HASH or len(signature) != SECP256K1_SIGNATURE
            or len(key) not in SECP256K1_KEYS or not _compact_scalars_valid(signature)
            or int.from_bytes(signature[32:], "big") > SECP256K1_HALF_ORDER):
        return False
    try:
        public = coincurve.PublicKey(key)
        der = coincurve_ecdsa.cdata_to_der(coincurve_ecdsa.deserialize_compact(signature))
        return bool(public.verify(der, digest, hasher=None))
    except (ValueError, TypeError):
        return False


def secp256k1_recover(digest: bytes, signature: bytes, recid: int) -> bytes | None:
    """The 33-byte compressed key that signed ``digest`` (any s, as Ethereum's ecrecover); None if none."""
    if (len(digest) != SECP256K1_HASH or len(signature) != SECP256K1_SIGNATURE
            or recid not in RECOVERY_IDS or not _compact_scalars_valid(signature)):
        return None
    try:
        public = coincurve.PublicKey.from_signature_and_message(signature + bytes([recid]), digest,
                                                                hasher=None)
    except (ValueError, TypeError):
        return None
    key: bytes = public.format(compressed=True)
    return key
