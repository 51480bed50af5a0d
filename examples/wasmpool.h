/*
 * wasmpool.h -- the contract host ABI v1 for C contracts.
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
