//! A multisig wallet: a contract that calls another contract only when
//! enough of its signers signed that exact call (ed25519, host-verified).
//!
//!   instantiate  "THRESHOLD KEY..."                          1 to 32 distinct ed25519 public
//!                                                            keys (64 hex characters each);
//!                                                            THRESHOLD of them (1 to N) must sign
//!   execute      "NONCE TARGET FUNCTION INPUT INDEX:SIG..."   calls FUNCTION of the contract at
//!                                                            TARGET (40 hex) with INPUT (hex, "-"
//!                                                            for none); outputs the callee's output
//!   nonce        ()                                          returns (i64) and outputs the nonce the
//!                                                            next execute must carry
//!   signers      ()                                          outputs "THRESHOLD KEY..." (as given)
//!
//! Each signature is `INDEX:SIG`: the signer's position in the key list
//! (from 0) and its 64-byte signature in hex, over the canonical message
//!
//!   "wasmpool-multisig-v1" ‖ wallet address (20) ‖ NONCE (u64 LE) ‖ TARGET (20)
//!   ‖ u32 LE length ‖ FUNCTION ‖ u32 LE length ‖ INPUT
//!
//! The domain keeps a signature for this wallet from meaning anything to
//! another kind of contract; the wallet's own address keeps it from being
//! replayed on another wallet with the same signers; the nonce, on the same
//! wallet; the lengths make the message unambiguous. `execute` reverts when
//! NONCE is not the wallet's nonce, when any signature fails to verify,
//! when a signer signs twice, or when fewer than THRESHOLD signed. Anyone
//! may submit a signed call (a relayer): the signatures authorise it, not
//! the caller. The callee sees the wallet's address as its caller, so it
//! moves the wallet's own tokens.
//!
//! `execute` bumps the nonce, then calls the target with all the gas left.
//! When the callee fails, the wallet reverts with the callee's reason, so
//! the nonce bump is undone with everything else and the same signed call
//! may be submitted again later (when the wallet holds the tokens, say).
//! Each executed call emits an `execute` event (nonce, target, function).

use wasmpool_sdk::{
    call, decimal, ed25519_verify, entry, get, get_u64, hex, input, output, parse_u64, put, put_u64, self_address,
    unhex, Address, CallResult, Event, Result,
};

const THRESHOLD: &[u8] = b"threshold";
const SIGNERS: &[u8] = b"signers";
const NONCE: &[u8] = b"nonce";
/// What every signed message starts with (see the module's comment).
const DOMAIN: &[u8] = b"wasmpool-multisig-v1";
/// The most signers a wallet may have: each signature costs a verification.
const MAX_SIGNERS: usize = 32;
const KEY_LEN: usize = 32;
const SIG_LEN: usize = 64;

/// The input's space-separated words (any number of them).
fn words(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&c| c == b' ').filter(|word| !word.is_empty()).collect()
}

fn fixed<const N: usize>(text: &[u8], what: &str) -> Result<[u8; N]> {
    let bytes = unhex(text).filter(|b| b.len() == N);
    let bytes = bytes.ok_or_else(|| [what, " must be ", &decimal(2 * N as u64), " hex characters"].concat())?;
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes);
    Ok(out)
}

fn signers() -> Result<Vec<[u8; KEY_LEN]>> {
    let stored = get(SIGNERS).ok_or("not instantiated")?;
    let mut keys = Vec::with_capacity(stored.len() / KEY_LEN);
    for chunk in stored.chunks_exact(KEY_LEN) {
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(chunk);
        keys.push(key);
    }
    Ok(keys)
}

fn instantiate() -> Result<()> {
    if get(SIGNERS).is_some() {
        return Err("already instantiated".into());
    }
    let data = input();
    let parts = words(&data);
    let (threshold, keys) = parts.split_first().ok_or("expected: THRESHOLD KEY...")?;
    if keys.is_empty() || keys.len() > MAX_SIGNERS {
        return Err("a wallet has 1 to 32 signers".into());
    }
    let threshold = parse_u64(threshold).filter(|t| (1..=keys.len() as u64).contains(t));
    let threshold = threshold.ok_or("the threshold must be 1 to the number of signers")?;
    let mut stored = Vec::with_capacity(keys.len() * KEY_LEN);
    for key in keys {
        let key = fixed::<KEY_LEN>(key, "a public key")?;
        if stored.chunks(KEY_LEN).any(|known| known == key) {
            return Err("a signer is listed twice".into());
        }
        stored.extend_from_slice(&key);
    }
    put(SIGNERS, &stored);
    put_u64(THRESHOLD, threshold);
    Ok(())
}

