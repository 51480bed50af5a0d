//! The contract's state: get, put, delete, and ordered iteration.

use crate::io::read_with;
use crate::sys;
use std::vec::Vec;

/// A key's value as this call sees it (its own writes included), or None when absent.
///
/// ```ignore
/// let count = wasmpool_sdk::get(b"count").map_or(0, |v| wasmpool_sdk::decode_u64(&v));
/// ```
pub fn get(key: &[u8]) -> Option<Vec<u8>> {
    read_with(|dst, cap| unsafe { sys::get_state(key.as_ptr(), key.len(), dst, cap) })
}

/// Writes a key (buffered; committed only when the call ends with status ok).
///
/// ```ignore
/// wasmpool_sdk::put(b"count", &7u64.to_le_bytes());
/// ```
pub fn put(key: &[u8], value: &[u8]) {
    unsafe { sys::put_state(key.as_ptr(), key.len(), value.as_ptr(), value.len()) }
}

/// Deletes a key (buffered, like [`put`]).
///
/// ```ignore
/// wasmpool_sdk::delete(b"count");
/// ```
pub fn delete(key: &[u8]) {
    unsafe { sys::delete_state(key.as_ptr(), key.len()) }
}

/// A u64 stored as 8 little-endian bytes; a value of another length reverts.
///
/// ```ignore
/// let n = wasmpool_sdk::decode_u64(&wasmpool_sdk::get(b"n").unwrap_or_default());
/// ```
pub fn decode_u64(bytes: &[u8]) -> u64 {
    if bytes.is_empty() {
        return 0;
    }
    let mut raw = [0u8; 8];
    if bytes.len() != 8 {
        crate::revert("corrupt state: a number is not 8 bytes");
    }
    raw.copy_from_slice(bytes);
    u64::from_le_bytes(raw)
}

/// The u64 at `key`, 0 when absent.
///
/// ```ignore
/// let supply = wasmpool_sdk::get_u64(b"supply");
/// ```
pub fn get_u64(key: &[u8]) -> u64 {
    get(key).map_or(0, |bytes| decode_u64(&bytes))
}

/// Stores a u64 at `key` as 8 little-endian bytes.
///
/// ```ignore
/// wasmpool_sdk::put_u64(b"supply", 1_000);
/// ```
pub fn put_u64(key: &[u8], value: u64) {
    put(key, &value.to_le_bytes())
}

/// The order of an iteration over keys (bytewise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Order {
    Ascending = 0,
    Descending = 1,
}

/// Room for a key and a value in the first copy of an entry; a longer
/// value is read again with [`get`], and a longer key once more at its size.
const KEY_ROOM: usize = 128;
const VALUE_ROOM: usize = 256;

/// An iterator over the contract's keys in `[start, end)` (ABI v2,
/// `state_scan`/`state_next`): each item is a `(key, value)` pair, as the
/// call sees state (its own writes included). Iterators end with the call.
///
/// ```ignore
/// // every balance, highest key first
/// for (key, value) in wasmpool_sdk::scan(b"bal:", b"bal;", wasmpool_sdk::Order::Descending) {
///     wasmpool_sdk::log(&key);
/// }
/// ```
pub struct Scan {
    id: i32,
    key: Vec<u8>,
    value: Vec<u8>,
}

/// Opens an iteration over the keys in `[start, end)`; an empty `end` means no upper bound.
pub fn scan(start: &[u8], end: &[u8], order: Order) -> Scan {
    let id = unsafe { sys::state_scan(start.as_ptr(), start.len(), end.as_ptr(), end.len(), order as i32) };
    Scan { id, key: Vec::with_capacity(KEY_ROOM), value: Vec::with_capacity(VALUE_ROOM) }
}

/// Every key starting with `prefix`, in `order`.
///
/// ```ignore
/// let holders = wasmpool_sdk::scan_prefix(b"bal:", wasmpool_sdk::Order::Ascending).count();
/// ```
pub fn scan_prefix(prefix: &[u8], order: Order) -> Scan {
    scan(prefix, &prefix_end(prefix), order)
}

/// The smallest key above every key starting with `prefix` (empty: none is).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != 0xFF {
            end.push(last + 1);
            return end;
        }
    }
    end
}

impl Iterator for Scan {
    type Item = (Vec<u8>, Vec<u8>);

    fn next(&mut self) -> Option<Self::Item> {
        let mut lens = [0u8; 8];
        let more = unsafe {
            sys::state_next(
                self.id,
                self.key.as_mut_ptr(),
                self.key.capacity(),
                self.value.as_mut_ptr(),
                self.value.capacity(),
                lens.as_mut_ptr(),
            )
        };
        if more != 1 {
            return None;
        }
        let key_len = u32::from_le_bytes([lens[0], lens[1], lens[2], lens[3]]) as usize;
        let value_len = u32::from_le_bytes([lens[4], lens[5], lens[6], lens[7]]) as usize;
        if key_len > self.key.capacity() {
            // The entry is gone from the iterator: a key this long stops the
            // iteration rather than be returned cut short.
            crate::revert("state_next: a key longer than the iterator's key buffer");
        }
        unsafe { self.key.set_len(key_len) };
        let key = self.key.clone();
        let value = if value_len > self.value.capacity() {
            get(&key).unwrap_or_default()
        } else {
            unsafe { self.value.set_len(value_len) };
            self.value.clone()
        };
        Some((key, value))
    }
}

impl Scan {
    /// Room for keys up to `bytes` long (the default is 128 bytes; keys may be up to 64 KiB).
    ///
    /// ```ignore
    /// let long = wasmpool_sdk::scan(b"", b"", wasmpool_sdk::Order::Ascending).key_room(4096);
    /// ```
    pub fn key_room(mut self, bytes: usize) -> Self {
        self.key = Vec::with_capacity(bytes);
        self
    }
}
