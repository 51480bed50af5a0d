/* An LZ4 block-format compressor (greedy, one hash table, written from the
 * LZ4 block format description) and decompressor.
 *   lz4_compress(len)          compresses IN[0..len) into OUT, returns its size;
 *   lz4_decompress(len, cap)   decodes the block IN[0..len) into OUT (at most cap
 *                              bytes), returns the size or -1 if the block is malformed;
 *   lz4_roundtrip(len)         compresses IN, decompresses the result into OUT,
 *                              returns the compressed size or -1 if the round trip failed. */
#include "corpus.h"

#define MIN_MATCH 4
#define MF_LIMIT 12      /* the last match starts at least 12 bytes before the end */
#define LAST_LITERALS 5  /* the last 5 bytes are always literals */
#define HASH_BITS 12

static u8 SCRATCH[IO_SIZE * 2];

static u32 hash4(u32 v) { return (v * 2654435761U) >> (32 - HASH_BITS); }

static u8 *put_length(u8 *op, u32 n) {
    for (; n >= 255; n -= 255) *op++ = 255;
    *op++ = (u8)n;
    return op;
}

static u8 *put_sequence(u8 *op, const u8 *lit, u32 nlit, u32 offset, u32 mlen) {
    u8 *token = op++;
    *token = (u8)((nlit >= 15 ? 15 : nlit) << 4);
    if (nlit >= 15) op = put_length(op, nlit - 15);
    memcpy(op, lit, nlit);
    op += nlit;
    if (mlen == 0) return op; /* the last sequence: literals only */
    *op++ = (u8)offset;
    *op++ = (u8)(offset >> 8);
    u32 m = mlen - MIN_MATCH;
    *token |= (u8)(m >= 15 ? 15 : m);
    if (m >= 15) op = put_length(op, m - 15);
    return op;
}

static u32 compress(const u8 *src, u32 len, u8 *dst) {
    u32 table[1 << HASH_BITS];
    for (u32 i = 0; i < (1u << HASH_BITS); i++) table[i] = 0xffffffffu;
    u8 *op = dst;
    u32 anchor = 0, ip = 0;
    if (len >= MF_LIMIT + 1) {
        u32 limit = len - MF_LIMIT;
        while (ip < limit) {
            u32 h = hash4(load32_le(src + ip));
            u32 ref = table[h];
            table[h] = ip;
            if (ref == 0xffffffffu || ip - ref > 65535 || load32_le(src + ref) != load32_le(src + ip)) {
                ip++;
                continue;
            }
            u32 mlen = MIN_MATCH;
            while (ip + mlen < len - LAST_LITERALS && src[ref + mlen] == src[ip + mlen]) mlen++;
            op = put_sequence(op, src + anchor, ip - anchor, ip - ref, mlen);
            ip += mlen;
            anchor = ip;
        }
    }
    op = put_sequence(op, src + anchor, len - anchor, 0, 0);
    return (u32)(op - dst);
}

static i32 decompress(const u8 *src, u32 len, u8 *dst, u32 cap) {
    u32 ip = 0, op = 0;
    while (ip < len) {
        u32 token = src[ip++];
        u32 nlit = token >> 4;
        if (nlit == 15) {
            u32 b;
            do {
                if (ip >= len) return -1;
                b = src[ip++];
                nlit += b;
            } while (b == 255);
        }
        if (nlit > len - ip || nlit > cap - op) return -1;
        memcpy(dst + op, src + ip, nlit);
        ip += nlit;
        op += nlit;
        if (ip == len) break; /* the last sequence has no match */
        if (len - ip < 2) return -1;
        u32 offset = src[ip] | (u32)src[ip + 1] << 8;
        ip += 2;
        if (offset == 0 || offset > op) return -1;
        u32 mlen = (token & 15);
        if (mlen == 15) {
            u32 b;
            do {
                if (ip >= len) return -1;
                b = src[ip++];
                mlen += b;
            } while (b == 255);
        }
        mlen += MIN_MATCH;
        if (mlen > cap - op) return -1;
        for (u32 i = 0; i < mlen; i++, op++) dst[op] = dst[op - offset]; /* may overlap */
    }
    return (i32)op;
}

EXPORT("lz4_compress") u32 lz4_compress(u32 len) { return compress(IN, len, OUT); }

EXPORT("lz4_decompress") i32 lz4_decompress(u32 len, u32 cap) {
    if (cap > sizeof OUT) cap = sizeof OUT;
    return decompress(IN, len, OUT, cap);
}

EXPORT("lz4_roundtrip") i32 lz4_roundtrip(u32 len) {
    u32 clen = compress(IN, len, SCRATCH);
    i32 n = decompress(SCRATCH, clen, OUT, sizeof OUT);
    if (n != (i32)len || memcmp(OUT, IN, len) != 0) return -1;
    return (i32)clen;
}
