//! Small text helpers for inputs the CLI can send with `--text`: fields,
//! decimal numbers, hex, and the text form of an account.

use std::string::String;
use std::vec::Vec;

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
///
/// ```ignore
/// assert_eq!(wasmpool_sdk::hex(&[0xab, 1]), "ab01");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[(byte >> 4) as usize] as char);
        out.push(DIGITS[(byte & 15) as usize] as char);
    }
    out
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The bytes written as hex (either case), or None.
///
/// ```ignore
/// assert_eq!(wasmpool_sdk::unhex(b"ab01"), Some(vec![0xab, 1]));
/// ```
pub fn unhex(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

/// The input's space-separated fields; exactly `N` of them, else None.
///
/// ```ignore
/// let [to, amount] = wasmpool_sdk::fields::<2>(&input).ok_or("expected: TO AMOUNT")?;
/// ```
pub fn fields<const N: usize>(input: &[u8]) -> Option<[&[u8]; N]> {
    let mut parts = input.split(|&c| c == b' ').filter(|part| !part.is_empty());
    let mut out: [&[u8]; N] = [&[]; N];
    for slot in out.iter_mut() {
        *slot = parts.next()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

/// A decimal u64 of 1 to 19 digits, or None.
///
/// ```ignore
/// let amount = wasmpool_sdk::parse_u64(b"250").ok_or("bad amount")?;
/// ```
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 {
        return None;
    }
    text.iter().try_fold(0u64, |value, &c| Some(value * 10 + nibble(c).filter(|&d| d < 10)? as u64))
}

/// A u64 in decimal.
///
/// ```ignore
/// wasmpool_sdk::output(wasmpool_sdk::decimal(42).as_bytes());
/// ```
pub fn decimal(value: u64) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = write!(out, "{}", value);
    out
}

/// How an account is written in text inputs: its bytes when they are all
/// graphic ASCII (no spaces), else their lowercase hex. A person's caller
/// identity (`alice`) stays as it is; a contract's 20-byte address becomes
/// 40 hex characters, the form addresses are shown in.
///
/// ```ignore
/// let me = wasmpool_sdk::account_text(&wasmpool_sdk::caller());
/// ```
pub fn account_text(account: &[u8]) -> Vec<u8> {
    if !account.is_empty() && account.iter().all(|c| c.is_ascii_graphic()) {
        account.to_vec()
    } else {
        hex(account).into_bytes()
    }
}
