/* xxHash: XXH32, XXH64 and XXH3-64 (with seed), written from the xxHash
 * specification. Each hashes IN[0..len) and returns the digest; the 64-bit
 * products XXH3 needs (64x64 -> 128) are built from 32-bit halves, since
 * wasm32 has no 128-bit multiply. */
#include "corpus.h"

#define P32_1 0x9E3779B1U
#define P32_2 0x85EBCA77U
#define P32_3 0xC2B2AE3DU
#define P32_4 0x27D4EB2FU
#define P32_5 0x165667B1U
#define P64_1 0x9E3779B185EBCA87ULL
#define P64_2 0xC2B2AE3D27D4EB4FULL
#define P64_3 0x165667B19E3779F9ULL
#define P64_4 0x85EBCA77C2B2AE63ULL
#define P64_5 0x27D4EB2F165667C5ULL
#define PMX_1 0x165667919E3779F9ULL
#define PMX_2 0x9FB21C651E98DF25ULL

/* ------------------------------------------------------------------ XXH32 */

static u32 xxh32_round(u32 acc, u32 lane) {
    return rotl32(acc + lane * P32_2, 13) * P32_1;
}

EXPORT("xxh32") u32 xxh32(u32 len, u32 seed) {
    const u8 *p = IN, *end = IN + len;
    u32 h;
    if (len >= 16) {
        u32 v1 = seed + P32_1 + P32_2, v2 = seed + P32_2, v3 = seed, v4 = seed - P32_1;
        for (; p + 16 <= end; p += 16) {
            v1 = xxh32_round(v1, load32_le(p));
            v2 = xxh32_round(v2, load32_le(p + 4));
            v3 = xxh32_round(v3, load32_le(p + 8));
            v4 = xxh32_round(v4, load32_le(p + 12));
        }
        h = rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18);
    } else {
        h = seed + P32_5;
    }
    h += len;
    for (; p + 4 <= end; p += 4) h = rotl32(h + load32_le(p) * P32_3, 17) * P32_4;
    for (; p < end; p++) h = rotl32(h + *p * P32_5, 11) * P32_1;
    h ^= h >> 15; h *= P32_2;
    h ^= h >> 13; h *= P32_3;
    h ^= h >> 16;
    return h;
}

/* ------------------------------------------------------------------ XXH64 */

static u64 xxh64_round(u64 acc, u64 lane) {
    return rotl64(acc + lane * P64_2, 31) * P64_1;
}

static u64 xxh64_merge(u64 h, u64 v) {
    h ^= xxh64_round(0, v);
    return h * P64_1 + P64_4;
}

static u64 xxh64_avalanche(u64 h) {
    h ^= h >> 33; h *= P64_2;
    h ^= h >> 29; h *= P64_3;
    return h ^ (h >> 32);
}

EXPORT("xxh64") u64 xxh64(u32 len, u64 seed) {
    const u8 *p = IN, *end = IN + len;
    u64 h;
    if (len >= 32) {
        u64 v1 = seed + P64_1 + P64_2, v2 = seed + P64_2, v3 = seed, v4 = seed - P64_1;
        for (; p + 32 <= end; p += 32) {
            v1 = xxh64_round(v1, load64_le(p));
            v2 = xxh64_round(v2, load64_le(p + 8));
            v3 = xxh64_round(v3, load64_le(p + 16));
            v4 = xxh64_round(v4, load64_le(p + 24));
        }
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xxh64_merge(h, v1);
        h = xxh64_merge(h, v2);
        h = xxh64_merge(h, v3);
        h = xxh64_merge(h, v4);
    } else {
        h = seed + P64_5;
    }
    h += len;
    for (; p + 8 <= end; p += 8) h = rotl64(h ^ xxh64_round(0, load64_le(p)), 27) * P64_1 + P64_4;
    if (p + 4 <= end) {
        h = rotl64(h ^ (u64)load32_le(p) * P64_1, 23) * P64_2 + P64_3;
        p += 4;
    }
    for (; p < end; p++) h = rotl64(h ^ *p * P64_5, 11) * P64_1;
    return xxh64_avalanche(h);
}

/* ------------------------------------------------------------------ XXH3-64 */

static const u8 K_SECRET[192] = {
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
};

typedef struct {
    u64 low64, high64;
} xxh128;

/* The full 64x64 -> 128 product from four 32x32 -> 64 products (xxHash's
 * XXH_mult64to128). Exported, it returns two i64 results with the
 * multi-value ABI (the O2-ext build) and writes through a pointer passed
 * first otherwise. */
EXPORT("mult64to128") xxh128 mult64to128(u64 a, u64 b) {
    u64 a_lo = (u32)a, a_hi = a >> 32, b_lo = (u32)b, b_hi = b >> 32;
    u64 lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi, hi_hi = a_hi * b_hi;
    u64 cross = (lo_lo >> 32) + (u32)hi_lo + lo_hi;
    xxh128 r;
    r.high64 = (hi_lo >> 32) + (cross >> 32) + hi_hi;
    r.low64 = (cross << 32) | (u32)lo_lo;
    return r;
}

static u64 mul128_fold64(u64 a, u64 b) {
    xxh128 p = mult64to128(a, b);
    return p.low64 ^ p.high64;
}

static u64 swap64(u64 x) {
    x = (x & 0x00000000FFFFFFFFULL) << 32 | (x & 0xFFFFFFFF00000000ULL) >> 32;
    x = (x & 0x0000FFFF0000FFFFULL) << 16 | (x & 0xFFFF0000FFFF0000ULL) >> 16;
    return (x & 0x00FF00FF00FF00FFULL) << 8 | (x & 0xFF00FF00FF00FF00ULL) >> 8;
}

