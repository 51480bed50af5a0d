//! Contracts calling contracts (ABI v2): addresses, `call_contract`, `return_data`.

use crate::io::read_with;
use crate::sys;
use std::string::String;
use std::vec::Vec;

/// A contract's address: 20 bytes, shown as 40 lowercase hex characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 20]);

impl Address {
    /// The address written as 40 hex characters (either case), or None.
    ///
    /// ```ignore
    /// let token = Address::from_hex(b"00112233445566778899aabbccddeeff00112233").unwrap();
    /// ```
    pub fn from_hex(text: &[u8]) -> Option<Address> {
        let bytes = crate::text::unhex(text)?;
        let mut raw = [0u8; 20];
        if bytes.len() != raw.len() {
            return None;
        }
        raw.copy_from_slice(&bytes);
        Some(Address(raw))
    }

    /// Its 40 lowercase hex characters.
    ///
    /// ```ignore
    /// wasmpool_sdk::log(wasmpool_sdk::self_address().to_hex());
    /// ```
    pub fn to_hex(&self) -> String {
        crate::text::hex(&self.0)
    }
}

/// The running contract's own address.
///
/// ```ignore
/// let me = wasmpool_sdk::self_address();
/// ```
pub fn self_address() -> Address {
    let mut raw = [0u8; 20];
    unsafe { sys::self_address(raw.as_mut_ptr(), raw.len()) };
    Address(raw)
}

/// How a call to another contract ended: `call_contract`'s status codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum CallStatus {
    Ok = 0,
    Reverted = 1,
    Trap = 2,
    OutOfGas = 3,
    /// Unknown contract or function, reentrancy, or the call depth limit.
    Error = 4,
}

impl CallStatus {
    const BY_CODE: [CallStatus; 5] =
        [CallStatus::Ok, CallStatus::Reverted, CallStatus::Trap, CallStatus::OutOfGas, CallStatus::Error];

    /// The status of a code (a code the SDK does not know is an error).
    pub fn from_code(code: i32) -> CallStatus {
        usize::try_from(code).ok().and_then(|i| Self::BY_CODE.get(i).copied()).unwrap_or(CallStatus::Error)
    }
}

/// The result of [`call`]: the callee's output when it returned, its
/// message when it reverted. Only an `Ok` callee's writes and events join
/// this call's; after any other outcome the caller may go on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallResult {
    Ok(Vec<u8>),
    Reverted(String),
    Trap,
    OutOfGas,
    Error,
}

impl CallResult {
    /// The output, or an [`Error`](crate::Error) describing the failure (for `?`).
    ///
    /// ```ignore
    /// let out = wasmpool_sdk::call(&token, "balance", b"alice", 0).ok_or_revert()?;
    /// ```
    pub fn ok_or_revert(self) -> Result<Vec<u8>, crate::Error> {
        match self {
            CallResult::Ok(output) => Ok(output),
            CallResult::Reverted(message) => Err(crate::Error::from(message)),
            CallResult::Trap => Err("callee trapped".into()),
            CallResult::OutOfGas => Err("callee ran out of gas".into()),
            CallResult::Error => Err("call failed: unknown contract or function, reentrancy or depth".into()),
        }
    }

    /// True when the callee returned normally.
    pub fn is_ok(&self) -> bool {
        matches!(self, CallResult::Ok(_))
    }
}

/// Calls `function` of the contract at `address` with `input`, synchronously;
/// `gas` caps what it may use (0: all that is left). The callee sees
/// [`caller`](crate::caller) = this contract's address.
///
/// ```ignore
/// match wasmpool_sdk::call(&token, "transfer", b"bob 5", 0) {
///     CallResult::Ok(_) => {}
///     CallResult::Reverted(why) => wasmpool_sdk::revert(why),
///     _ => wasmpool_sdk::revert("token call failed"),
/// }
/// ```
pub fn call(address: &Address, function: &str, input: &[u8], gas: u64) -> CallResult {
    let code = unsafe {
        sys::call_contract(
            address.0.as_ptr(),
            address.0.len(),
            function.as_ptr(),
            function.len(),
            input.as_ptr(),
            input.len(),
            gas as i64,
        )
    };
    match CallStatus::from_code(code) {
        CallStatus::Ok => CallResult::Ok(return_data()),
        CallStatus::Reverted => CallResult::Reverted(String::from_utf8_lossy(&return_data()).into_owned()),
        CallStatus::Trap => CallResult::Trap,
        CallStatus::OutOfGas => CallResult::OutOfGas,
        CallStatus::Error => CallResult::Error,
    }
}

/// The last callee's output (or revert message); empty before any call.
///
/// ```ignore
/// let last = wasmpool_sdk::return_data();
/// ```
pub fn return_data() -> Vec<u8> {
    read_with(|dst, cap| unsafe { sys::return_data(dst, cap) }).unwrap_or_default()
}
