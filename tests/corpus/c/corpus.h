/* Shared by every C program of the corpus: fixed-width types, the export
 * macro, the input/output buffers the tests fill and read, and the few libc
 * functions clang may call on its own (memcpy, memset, memmove, memcmp).
 * The programs are freestanding: no libc, no imports. */
#ifndef CORPUS_H
#define CORPUS_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char i8;
typedef int i32;
typedef long long i64;
typedef unsigned long size_t;

#define EXPORT(name) __attribute__((export_name(name)))

#ifndef IO_SIZE
#define IO_SIZE 65536
#endif

/* The test writes its input at in_ptr() and reads results at out_ptr(). */
static u8 IN[IO_SIZE];
static u8 OUT[IO_SIZE * 2 + 1024];

EXPORT("in_ptr") u8 *in_ptr(void) { return IN; }
EXPORT("out_ptr") u8 *out_ptr(void) { return OUT; }

#ifdef __wasm_bulk_memory__
/* With bulk memory, clang lowers these to memory.copy and memory.fill. */
#define memcpy __builtin_memcpy
#define memmove __builtin_memmove
#define memset __builtin_memset
#else
/* no_builtin keeps clang from turning these loops back into calls to themselves. */
__attribute__((no_builtin)) void *memcpy(void *dst, const void *src, size_t n) {
    u8 *d = dst;
    const u8 *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

__attribute__((no_builtin)) void *memmove(void *dst, const void *src, size_t n) {
    u8 *d = dst;
    const u8 *s = src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        while (n--) d[n] = s[n];
    }
    return dst;
}

__attribute__((no_builtin)) void *memset(void *dst, int c, size_t n) {
    u8 *d = dst;
    while (n--) *d++ = (u8)c;
    return dst;
}
#endif

__attribute__((no_builtin)) int memcmp(const void *a, const void *b, size_t n) {
    const u8 *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x - *y;
    return 0;
}

static inline u32 load32_le(const u8 *p) {
    return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24;
}

static inline u64 load64_le(const u8 *p) {
    return (u64)load32_le(p) | (u64)load32_le(p + 4) << 32;
}

static inline void store32_le(u8 *p, u32 v) {
    p[0] = (u8)v; p[1] = (u8)(v >> 8); p[2] = (u8)(v >> 16); p[3] = (u8)(v >> 24);
}

static inline void store64_le(u8 *p, u64 v) {
    store32_le(p, (u32)v);
    store32_le(p + 4, (u32)(v >> 32));
}

static inline u32 load32_be(const u8 *p) {
    return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | (u32)p[3];
}

static inline u64 load64_be(const u8 *p) {
    return (u64)load32_be(p) << 32 | (u64)load32_be(p + 4);
}

static inline void store32_be(u8 *p, u32 v) {
    p[0] = (u8)(v >> 24); p[1] = (u8)(v >> 16); p[2] = (u8)(v >> 8); p[3] = (u8)v;
}

static inline void store64_be(u8 *p, u64 v) {
    store32_be(p, (u32)(v >> 32));
    store32_be(p + 4, (u32)v);
}

static inline u32 rotr32(u32 x, int n) { return x >> n | x << (32 - n); }
static inline u32 rotl32(u32 x, int n) { return x << n | x >> (32 - n); }
static inline u64 rotr64(u64 x, int n) { return x >> n | x << (64 - n); }
static inline u64 rotl64(u64 x, int n) { return x << n | x >> (64 - n); }

#endif
