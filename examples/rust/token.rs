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
//!   holders        "SIZE [AFTER]"       one page of balances in account order (a query)
//!
//! State: "owner"; "supply"; "bal:" + account; "allow:" + owner + " " +
//! spender (numbers are 8 bytes, little-endian). Every balance lives under
//! the one prefix "bal:", and only nonzero balances are stored (a balance
//! that falls to 0 is deleted), so the holders are exactly the keys under
//! "bal:". Each change is logged, and each movement of tokens emits an
//! event: `mint` (to, amount) and `transfer` (from, to, amount), accounts
//! as text. A token called by another contract (a swap, a wallet) emits
//! them too: the call's result then names this token as their emitter.
//!
//! `holders` lists balances in pages, in bytewise account order. Input:
//! SIZE, the most holders in the page (1 to 100), then optionally AFTER,
//! the account the page starts after (exclusive; left out for the first
//! page). Output: one line per holder, "ACCOUNT BALANCE\n" (the balance in
//! decimal), then one last line, the cursor: "next ACCOUNT\n" when more
//! holders follow (pass ACCOUNT as AFTER for the next page), "end\n" when
//! none do. The lines are told apart by position: every line but the last
//! is a holder, so an account named "end" or "next" is no ambiguity. The
//! result is the number of holders in the page (i64). An empty token
//! outputs just "end\n". `holders` reads the range of the page plus one
//! more holder (to know whether more follow) through `state_scan` and
//! `state_next`.

use wasmpool_sdk::{
    account_text, caller, decimal, decode_u64, delete, entry, fields, get, get_u64, input, log, output, parse_u64,
    prefix_end, put, put_u64, scan, Event, Order, Result,
};

const OWNER: &[u8] = b"owner";
const SUPPLY: &[u8] = b"supply";
const BALANCES: &[u8] = b"bal:";
/// The most holders one `holders` page lists.
const MAX_PAGE: u64 = 100;
/// Room for a balance key when listing: the pool's largest key (64 KiB),
/// so no account, however long, stops the listing.
const MAX_KEY: usize = 64 * 1024;

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
    key(BALANCES, &[account])
}

/// Stores a balance; a zero balance is deleted, so only holders have keys under "bal:".
fn set_balance(key: &[u8], value: u64) {
    if value == 0 {
        delete(key);
    } else {
        put_u64(key, value);
    }
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
    set_balance(&from_key, held - value);
    let to_key = balance_key(to);
    set_balance(&to_key, get_u64(&to_key) + value);
    let amount = decimal(value);
    note(&[b"transfer", from, to, amount.as_bytes()]);
    Event::new("transfer").attr("from", from).attr("to", to).attr("amount", amount).emit();
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
    set_balance(&key, get_u64(&key) + value);
    let amount = decimal(value);
    note(&[b"mint", account, amount.as_bytes()]);
    Event::new("mint").attr("to", account).attr("amount", amount).emit();
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

/// The page's input: its size (1 to MAX_PAGE) and the balance key it starts from.
fn page_request(data: &[u8]) -> Result<(usize, Vec<u8>)> {
    let (size, after) = match fields::<1>(data) {
        Some([size]) => (size, None),
        None => {
            let [size, after] = fields::<2>(data).ok_or("expected: SIZE [AFTER]")?;
            (size, Some(after))
        }
    };
    let size = parse_u64(size).filter(|n| (1..=MAX_PAGE).contains(n)).ok_or("bad page size: expected 1 to 100")?;
    let start = match after {
        // The smallest key above AFTER's balance key: AFTER itself is excluded.
        Some(account) => {
            let mut start = balance_key(account);
            start.push(0);
            start
        }
        None => BALANCES.to_vec(),
    };
    Ok((size as usize, start))
}

fn holders() -> Result<i64> {
    let (size, start) = page_request(&input())?;
    let mut text = Vec::new();
    let mut listed = 0;
    let mut last = Vec::new();
    let mut more = false;
    for (key, value) in scan(&start, &prefix_end(BALANCES), Order::Ascending).key_room(MAX_KEY) {
        if listed == size {
            more = true; // one holder past the page: another page follows
            break;
        }
        last = key[BALANCES.len()..].to_vec();
        text.extend_from_slice(&last);
        text.push(b' ');
        text.extend_from_slice(decimal(decode_u64(&value)).as_bytes());
        text.push(b'\n');
        listed += 1;
    }
    if more {
        text.extend_from_slice(b"next ");
        text.extend_from_slice(&last);
        text.push(b'\n');
    } else {
        text.extend_from_slice(b"end\n");
    }
    output(&text);
    Ok(listed as i64)
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
    holders -> i64 => holders;
}
