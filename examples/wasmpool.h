/*
 * wasmpool.h -- the contract host ABI for C contracts (v1, and v2's iteration, crypto, events,
 * contracts and calls between contracts).
 *
 * A contract is a wasm module that exports its memory (as "memory", which
 * wasm-ld does by default) and the functions clients call. It reaches the
 * pool only through the imports below, all from module "env". Every pointer
 * is an offset into the contract's memory; a pointer/length pair outside
 * memory traps. Keys are at most 64 KiB, values at most 128 KiB.
 *
 * Build (no libc):
 *   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -o c.wasm c.c
 *
 * State: each contract has its own key space. Reads see committed state and
 * the call's own earlier writes; writes commit atomically only when the call
 * returns normally. A trap, wp_revert, running out of gas or time discards
 * them. Gas prices of every function are in docs/abi.md.
 */
#ifndef WASMPOOL_H
#define WASMPOOL_H

#include <stdint.h>

#define WP_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))
#define WP_EXPORT(name) __attribute__((export_name(#name)))

/* Length of the call's input bytes. */
WP_IMPORT(input_len) int32_t wp_input_len(void);
/* Copy min(len, cap) input bytes to dst; returns the full input length. */
WP_IMPORT(get_input) int32_t wp_get_input(void *dst, int32_t cap);
/* Set the call's output bytes (the last call wins). */
WP_IMPORT(set_output) void wp_set_output(const void *ptr, int32_t len);

/* Read a key: -1 when absent, else the value's full length (min(len, cap) bytes copied to dst). */
WP_IMPORT(get_state) int32_t wp_get_state(const void *key, int32_t key_len, void *dst, int32_t cap);
/* Write a key (buffered until the call commits). */
WP_IMPORT(put_state) void wp_put_state(const void *key, int32_t key_len, const void *val, int32_t val_len);
/* Delete a key (buffered until the call commits). */
WP_IMPORT(delete_state) void wp_delete_state(const void *key, int32_t key_len);

/* Append a log entry to the call's result. */
WP_IMPORT(log) void wp_log(const void *ptr, int32_t len);
/* End the call with status "reverted" and this message; its writes are discarded. Never returns. */
WP_IMPORT(revert) __attribute__((noreturn)) void wp_revert(const void *msg, int32_t len);

/* Copy min(len, cap) bytes of the caller's identity to dst; returns its full length. */
WP_IMPORT(caller) int32_t wp_caller(void *dst, int32_t cap);
/* The block height and time (seconds) the client gave as the call's context. */
WP_IMPORT(block_height) int64_t wp_block_height(void);
WP_IMPORT(block_time) int64_t wp_block_time(void);

/* --- events and gas (ABI v2), see docs/abi.md --- */

/* Append an event: its type and its attributes, a buffer of (u32 key_len, key, u32 value_len, value)
 * repeated, little-endian. Events are discarded with the writes when the call fails. */
WP_IMPORT(emit_event) void wp_emit_event(const void *type, int32_t type_len, const void *attrs,
                                         int32_t attrs_len);
/* The gas left on this contract frame's meter. */
WP_IMPORT(gas_left) int64_t wp_gas_left(void);

/* --- contracts and calls between them (ABI v2), see docs/abi.md --- */

/* Copy min(20, cap) bytes of the contract's own address to dst; returns 20 (0 for a legacy call by
 * code id, which has no address). */
WP_IMPORT(self_address) int32_t wp_self_address(void *dst, int32_t cap);

/* What wp_call_contract returns. */
#define WP_CALL_OK 0          /* the callee returned: its writes and events join this call's */
#define WP_CALL_REVERTED 1    /* it called wp_revert: wp_return_data gives its message */
#define WP_CALL_TRAP 2        /* it trapped (or wrote state in a query) */
#define WP_CALL_OUT_OF_GAS 3  /* it used its whole gas cap */
#define WP_CALL_ERROR 4       /* no such contract or function, reentrancy, depth over 32, a legacy caller */
/* Call function fn (exported as () -> ()) of the contract at the 20-byte address addr with this input,
 * synchronously; the callee sees wp_caller() = this contract's address. gas caps what it may use (taken
 * unsigned; 0, or more than is left, means all that is left); what it used is charged to this call. On
 * anything but WP_CALL_OK its writes and events are discarded and this call goes on. A contract already
 * on the call stack cannot be called again (WP_CALL_ERROR). */
