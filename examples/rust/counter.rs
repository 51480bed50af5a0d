//! The tutorial's counter, in Rust: one number in state.
//!
//!   increment() -> the new count  (i64; reads and writes the key "count")
//!   get()       -> the count      (i64; read-only, fine for `wasmpool query`)
//!   add()       input "N": adds N and returns the count; reverts "bad number"
//!               when N is not a number, and panics (so reverts with the
//!               panic's message) when the count would overflow
//!
//! It uses only ABI v1 functions, so it imports nothing else.

use wasmpool_sdk::{entry, get_u64, input, parse_u64, put_u64, Result};

const COUNT: &[u8] = b"count";

fn increment() -> Result<i64> {
    let count = get_u64(COUNT) + 1;
    put_u64(COUNT, count);
    Ok(count as i64)
}

fn get() -> Result<i64> {
    Ok(get_u64(COUNT) as i64)
}

fn add() -> Result<i64> {
    let amount = parse_u64(&input()).ok_or("bad number")?;
    let count = get_u64(COUNT) + amount; // built with overflow checks: an overflow panics
    put_u64(COUNT, count);
    Ok(count as i64)
}

entry! {
    increment -> i64 => increment;
    get -> i64 => get;
    add -> i64 => add;
}
