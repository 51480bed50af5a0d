/* Shared helpers for the benchmark programs: fixed-width types, the export
 * attribute and the pseudo-random generators. There is no libc: every program
 * is freestanding, keeps its data in static arrays (linear memory) and
 * exports `run(n)` returning a checksum. The Python versions in
 * pyversions.py reproduce these generators bit for bit. */
#ifndef BENCH_H
#define BENCH_H

typedef unsigned char u8;
typedef int i32;
typedef unsigned int u32;
typedef long long i64;
typedef unsigned long long u64;

#define EXPORT(name) __attribute__((export_name(name)))

/* 32-bit linear congruential generator (Numerical Recipes constants). */
static inline u32 lcg32(u32 *state) {
    *state = *state * 1664525u + 1013904223u;
    return *state;
}

/* 64-bit linear congruential generator (Knuth's MMIX constants). */
static inline u64 lcg64(u64 *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state;
}

#endif