static u32 swap32(u32 x) {
    return x >> 24 | (x >> 8 & 0xff00) | (x << 8 & 0xff0000) | x << 24;
}

static u64 xxh3_avalanche(u64 h) {
    h ^= h >> 37;
    h *= PMX_1;
    return h ^ (h >> 32);
}

static u64 rrmxmx(u64 h, u64 len) {
    h ^= rotl64(h, 49) ^ rotl64(h, 24);
    h *= PMX_2;
    h ^= (h >> 35) + len;
    h *= PMX_2;
    return h ^ (h >> 28);
}

static u64 mix16(const u8 *p, const u8 *s, u64 seed) {
    return mul128_fold64(load64_le(p) ^ (load64_le(s) + seed), load64_le(p + 8) ^ (load64_le(s + 8) - seed));
}

static u64 xxh3_0to16(const u8 *p, u32 len, const u8 *s, u64 seed) {
    if (len > 8) {
        u64 lo = load64_le(p) ^ ((load64_le(s + 24) ^ load64_le(s + 32)) + seed);
        u64 hi = load64_le(p + len - 8) ^ ((load64_le(s + 40) ^ load64_le(s + 48)) - seed);
        return xxh3_avalanche(len + swap64(lo) + hi + mul128_fold64(lo, hi));
    }
    if (len >= 4) {
        seed ^= (u64)swap32((u32)seed) << 32;
        u64 in = load32_le(p + len - 4) + ((u64)load32_le(p) << 32);
        return rrmxmx(in ^ ((load64_le(s + 8) ^ load64_le(s + 16)) - seed), len);
    }
    if (len > 0) {
        u32 combined = (u32)p[0] << 16 | (u32)p[len >> 1] << 24 | p[len - 1] | len << 8;
        return xxh64_avalanche(combined ^ ((u64)(load32_le(s) ^ load32_le(s + 4)) + seed));
    }
    return xxh64_avalanche(seed ^ load64_le(s + 56) ^ load64_le(s + 64));
}

static u64 xxh3_17to128(const u8 *p, u32 len, const u8 *s, u64 seed) {
    u64 acc = len * P64_1;
    if (len > 32) {
        if (len > 64) {
            if (len > 96) {
                acc += mix16(p + 48, s + 96, seed);
                acc += mix16(p + len - 64, s + 112, seed);
            }
            acc += mix16(p + 32, s + 64, seed);
            acc += mix16(p + len - 48, s + 80, seed);
        }
        acc += mix16(p + 16, s + 32, seed);
        acc += mix16(p + len - 32, s + 48, seed);
    }
    acc += mix16(p, s, seed);
    acc += mix16(p + len - 16, s + 16, seed);
    return xxh3_avalanche(acc);
}

static u64 xxh3_129to240(const u8 *p, u32 len, const u8 *s, u64 seed) {
    u64 acc = len * P64_1;
    u32 rounds = len / 16;
    for (u32 i = 0; i < 8; i++) acc += mix16(p + 16 * i, s + 16 * i, seed);
    acc = xxh3_avalanche(acc);
    for (u32 i = 8; i < rounds; i++) acc += mix16(p + 16 * i, s + 16 * (i - 8) + 3, seed);
    acc += mix16(p + len - 16, s + 136 - 17, seed);
    return xxh3_avalanche(acc);
}

static void accumulate_512(u64 *acc, const u8 *p, const u8 *s) {
    for (int i = 0; i < 8; i++) {
        u64 data = load64_le(p + 8 * i);
        u64 key = data ^ load64_le(s + 8 * i);
        acc[i ^ 1] += data;
        acc[i] += (u64)(u32)key * (key >> 32);
    }
}

static void scramble(u64 *acc, const u8 *s) {
    for (int i = 0; i < 8; i++) {
        u64 a = acc[i];
        a ^= a >> 47;
        a ^= load64_le(s + 8 * i);
        acc[i] = a * P32_1;
    }
}

static u64 xxh3_long(const u8 *p, u32 len, const u8 *s) {
    u64 acc[8] = {P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1};
    const u32 stripes_per_block = (192 - 64) / 8, block_len = 64 * stripes_per_block;
    u32 blocks = (len - 1) / block_len;
    for (u32 b = 0; b < blocks; b++) {
        for (u32 n = 0; n < stripes_per_block; n++) accumulate_512(acc, p + b * block_len + 64 * n, s + 8 * n);
        scramble(acc, s + 192 - 64);
    }
    u32 stripes = ((len - 1) - block_len * blocks) / 64;
    for (u32 n = 0; n < stripes; n++) accumulate_512(acc, p + blocks * block_len + 64 * n, s + 8 * n);
    accumulate_512(acc, p + len - 64, s + 192 - 64 - 7);
    u64 result = len * P64_1;
    for (int i = 0; i < 4; i++)
        result += mul128_fold64(acc[2 * i] ^ load64_le(s + 11 + 16 * i), acc[2 * i + 1] ^ load64_le(s + 11 + 16 * i + 8));
    return xxh3_avalanche(result);
}

EXPORT("xxh3_64") u64 xxh3_64(u32 len, u64 seed) {
    if (len <= 16) return xxh3_0to16(IN, len, K_SECRET, seed);
    if (len <= 128) return xxh3_17to128(IN, len, K_SECRET, seed);
    if (len <= 240) return xxh3_129to240(IN, len, K_SECRET, seed);
    if (seed == 0) return xxh3_long(IN, len, K_SECRET);
    u8 secret[192];
    for (int i = 0; i < 12; i++) {
        store64_le(secret + 16 * i, load64_le(K_SECRET + 16 * i) + seed);
        store64_le(secret + 16 * i + 8, load64_le(K_SECRET + 16 * i + 8) - seed);
    }
    return xxh3_long(IN, len, secret);
}
