//! A test contract for the SDK's iteration, crypto, event and gas wrappers
//! (ABI v2, issues 16 and 17): it imports `state_scan`, `state_next`, the six
//! crypto functions, `emit_event` and `gas_left` (tests/pool/test_rust_toolbox.py).
//!
//!   put        "KEY VALUE"      writes a key
//!   forget     "KEY"            deletes a key
//!   context    ()               outputs "HEIGHT TIME CALLER" (the caller as account text)
//!   list       "PREFIX"         outputs "key=value\n" for each key under PREFIX, ascending
//!   list_desc  "PREFIX"         the same, descending
//!   list_wide  "PREFIX"         ascending, with room for keys up to 64 KiB (list reverts
//!                               on a key longer than 128 bytes)
//!   count      "PREFIX"         returns how many keys are under PREFIX (i64)
//!   digests    bytes            outputs sha256, keccak256 and blake2b256 of the input (96 bytes)
//!   ed25519    sig(64) pk(32) message      returns 1 when valid, else 0 (i32)
//!   secp_verify hash(32) sig(64) key(33|65) returns 1 when valid, else 0 (i32)
//!   secp_recover hash(32) sig(64) recid(1) outputs the 33-byte key; reverts "no key recovers"
//!   events     "TYPE K=V K=V .." emits one event of TYPE with those attributes, in order (Event)
//!   events_then_revert "TYPE .."  the same, then reverts "undone" (the event is discarded)
//!   gas        ()               returns gas_left() (i64)

use wasmpool_sdk::{account_text, blake2b256, block_height, block_time, caller, decimal, delete, ed25519_verify,
                   entry, fields, gas_left, input, keccak256, output, put, scan_prefix, secp256k1_recover, secp256k1_verify,
                   sha256, Event, Order, Result};

const MAX_KEY: usize = 64 * 1024;

fn listing(order: Order, key_room: usize) -> Result<()> {
    let prefix = input();
    let mut text = Vec::new();
    for (key, value) in scan_prefix(&prefix, order).key_room(key_room) {
        text.extend_from_slice(&key);
        text.push(b'=');
        text.extend_from_slice(&value);
        text.push(b'\n');
    }
    output(&text);
    Ok(())
}

fn put_entry() -> Result<()> {
    let data = input();
    let [key, value] = fields::<2>(&data).ok_or("expected: KEY VALUE")?;
    put(key, value);
    Ok(())
}

fn forget() -> Result<()> {
    delete(&input());
    Ok(())
}

fn context() -> Result<()> {
    let mut text = [decimal(block_height()), decimal(block_time())].join(" ").into_bytes();
    text.push(b' ');
    text.extend_from_slice(&account_text(&caller()));
    output(&text);
    Ok(())
}

fn list() -> Result<()> {
    listing(Order::Ascending, 128)
}

fn list_desc() -> Result<()> {
    listing(Order::Descending, 128)
}

fn list_wide() -> Result<()> {
    listing(Order::Ascending, MAX_KEY)
}

fn count() -> Result<i64> {
    Ok(scan_prefix(&input(), Order::Ascending).count() as i64)
}

fn digests() -> Result<()> {
    let data = input();
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(&sha256(&data));
    out.extend_from_slice(&keccak256(&data));
    out.extend_from_slice(&blake2b256(&data));
    output(&out);
    Ok(())
}

fn split<const N: usize>(data: &[u8], at: usize) -> Result<[u8; N]> {
    let part = data.get(at..at + N).ok_or("input too short")?;
    let mut out = [0u8; N];
    out.copy_from_slice(part);
    Ok(out)
}

fn ed25519() -> Result<i32> {
    let data = input();
    let (sig, key) = (split::<64>(&data, 0)?, split::<32>(&data, 64)?);
    Ok(ed25519_verify(&data[96..], &sig, &key) as i32)
}

fn secp_verify() -> Result<i32> {
    let data = input();
    let (hash, sig) = (split::<32>(&data, 0)?, split::<64>(&data, 32)?);
    Ok(secp256k1_verify(&hash, &sig, &data[96..]) as i32)
}

fn secp_recover() -> Result<()> {
    let data = input();
    let (hash, sig, recid) = (split::<32>(&data, 0)?, split::<64>(&data, 32)?, split::<1>(&data, 96)?);
    let key = secp256k1_recover(&hash, &sig, recid[0]).ok_or("no key recovers")?;
    output(&key);
    Ok(())
}

fn event_entry() -> Result<()> {
    let data = input();
    let mut words = data.split(|byte| *byte == b' ').filter(|word| !word.is_empty());
    let kind = std::str::from_utf8(words.next().ok_or("expected: TYPE K=V ..")?).map_err(|_| "TYPE is not text")?;
    let mut event = Event::new(kind);
    for word in words {
        let at = word.iter().position(|byte| *byte == b'=').ok_or("expected K=V")?;
        event = event.attr(&word[..at], &word[at + 1..]);
    }
    event.emit();
    Ok(())
}

fn events_then_revert() -> Result<()> {
    event_entry()?;
    Err("undone".into())
}

fn gas() -> Result<i64> {
    Ok(gas_left() as i64)
}

entry! {
    put => put_entry;
    forget => forget;
    context => context;
    list => list;
    list_desc => list_desc;
    list_wide => list_wide;
    count -> i64 => count;
    digests => digests;
    ed25519 -> i32 => ed25519;
    secp_verify -> i32 => secp_verify;
    secp_recover => secp_recover;
    events => event_entry;
    events_then_revert => events_then_revert;
    gas -> i64 => gas;
}
