#![allow(dead_code)]

//! Shared by every Rust program of the corpus: the input buffer the tests
//! fill (at `in_ptr()`) and the output bytes they read (`out_ptr()`,
//! `out_len()`).

pub static mut INPUT: [u8; 1 << 16] = [0; 1 << 16];
static mut OUTPUT: Vec<u8> = Vec::new();

#[no_mangle]
pub extern "C" fn in_ptr() -> *mut u8 {
    unsafe { INPUT.as_mut_ptr() }
}

#[no_mangle]
pub extern "C" fn out_ptr() -> *const u8 {
    unsafe { OUTPUT.as_ptr() }
}

#[no_mangle]
pub extern "C" fn out_len() -> usize {
    unsafe { OUTPUT.len() }
}

pub fn input(len: usize) -> &'static [u8] {
    unsafe { &INPUT[..len] }
}

pub fn set_output(bytes: Vec<u8>) {
    unsafe { OUTPUT = bytes }
}

/// Reads `n` little-endian 64-bit integers from the input.
pub fn input_i64s(n: usize) -> Vec<i64> {
    input(8 * n).chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}

pub fn output_i64s(values: &[i64]) {
    set_output(values.iter().flat_map(|v| v.to_le_bytes()).collect())
}
