//! A fungible token with allowances, in Rust.
//!
//! Accounts are written as text (`wasmpool_sdk::account_text`): a person's
//! caller identity as it is (`alice`), a contract's address as 40 hex
//! characters. Inputs are space-separated fields, so the CLI can send them
//! with `--text`:
//!
//!   instantiate    ()                   the caller becomes the owner (once)
//!   mint           "ACCOUNT AMOUNT"     the owner creates tokens
//!   transfer       "TO AMOUNT"          moves the caller's tokens; reverts when short
//!   approve        "SPENDER AMOUNT"     lets SPENDER move up to AMOUNT of the caller's tokens
//!   transfer_from  "FROM TO AMOUNT"     the caller moves FROM's tokens within its allowance
//!   balance        "ACCOUNT"            returns the balance (i64) and outputs it as text
//!   allowance      "OWNER SPENDER"      returns what SPENDER may still move (i64)
//!   total_supply   ()                   returns the supply (i64)
//!
//! State: "owner"; "supply"; "bal:" + account; "allow:" + owner + " " +
//! spender (numbers are 8 bytes, little-endian). It uses only ABI v1
//! functions (each change is logged), so it runs as a plain v1 contract.

use wasmpool_sdk::{account_text, caller, decimal, entry, fields, get, get_u64, input, log, output, parse_u64, put, put_u64, Result};

const OWNER: &[u8] = b"owner";
const SUPPLY: &[u8] = b"supply";

fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut key = prefix.to_vec();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push(b' ');
        }
        key.extend_from_slice(part);
    }
    key
}

fn balance_key(account: &[u8]) -> Vec<u8> {
    key(b"bal:", &[account])
}

fn allowance_key(owner: &[u8], spender: &[u8]) -> Vec<u8> {
    key(b"allow:", &[owner, spender])
}

fn amount(text: &[u8]) -> Result<u64> {
    Ok(parse_u64(text).ok_or("bad amount: expected 1 to 19 decimal digits")?)
}

fn me() -> Vec<u8> {
    account_text(&caller())
}

fn note(parts: &[&[u8]]) {
    log(key(b"", parts));
}

/// Moves `value` from `from` to `to`, reverting when `from` is short.
fn move_tokens(from: &[u8], to: &[u8], value: u64) -> Result<()> {
    let from_key = balance_key(from);
    let held = get_u64(&from_key);
    if held < value {
        return Err("insufficient balance".into());
    }
    put_u64(&from_key, held - value);
    let to_key = balance_key(to);
    put_u64(&to_key, get_u64(&to_key) + value);
    note(&[b"transfer", from, to, decimal(value).as_bytes()]);
    Ok(())
}

fn instantiate() -> Result<()> {
    if get(OWNER).is_some() {
        return Err("already instantiated".into());
    }
    put(OWNER, &me());
    Ok(())
}

fn mint() -> Result<()> {
    let data = input();
    let [account, value] = fields::<2>(&data).ok_or("expected: ACCOUNT AMOUNT")?;
    let value = amount(value)?;
    if get(OWNER).as_deref() != Some(&me()[..]) {
        return Err("only the owner may mint".into());
    }
    let supply = get_u64(SUPPLY).checked_add(value).ok_or("supply overflow")?;
    put_u64(SUPPLY, supply);
    let key = balance_key(account);
    put_u64(&key, get_u64(&key) + value);
    note(&[b"mint", account, decimal(value).as_bytes()]);
    Ok(())
}

fn transfer() -> Result<()> {
    let data = input();
    let [to, value] = fields::<2>(&data).ok_or("expected: TO AMOUNT")?;
    move_tokens(&me(), to, amount(value)?)
}

fn approve() -> Result<()> {
    let data = input();
    let [spender, value] = fields::<2>(&data).ok_or("expected: SPENDER AMOUNT")?;
    let value = amount(value)?;
    let owner = me();
    put_u64(&allowance_key(&owner, spender), value);
    note(&[b"approve", &owner, spender, decimal(value).as_bytes()]);
    Ok(())
}

fn transfer_from() -> Result<()> {
    let data = input();
    let [from, to, value] = fields::<3>(&data).ok_or("expected: FROM TO AMOUNT")?;
    let value = amount(value)?;
    let key = allowance_key(from, &me());
    let allowed = get_u64(&key);
    if allowed < value {
        return Err("allowance exceeded".into());
    }
    put_u64(&key, allowed - value);
    move_tokens(from, to, value)
}

fn balance() -> Result<i64> {
    let data = input();
    let [account] = fields::<1>(&data).ok_or("expected: ACCOUNT")?;
    let held = get_u64(&balance_key(account));
    output(decimal(held).as_bytes());
    Ok(held as i64)
}

fn allowance() -> Result<i64> {
    let data = input();
    let [owner, spender] = fields::<2>(&data).ok_or("expected: OWNER SPENDER")?;
    Ok(get_u64(&allowance_key(owner, spender)) as i64)
}

fn total_supply() -> Result<i64> {
    Ok(get_u64(SUPPLY) as i64)
}

entry! {
    instantiate => instantiate;
    mint => mint;
    transfer => transfer;
    approve => approve;
    transfer_from => transfer_from;
    balance -> i64 => balance;
    allowance -> i64 => allowance;
    total_supply -> i64 => total_supply;
}
