/*
 * The smallest useful contract: a counter in state, plus a pure function.
 *
 *   add(a, b)   -> a + b          (i32; numbers in, numbers out, no state)
 *   increment() -> the new count  (i64; reads and writes the key "count")
 *   get()       -> the count      (i64; read-only, fine for `wasmpool query`)
 */
#include "wasmpool.h"

static const char COUNT[] = "count";

static int64_t load_count(void) {
    unsigned char buf[8];
    if (wp_get_state(COUNT, sizeof COUNT - 1, buf, sizeof buf) != 8) return 0;
    int64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | buf[i];
    return v;
}

WP_EXPORT(add) int32_t add(int32_t a, int32_t b) {
    return a + b;
}

WP_EXPORT(increment) int64_t increment(void) {
    int64_t v = load_count() + 1;
    unsigned char buf[8];
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(v >> (8 * i));
    wp_put_state(COUNT, sizeof COUNT - 1, buf, sizeof buf);
    return v;
}

WP_EXPORT(get) int64_t get(void) {
    return load_count();
}
