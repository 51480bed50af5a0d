//! The raw imports of the host ABI, module `env` (docs/abi.md).
//!
//! Every pointer is an `i32` offset into the contract's memory and every
//! length an `i32`; on wasm32 `*const u8` and `usize` are both `i32`.
//! These are `unsafe` and take raw pointers: use the safe wrappers of the
//! other modules instead. An import is kept in the built module only when a
//! function that reaches it is linked in (wasm-ld drops unused imports), so a
//! contract that never calls a v2 wrapper does not import any v2 function.

#[link(wasm_import_module = "env")]
extern "C" {
    // ABI v1.
    pub fn input_len() -> i32;
    pub fn get_input(dst: *mut u8, cap: usize) -> i32;
    pub fn set_output(ptr: *const u8, len: usize);
    pub fn get_state(key: *const u8, key_len: usize, dst: *mut u8, cap: usize) -> i32;
    pub fn put_state(key: *const u8, key_len: usize, value: *const u8, value_len: usize);
    pub fn delete_state(key: *const u8, key_len: usize);
    pub fn log(ptr: *const u8, len: usize);
    pub fn revert(ptr: *const u8, len: usize) -> !;
    pub fn caller(dst: *mut u8, cap: usize) -> i32;
    pub fn block_height() -> i64;
    pub fn block_time() -> i64;

    // ABI v2: contracts (issue 16).
    pub fn self_address(dst: *mut u8, cap: usize) -> i32;
    pub fn call_contract(
        addr: *const u8,
        addr_len: usize,
        func: *const u8,
        func_len: usize,
        input: *const u8,
        input_len: usize,
        gas: i64,
    ) -> i32;
    pub fn return_data(dst: *mut u8, cap: usize) -> i32;
    pub fn emit_event(kind: *const u8, kind_len: usize, attrs: *const u8, attrs_len: usize);
    pub fn gas_left() -> i64;

    // ABI v2: iteration and crypto (issue 17).
    pub fn state_scan(start: *const u8, start_len: usize, end: *const u8, end_len: usize, order: i32) -> i32;
    pub fn state_next(
        iter: i32,
        key_dst: *mut u8,
        key_cap: usize,
        val_dst: *mut u8,
        val_cap: usize,
        lens_dst: *mut u8,
    ) -> i32;
    pub fn sha256(ptr: *const u8, len: usize, dst: *mut u8);
    pub fn keccak256(ptr: *const u8, len: usize, dst: *mut u8);
    pub fn blake2b256(ptr: *const u8, len: usize, dst: *mut u8);
    pub fn ed25519_verify(msg: *const u8, msg_len: usize, sig: *const u8, pk: *const u8) -> i32;
    pub fn secp256k1_verify(hash: *const u8, sig: *const u8, pk: *const u8, pk_len: usize) -> i32;
    pub fn secp256k1_recover(hash: *const u8, sig: *const u8, recid: i32, dst: *mut u8) -> i32;
}