/// One call the signers authorise.
struct Proposal<'a> {
    nonce: u64,
    target: Address,
    function: &'a str,
    input: Vec<u8>,
}

impl Proposal<'_> {
    /// The canonical message the signers sign (see the module's comment).
    fn message(&self) -> Vec<u8> {
        let mut message = DOMAIN.to_vec();
        message.extend_from_slice(&self_address().0);
        message.extend_from_slice(&self.nonce.to_le_bytes());
        message.extend_from_slice(&self.target.0);
        for part in [self.function.as_bytes(), &self.input[..]] {
            message.extend_from_slice(&(part.len() as u32).to_le_bytes());
            message.extend_from_slice(part);
        }
        message
    }
}

fn parse_proposal<'a>(parts: &[&'a [u8]]) -> Result<Proposal<'a>> {
    let nonce = parse_u64(parts[0]).ok_or("bad nonce: expected 1 to 19 decimal digits")?;
    let target = Address::from_hex(parts[1]).ok_or("the target is a contract address (40 hex characters)")?;
    let input = match parts[3] {
        b"-" => Vec::new(),
        text => unhex(text).ok_or("the input is hex (or - for none)")?,
    };
    let function = std::str::from_utf8(parts[2]).map_err(|_| "the function name is not UTF-8")?;
    Ok(Proposal { nonce, target, function, input })
}

/// Checks the signatures over `message`: every one valid, no signer twice, at least the threshold.
fn check_signatures(message: &[u8], signatures: &[&[u8]]) -> Result<()> {
    let keys = signers()?;
    let mut signed = vec![false; keys.len()];
    for signature in signatures {
        let mut halves = signature.splitn(2, |&c| c == b':');
        let index = parse_u64(halves.next().unwrap_or_default()).map(|i| i as usize).filter(|&i| i < keys.len());
        let index = index.ok_or("a signature is INDEX:SIG, INDEX a signer's position in the list")?;
        let sig = fixed::<SIG_LEN>(halves.next().unwrap_or_default(), "a signature")?;
        if signed[index] {
            return Err(["signer ", &decimal(index as u64), " signed twice"].concat().into());
        }
        if !ed25519_verify(message, &sig, &keys[index]) {
            return Err(["signature of signer ", &decimal(index as u64), " is invalid"].concat().into());
        }
        signed[index] = true;
    }
    let count = signed.iter().filter(|&&s| s).count() as u64;
    let threshold = get_u64(THRESHOLD);
    if count < threshold {
        return Err([&decimal(count), " of ", &decimal(threshold), " signatures"].concat().into());
    }
    Ok(())
}

fn execute() -> Result<()> {
    let data = input();
    let parts = words(&data);
    if parts.len() < 5 {
        return Err("expected: NONCE TARGET FUNCTION INPUT INDEX:SIG...".into());
    }
    let proposal = parse_proposal(&parts)?;
    let expected = get_u64(NONCE);
    if proposal.nonce != expected {
        return Err(["nonce ", &decimal(proposal.nonce), " is not the wallet's nonce ", &decimal(expected)].concat().into());
    }
    check_signatures(&proposal.message(), &parts[4..])?;
    put_u64(NONCE, expected + 1);
    let function = proposal.function;
    let why = match call(&proposal.target, function, &proposal.input, 0) {
        CallResult::Ok(out) => {
            output(&out);
            Event::new("execute")
                .attr("nonce", decimal(proposal.nonce))
                .attr("target", proposal.target.to_hex())
                .attr("function", function)
                .emit();
            return Ok(());
        }
        CallResult::Reverted(why) => why,
        CallResult::Trap => "trapped".into(),
        CallResult::OutOfGas => "out of gas".into(),
        CallResult::Error => "call refused".into(),
    };
    Err(["call failed: ", function, ": ", &why].concat().into())
}

fn nonce() -> Result<i64> {
    let nonce = get_u64(NONCE);
    output(decimal(nonce).as_bytes());
    Ok(nonce as i64)
}

fn list_signers() -> Result<()> {
    let mut text = decimal(get_u64(THRESHOLD));
    for key in signers()? {
        text.push(' ');
        text.push_str(&hex(&key));
    }
    output(text.as_bytes());
    Ok(())
}

entry! {
    instantiate => instantiate;
    execute => execute;
    nonce -> i64 => nonce;
    signers => list_signers;
}
