//! The wasmpool contract SDK: safe wrappers for the host ABI (docs/abi.md).
//!
//! A contract is a `cdylib` built for `wasm32-unknown-unknown` that uses
//! these functions and exports its entry points with [`entry!`]:
//!
//! ```ignore
//! use wasmpool_sdk::{entry, Result};
//!
//! fn increment() -> Result<i64> {
//!     let count = wasmpool_sdk::get_u64(b"count") + 1;
//!     wasmpool_sdk::put_u64(b"count", count);
//!     Ok(count as i64)
//! }
//!
//! entry!(increment -> i64 => increment);
//! ```
//!
//! - ABI v1: [`input`], [`output`], [`get`], [`put`], [`delete`], [`log`],
//!   [`revert`], [`caller`], [`block_height`], [`block_time`].
//! - ABI v2, contracts: [`self_address`], [`call`] with its [`CallResult`],
//!   [`return_data`], [`Event`], [`gas_left`].
//! - ABI v2, iteration and crypto: [`scan`] (an [`Iterator`]), [`sha256`],
//!   [`keccak256`], [`blake2b256`], [`ed25519_verify`], [`secp256k1_verify`],
//!   [`secp256k1_recover`].
//!
//! Each wrapper reaches exactly one import, so a contract imports only the
//! host functions it uses: one that calls no v2 wrapper is a v1 contract.
//! Memory comes from a bump allocator ([`heap`]): an instance lives for one
//! call, so nothing needs freeing.

pub mod contract;
pub mod crypto;
pub mod entry;
pub mod event;
pub mod heap;
pub mod io;
pub mod state;
pub mod sys;
pub mod text;

pub use contract::{call, return_data, self_address, Address, CallResult, CallStatus};
pub use crypto::{blake2b256, ed25519_verify, keccak256, secp256k1_recover, secp256k1_verify, sha256};
pub use entry::{revert_on_panic, run, Error, Result};
pub use event::Event;
pub use io::{block_height, block_time, caller, gas_left, input, log, output, revert};
pub use state::{decode_u64, delete, get, get_u64, prefix_end, put, put_u64, scan, scan_prefix, Order, Scan};
pub use text::{account_text, decimal, fields, hex, parse_u64, unhex};

#[global_allocator]
static HEAP: heap::Bump = heap::Bump::new();