WP_IMPORT(call_contract) int32_t wp_call_contract(const void *addr, int32_t addr_len, const void *fn,
                                                  int32_t fn_len, const void *input, int32_t input_len,
                                                  int64_t gas);
/* Copy min(len, cap) bytes of the last callee's output (or its revert message) to dst; returns the full
 * length, 0 before any call and after a call that trapped, ran out of gas or was refused. */
WP_IMPORT(return_data) int32_t wp_return_data(void *dst, int32_t cap);

/* --- iteration (ABI v2): ordered key ranges of the contract's state, see docs/abi.md --- */

/* Open an iterator over the contract's keys in [start, end), bytewise order: ascending when order is
 * WP_ASCENDING, descending when WP_DESCENDING; an empty end (end_len 0) means unbounded. It sees the
 * committed state merged with the call's own writes and deletes, and ends with the call (at most 32
 * per call). Returns the iterator's id. */
#define WP_ASCENDING 0
#define WP_DESCENDING 1
WP_IMPORT(state_scan) int32_t wp_state_scan(const void *start, int32_t start_len, const void *end,
                                            int32_t end_len, int32_t order);
/* The iterator's next entry: returns 1 and copies min(len, cap) bytes of its key to key_dst and of its
 * value to val_dst, and writes the full key and value lengths as two little-endian u32 at lens_dst
 * (8 bytes); returns 0 at the end. */
WP_IMPORT(state_next) int32_t wp_state_next(int32_t iter, void *key_dst, int32_t key_cap, void *val_dst,
                                            int32_t val_cap, void *lens_dst);

/* --- crypto (ABI v2): priced per call and per 32-byte word hashed, see docs/abi.md --- */

/* 32-byte digests of len bytes at ptr, written to dst: SHA-256, Ethereum's Keccak-256 (not
 * SHA3-256) and BLAKE2b with a 32-byte digest (unkeyed). */
WP_IMPORT(sha256) void wp_sha256(const void *ptr, int32_t len, void *dst);
WP_IMPORT(keccak256) void wp_keccak256(const void *ptr, int32_t len, void *dst);
WP_IMPORT(blake2b256) void wp_blake2b256(const void *ptr, int32_t len, void *dst);
/* Ed25519 (RFC 8032): 1 when the 64-byte signature of the message is valid for the 32-byte key,
 * else 0 (also for a malformed key or signature). */
WP_IMPORT(ed25519_verify) int32_t wp_ed25519_verify(const void *msg, int32_t msg_len, const void *sig,
                                                     const void *pk);
/* ECDSA over secp256k1 of a 32-byte hash: 1 when the 64-byte compact (r, s) signature is valid for
 * the 33- or 65-byte SEC1 key and s <= n/2 (low s, as Ethereum and Cosmos require), else 0. */
WP_IMPORT(secp256k1_verify) int32_t wp_secp256k1_verify(const void *hash, const void *sig, const void *pk,
                                                         int32_t pk_len);
/* Recover the key that made the compact signature of the 32-byte hash with recovery id recid (0..3;
 * Ethereum's v minus 27): writes the 33-byte compressed key to dst and returns 0, or returns -1 when
 * no key recovers (dst untouched). Any s is accepted, as Ethereum's ecrecover does. */
WP_IMPORT(secp256k1_recover) int32_t wp_secp256k1_recover(const void *hash, const void *sig, int32_t recid,
                                                           void *dst);

/* --- small helpers (no libc) --- */

static inline int32_t wp_strlen(const char *s) {
    int32_t n = 0;
    while (s[n]) n++;
    return n;
}

/* wp_revert with a C string. */
__attribute__((noreturn)) static inline void wp_revert_str(const char *msg) {
    wp_revert(msg, wp_strlen(msg));
}

/* wp_log with a C string. */
static inline void wp_log_str(const char *msg) {
    wp_log(msg, wp_strlen(msg));
}

#endif
