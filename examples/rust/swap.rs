//! A constant-product swap between two token contracts (examples/rust/token.rs),
//! through `call_contract` (ABI v2: it runs once the pool has contract
//! instances and calls between them).
//!
//!   instantiate    "TOKEN_A TOKEN_B"          the two tokens' addresses (40 hex characters each)
//!   add_liquidity  "AMOUNT_A AMOUNT_B"        pulls both amounts from the caller (it must have
//!                                             approved this contract's address on both tokens)
//!   swap           "a|b AMOUNT_IN MIN_OUT"    sells AMOUNT_IN of token a (or b) for the other;
//!                                             returns what it paid out (i64)
//!   reserves       ()                         outputs "RESERVE_A RESERVE_B"
//!
//! The price keeps reserve_a * reserve_b constant, less a 0.3 % fee kept in
//! the pool. When either token call fails (short balance, allowance, out of
//! gas), the swap reverts with the token's reason: the other token call's
//! writes are discarded with it, so nothing moves. Each swap emits a `swap`
//! event.

use wasmpool_sdk::{account_text, call, caller, decimal, entry, fields, get, get_u64, input, output, parse_u64, put,
                   put_u64, self_address, Address, CallResult, Event, Result};

const TOKEN_A: &[u8] = b"token_a";
const TOKEN_B: &[u8] = b"token_b";
const RESERVE_A: &[u8] = b"reserve_a";
const RESERVE_B: &[u8] = b"reserve_b";
const FEE_KEPT: u128 = 997; // of 1000

fn token(which: &[u8]) -> Result<Address> {
    let stored = get(which).ok_or("not instantiated")?;
    Ok(Address::from_hex(&stored).ok_or("corrupt token address")?)
}

fn number(text: &[u8]) -> Result<u64> {
    Ok(parse_u64(text).ok_or("bad amount: expected 1 to 19 decimal digits")?)
}

/// Calls a token; any failure reverts the swap, naming the token and why.
fn token_call(name: &str, address: &Address, function: &str, args: &[&[u8]]) -> Result<()> {
    let text = args.join(&b' ');
    let why = match call(address, function, &text, 0) {
        CallResult::Ok(_) => return Ok(()),
        CallResult::Reverted(why) => why,
        CallResult::Trap => "trapped".into(),
        CallResult::OutOfGas => "out of gas".into(),
        CallResult::Error => "call refused".into(),
    };
    Err([name, " ", function, ": ", &why].concat().into())
}

fn instantiate() -> Result<()> {
    if get(TOKEN_A).is_some() {
        return Err("already instantiated".into());
    }
    let data = input();
    let [a, b] = fields::<2>(&data).ok_or("expected: TOKEN_A TOKEN_B")?;
    for (key, text) in [(TOKEN_A, a), (TOKEN_B, b)] {
        let address = Address::from_hex(text).ok_or("a token address is 40 hex characters")?;
        put(key, address.to_hex().as_bytes());
    }
    Ok(())
}

fn add_liquidity() -> Result<()> {
    let data = input();
    let [a, b] = fields::<2>(&data).ok_or("expected: AMOUNT_A AMOUNT_B")?;
    let (a, b) = (number(a)?, number(b)?);
    let (who, me) = (account_text(&caller()), self_address().to_hex());
    token_call("token a", &token(TOKEN_A)?, "transfer_from", &[&who, me.as_bytes(), decimal(a).as_bytes()])?;
    token_call("token b", &token(TOKEN_B)?, "transfer_from", &[&who, me.as_bytes(), decimal(b).as_bytes()])?;
    put_u64(RESERVE_A, get_u64(RESERVE_A) + a);
    put_u64(RESERVE_B, get_u64(RESERVE_B) + b);
    Ok(())
}

fn swap() -> Result<i64> {
    let data = input();
    let [side, amount_in, min_out] = fields::<3>(&data).ok_or("expected: a|b AMOUNT_IN MIN_OUT")?;
    let (amount_in, min_out) = (number(amount_in)?, number(min_out)?);
    let (sell, buy) = match side {
        b"a" => ((TOKEN_A, RESERVE_A, "token a"), (TOKEN_B, RESERVE_B, "token b")),
        b"b" => ((TOKEN_B, RESERVE_B, "token b"), (TOKEN_A, RESERVE_A, "token a")),
        _ => return Err("side must be a or b".into()),
    };
    let (reserve_in, reserve_out) = (get_u64(sell.1) as u128, get_u64(buy.1) as u128);
    if reserve_in == 0 || reserve_out == 0 {
        return Err("no liquidity".into());
    }
    let paid = amount_in as u128 * FEE_KEPT;
    let out = (paid * reserve_out / (reserve_in * 1000 + paid)) as u64;
    if out == 0 || out < min_out {
        return Err(["output ", &decimal(out), " below the minimum ", &decimal(min_out)].concat().into());
    }
    let (who, me) = (account_text(&caller()), self_address().to_hex());
    token_call(sell.2, &token(sell.0)?, "transfer_from", &[&who, me.as_bytes(), decimal(amount_in).as_bytes()])?;
    token_call(buy.2, &token(buy.0)?, "transfer", &[&who, decimal(out).as_bytes()])?;
    put_u64(sell.1, (reserve_in as u64) + amount_in);
    put_u64(buy.1, (reserve_out as u64) - out);
    Event::new("swap")
        .attr("trader", &who)
        .attr("sold", sell.2)
        .attr("in", decimal(amount_in))
        .attr("out", decimal(out))
        .emit();
    Ok(out as i64)
}

fn reserves() -> Result<()> {
    output([decimal(get_u64(RESERVE_A)), decimal(get_u64(RESERVE_B))].join(" ").as_bytes());
    Ok(())
}

entry! {
    instantiate => instantiate;
    add_liquidity => add_liquidity;
    swap -> i64 => swap;
    reserves => reserves;
}
