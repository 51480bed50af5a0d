//! Native hashing and signature checks (ABI v2): the host computes them,
//! far faster than the same code compiled into the contract.

use crate::sys;

/// SHA-256 of `data`.
///
/// ```ignore
/// let digest: [u8; 32] = wasmpool_sdk::sha256(b"abc");
/// ```
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    unsafe { sys::sha256(data.as_ptr(), data.len(), out.as_mut_ptr()) };
    out
}

/// Ethereum's Keccak-256 (not SHA3-256) of `data`.
///
/// ```ignore
/// let topic = wasmpool_sdk::keccak256(b"Transfer(address,address,uint256)");
/// ```
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    unsafe { sys::keccak256(data.as_ptr(), data.len(), out.as_mut_ptr()) };
    out
}

/// BLAKE2b with a 32-byte digest of `data`.
///
/// ```ignore
/// let id = wasmpool_sdk::blake2b256(&order_bytes);
/// ```
pub fn blake2b256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    unsafe { sys::blake2b256(data.as_ptr(), data.len(), out.as_mut_ptr()) };
    out
}

/// Whether `signature` is `public_key`'s ed25519 signature of `message`.
///
/// ```ignore
/// if !wasmpool_sdk::ed25519_verify(&msg, &sig, &owner_key) { wasmpool_sdk::revert("bad signature") }
/// ```
pub fn ed25519_verify(message: &[u8], signature: &[u8; 64], public_key: &[u8; 32]) -> bool {
    unsafe { sys::ed25519_verify(message.as_ptr(), message.len(), signature.as_ptr(), public_key.as_ptr()) == 1 }
}

/// Whether the compact `(r, s)` `signature` (low s) of the 32-byte `hash` is
/// `public_key`'s (33 bytes compressed or 65 uncompressed) on secp256k1.
///
/// ```ignore
/// let valid = wasmpool_sdk::secp256k1_verify(&wasmpool_sdk::sha256(&msg), &sig, &key);
/// ```
pub fn secp256k1_verify(hash: &[u8; 32], signature: &[u8; 64], public_key: &[u8]) -> bool {
    unsafe { sys::secp256k1_verify(hash.as_ptr(), signature.as_ptr(), public_key.as_ptr(), public_key.len()) == 1 }
}

/// The compressed public key that signed `hash` with `signature` and
/// recovery id `recid` (0 to 3), or None when no key recovers.
///
/// ```ignore
/// let signer = wasmpool_sdk::secp256k1_recover(&hash, &sig, 1).unwrap_or_else(|| wasmpool_sdk::revert("no signer"));
/// ```
pub fn secp256k1_recover(hash: &[u8; 32], signature: &[u8; 64], recid: u8) -> Option<[u8; 33]> {
    let mut out = [0u8; 33];
    let code = unsafe { sys::secp256k1_recover(hash.as_ptr(), signature.as_ptr(), recid as i32, out.as_mut_ptr()) };
    if code == 0 {
        Some(out)
    } else {
        None
    }
}
