//! Exported entry points: the [`entry!`](crate::entry) macro, typed errors
//! turned into reverts, and panics turned into reverts.

use std::string::String;

/// Why a contract function refuses to go on: its message becomes the revert message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error(String::from(message))
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error(message)
    }
}

/// What contract functions return: a value, or an [`Error`] that reverts the call.
pub type Result<T> = core::result::Result<T, Error>;

/// Makes a panic end the call with status `reverted` and the panic's message
/// (the default would trap with no message). Called by every entry point.
pub fn revert_on_panic() {
    std::panic::set_hook(std::boxed::Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("panic");
        crate::revert(message)
    }));
}

/// Runs a contract function: its error reverts with the error's message.
pub fn run<T>(function: fn() -> Result<T>) -> T {
    revert_on_panic();
    match function() {
        Ok(value) => value,
        Err(Error(message)) => crate::revert(message),
    }
}

/// Exports contract functions: `entry!(name => function)` exports `name`
/// taking no parameters and returning nothing, `entry!(name -> i64 =>
/// function)` one returning an `i64` (any wasm number type works). The
/// function is a `fn() -> wasmpool_sdk::Result<T>` defined in the same
/// module: an `Err` reverts the call with its message, and so does a panic.
/// Name all of a crate's entry points in one `entry!` (it makes one module,
/// `__wasmpool_exports`, for them).
///
/// ```ignore
/// use wasmpool_sdk::{entry, Result};
///
/// fn increment() -> Result<i64> {
///     let count = wasmpool_sdk::get_u64(b"count") + 1;
///     wasmpool_sdk::put_u64(b"count", count);
///     Ok(count as i64)
/// }
///
/// entry!(increment -> i64 => increment);
/// ```
#[macro_export]
macro_rules! entry {
    ($($name:ident $(-> $ret:ty)? => $function:ident);+ $(;)?) => {
        pub mod __wasmpool_exports {
            $(
                #[no_mangle]
                pub extern "C" fn $name() $(-> $ret)? {
                    $crate::run(super::$function)
                }
            )+
        }
    };
}
