/* BLAKE2s and BLAKE2b (RFC 7693), sequential mode, with optional key and
 * any digest length. blake2s(keylen, len, outlen) hashes IN[keylen..keylen+len)
 * keyed with IN[0..keylen) into OUT[0..outlen). */
#include "corpus.h"

static const u8 SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

/* ------------------------------------------------------------------ BLAKE2s */

static const u32 IV32[8] = {0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
                            0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19};

typedef struct {
    u32 h[8];
    u32 t[2];
    u8 buf[64];
    u32 used;
    u32 outlen;
} blake2s_ctx;

#define G32(a, b, c, d, x, y)                 \
    do {                                      \
        v[a] = v[a] + v[b] + (x);             \
        v[d] = rotr32(v[d] ^ v[a], 16);       \
        v[c] = v[c] + v[d];                   \
        v[b] = rotr32(v[b] ^ v[c], 12);       \
        v[a] = v[a] + v[b] + (y);             \
        v[d] = rotr32(v[d] ^ v[a], 8);        \
        v[c] = v[c] + v[d];                   \
        v[b] = rotr32(v[b] ^ v[c], 7);        \
    } while (0)

static void blake2s_compress(blake2s_ctx *ctx, int last) {
    u32 v[16], m[16];
    for (int i = 0; i < 8; i++) {
        v[i] = ctx->h[i];
        v[i + 8] = IV32[i];
    }
    v[12] ^= ctx->t[0];
    v[13] ^= ctx->t[1];
    if (last) v[14] = ~v[14];
    for (int i = 0; i < 16; i++) m[i] = load32_le(ctx->buf + 4 * i);
    for (int r = 0; r < 10; r++) {
        const u8 *s = SIGMA[r];
        G32(0, 4, 8, 12, m[s[0]], m[s[1]]);
        G32(1, 5, 9, 13, m[s[2]], m[s[3]]);
        G32(2, 6, 10, 14, m[s[4]], m[s[5]]);
        G32(3, 7, 11, 15, m[s[6]], m[s[7]]);
        G32(0, 5, 10, 15, m[s[8]], m[s[9]]);
        G32(1, 6, 11, 12, m[s[10]], m[s[11]]);
        G32(2, 7, 8, 13, m[s[12]], m[s[13]]);
        G32(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++) ctx->h[i] ^= v[i] ^ v[i + 8];
}

static void blake2s_update(blake2s_ctx *ctx, const u8 *p, u32 n) {
    for (u32 i = 0; i < n; i++) {
        if (ctx->used == 64) {
            ctx->t[0] += 64;
            if (ctx->t[0] < 64) ctx->t[1]++;
            blake2s_compress(ctx, 0);
            ctx->used = 0;
        }
        ctx->buf[ctx->used++] = p[i];
    }
}

static void blake2s_init(blake2s_ctx *ctx, u32 outlen, const u8 *key, u32 keylen) {
    for (int i = 0; i < 8; i++) ctx->h[i] = IV32[i];
    ctx->h[0] ^= 0x01010000 ^ (keylen << 8) ^ outlen;
    ctx->t[0] = ctx->t[1] = 0;
    ctx->used = 0;
    ctx->outlen = outlen;
    if (keylen > 0) {
        memset(ctx->buf, 0, 64);
        blake2s_update(ctx, key, keylen);
        ctx->used = 64;
    }
}

static void blake2s_final(blake2s_ctx *ctx, u8 *out) {
    ctx->t[0] += ctx->used;
    if (ctx->t[0] < ctx->used) ctx->t[1]++;
    while (ctx->used < 64) ctx->buf[ctx->used++] = 0;
    blake2s_compress(ctx, 1);
    for (u32 i = 0; i < ctx->outlen; i++) out[i] = (u8)(ctx->h[i >> 2] >> (8 * (i & 3)));
}

EXPORT("blake2s") void blake2s(u32 keylen, u32 len, u32 outlen) {
    blake2s_ctx ctx;
    blake2s_init(&ctx, outlen, IN, keylen);
    blake2s_update(&ctx, IN + keylen, len);
    blake2s_final(&ctx, OUT);
}

/* ------------------------------------------------------------------ BLAKE2b */

static const u64 IV64[8] = {0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
                            0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
                            0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

typedef struct {
    u64 h[8];
    u64 t[2];
    u8 buf[128];
    u32 used;
    u32 outlen;
} blake2b_ctx;

#define G64(a, b, c, d, x, y)                 \
    do {                                      \
        v[a] = v[a] + v[b] + (x);             \
        v[d] = rotr64(v[d] ^ v[a], 32);       \
        v[c] = v[c] + v[d];                   \
        v[b] = rotr64(v[b] ^ v[c], 24);       \
        v[a] = v[a] + v[b] + (y);             \
        v[d] = rotr64(v[d] ^ v[a], 16);       \
        v[c] = v[c] + v[d];                   \
        v[b] = rotr64(v[b] ^ v[c], 63);       \
    } while (0)

static void blake2b_compress(blake2b_ctx *ctx, int last) {
    u64 v[16], m[16];
    for (int i = 0; i < 8; i++) {
        v[i] = ctx->h[i];
        v[i + 8] = IV64[i];
    }
    v[12] ^= ctx->t[0];
    v[13] ^= ctx->t[1];
    if (last) v[14] = ~v[14];
    for (int i = 0; i < 16; i++) m[i] = load64_le(ctx->buf + 8 * i);
    for (int r = 0; r < 12; r++) {
        const u8 *s = SIGMA[r];
        G64(0, 4, 8, 12, m[s[0]], m[s[1]]);
        G64(1, 5, 9, 13, m[s[2]], m[s[3]]);
        G64(2, 6, 10, 14, m[s[4]], m[s[5]]);
        G64(3, 7, 11, 15, m[s[6]], m[s[7]]);
        G64(0, 5, 10, 15, m[s[8]], m[s[9]]);
        G64(1, 6, 11, 12, m[s[10]], m[s[11]]);
        G64(2, 7, 8, 13, m[s[12]], m[s[13]]);
        G64(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++) ctx->h[i] ^= v[i] ^ v[i + 8];
}

static void blake2b_update(blake2b_ctx *ctx, const u8 *p, u32 n) {
    for (u32 i = 0; i < n; i++) {
        if (ctx->used == 128) {
            ctx->t[0] += 128;
            if (ctx->t[0] < 128) ctx->t[1]++;
            blake2b_compress(ctx, 0);
            ctx->used = 0;
        }
        ctx->buf[ctx->used++] = p[i];
    }
}

static void blake2b_init(blake2b_ctx *ctx, u32 outlen, const u8 *key, u32 keylen) {
    for (int i = 0; i < 8; i++) ctx->h[i] = IV64[i];
    ctx->h[0] ^= 0x01010000 ^ (keylen << 8) ^ outlen;
    ctx->t[0] = ctx->t[1] = 0;
    ctx->used = 0;
    ctx->outlen = outlen;
    if (keylen > 0) {
        memset(ctx->buf, 0, 128);
        blake2b_update(ctx, key, keylen);
        ctx->used = 128;
    }
}

static void blake2b_final(blake2b_ctx *ctx, u8 *out) {
    ctx->t[0] += ctx->used;
    if (ctx->t[0] < ctx->used) ctx->t[1]++;
    while (ctx->used < 128) ctx->buf[ctx->used++] = 0;
    blake2b_compress(ctx, 1);
    for (u32 i = 0; i < ctx->outlen; i++) out[i] = (u8)(ctx->h[i >> 3] >> (8 * (i & 7)));
}

EXPORT("blake2b") void blake2b(u32 keylen, u32 len, u32 outlen) {
    blake2b_ctx ctx;
    blake2b_init(&ctx, outlen, IN, keylen);
    blake2b_update(&ctx, IN + keylen, len);
    blake2b_final(&ctx, OUT);
}
