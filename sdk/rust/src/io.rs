//! The call's input and output, logs, revert, caller, block info and gas.

use crate::sys;
use std::vec::Vec;

/// Bytes a copying import is first given room for; longer data is read again
/// with exactly its length (the imports return the full length).
pub(crate) const FIRST_READ: usize = 128;

/// Read data of unknown length through a copying import `copy(dst, cap) -> len`.
///
/// Returns None when the import answers a negative length (absent). The
/// import is called a second time only when the data is longer than
/// [`FIRST_READ`].
pub(crate) fn read_with(mut copy: impl FnMut(*mut u8, usize) -> i32) -> Option<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::with_capacity(FIRST_READ);
    let len = copy(buf.as_mut_ptr(), FIRST_READ);
    if len < 0 {
        return None;
    }
    let len = len as usize;
    if len > FIRST_READ {
        buf = Vec::with_capacity(len);
        copy(buf.as_mut_ptr(), len);
    }
    // SAFETY: the import wrote `len` bytes (at most the capacity) at the buffer.
    unsafe { buf.set_len(len) };
    Some(buf)
}

/// The call's input bytes.
///
/// ```ignore
/// let text = wasmpool_sdk::input();   // b"alice 10" for `--text "alice 10"`
/// ```
pub fn input() -> Vec<u8> {
    let len = unsafe { sys::input_len() } as usize;
    let mut buf: Vec<u8> = Vec::with_capacity(len);
    unsafe {
        sys::get_input(buf.as_mut_ptr(), len);
        buf.set_len(len);
    }
    buf
}

/// Sets the call's output bytes (the last call wins).
///
/// ```ignore
/// wasmpool_sdk::output(b"42");
/// ```
pub fn output(bytes: &[u8]) {
    unsafe { sys::set_output(bytes.as_ptr(), bytes.len()) }
}

/// Appends an entry to the result's `logs`.
///
/// ```ignore
/// wasmpool_sdk::log("minted");
/// ```
pub fn log(entry: impl AsRef<[u8]>) {
    let entry = entry.as_ref();
    unsafe { sys::log(entry.as_ptr(), entry.len()) }
}

/// Ends the call with status `reverted` and this message; nothing it wrote is committed.
///
/// ```ignore
/// if amount == 0 { wasmpool_sdk::revert("amount must be positive") }
/// ```
pub fn revert(message: impl AsRef<str>) -> ! {
    let message = message.as_ref();
    unsafe { sys::revert(message.as_ptr(), message.len()) }
}

/// Who called: the identity the client gave in the call's context, or the
/// calling contract's 20-byte address when a contract calls (ABI v2).
///
/// ```ignore
/// let who = wasmpool_sdk::caller();   // b"alice"
/// ```
pub fn caller() -> Vec<u8> {
    read_with(|dst, cap| unsafe { sys::caller(dst, cap) }).unwrap_or_default()
}

/// The `height` of the call's context.
///
/// ```ignore
/// if wasmpool_sdk::block_height() < unlock { wasmpool_sdk::revert("locked") }
/// ```
pub fn block_height() -> u64 {
    unsafe { sys::block_height() as u64 }
}

/// The `time` of the call's context, in seconds.
///
/// ```ignore
/// let now = wasmpool_sdk::block_time();
/// ```
pub fn block_time() -> u64 {
    unsafe { sys::block_time() as u64 }
}

/// Gas remaining to this frame (ABI v2).
///
/// ```ignore
/// let budget = wasmpool_sdk::gas_left() / 2;   // give a callee half of what is left
/// ```
pub fn gas_left() -> u64 {
    unsafe { sys::gas_left() as u64 }
}
