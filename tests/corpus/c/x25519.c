/* Field arithmetic modulo 2^255 - 19 and X25519 (RFC 7748), with the
 * ref10-style representation ed25519 code uses: ten signed 64-bit limbs of
 * alternately 26 and 25 bits, products summed in 64 bits.
 *   fe_mul_bytes():    OUT[0..32) = IN[0..32) * IN[32..64) mod p
 *   fe_invert_bytes(): OUT[0..32) = IN[0..32)^(p-2) mod p
 *   x25519():          OUT[0..32) = X25519(scalar IN[0..32), u IN[32..64))
 *   x25519_base():     OUT[0..32) = X25519(scalar IN[0..32), 9)
 * Field elements are read as 255-bit little-endian numbers (bit 255 ignored)
 * and written fully reduced. */
#include "corpus.h"

typedef i64 fe[10];

static const int BITS[10] = {26, 25, 26, 25, 26, 25, 26, 25, 26, 25};

static void fe_carry(fe h) {
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 9; i++) {
            i64 c = h[i] >> BITS[i]; /* arithmetic shift: floor division */
            h[i] -= c * ((i64)1 << BITS[i]);
            h[i + 1] += c;
        }
        i64 c = h[9] >> 25;
        h[9] -= c * ((i64)1 << 25);
        h[0] += 19 * c;
    }
}

static void fe_copy(fe h, const fe f) { for (int i = 0; i < 10; i++) h[i] = f[i]; }
static void fe_set(fe h, i64 v) { for (int i = 0; i < 10; i++) h[i] = i ? 0 : v; }

static void fe_add(fe h, const fe f, const fe g) {
    for (int i = 0; i < 10; i++) h[i] = f[i] + g[i];
    fe_carry(h);
}

static void fe_sub(fe h, const fe f, const fe g) {
    for (int i = 0; i < 10; i++) h[i] = f[i] - g[i];
    fe_carry(h);
}

static void fe_mul(fe h, const fe f, const fe g) {
    i64 t[19];
    for (int k = 0; k < 19; k++) t[k] = 0;
    for (int i = 0; i < 10; i++) {
        for (int j = 0; j < 10; j++) {
            i64 p = f[i] * g[j];
            if (i & j & 1) p *= 2; /* two odd (25-bit) limbs: one bit short of the next weight */
            t[i + j] += p;
        }
    }
    for (int k = 18; k >= 10; k--) t[k - 10] += 19 * t[k]; /* 2^255 = 19 (mod p) */
    for (int i = 0; i < 10; i++) h[i] = t[i];
    fe_carry(h);
}

static void fe_sq(fe h, const fe f) { fe_mul(h, f, f); }

static void fe_mul_small(fe h, const fe f, i64 n) {
    for (int i = 0; i < 10; i++) h[i] = f[i] * n;
    fe_carry(h);
}

/* f^(p-2) = f^(2^255 - 21): square-and-multiply over the exponent's bits. */
static void fe_invert(fe out, const fe f) {
    fe r;
    fe_set(r, 1);
    for (int bit = 254; bit >= 0; bit--) {
        fe_sq(r, r);
        /* 2^255 - 21 = 0x7fff...ffeb: every bit is set except bits 2 and 4 */
        if (bit != 2 && bit != 4) fe_mul(r, r, f);
    }
    fe_copy(out, r);
}

static void fe_frombytes(fe h, const u8 *s) {
    u32 bit = 0;
    for (int i = 0; i < 10; i++) {
        i64 v = 0;
        for (int b = 0; b < BITS[i]; b++, bit++)
            if (bit < 255 && (s[bit >> 3] >> (bit & 7) & 1)) v |= (i64)1 << b;
        h[i] = v;
    }
}

static void fe_tobytes(u8 *s, const fe f) {
    fe h;
    fe_copy(h, f);
    fe_carry(h); /* now 0 <= limbs < 2^bits and the value is below 2^255 + 2^26 */
    /* q = 1 when h >= p, found by adding 19 and looking at the carry out of bit 255 */
    i64 q = (h[0] + 19) >> 26;
    for (int i = 1; i < 10; i++) q = (h[i] + q) >> BITS[i];
    h[0] += 19 * q;
    for (int i = 0; i < 9; i++) {
        i64 c = h[i] >> BITS[i];
        h[i] -= c * ((i64)1 << BITS[i]);
        h[i + 1] += c;
    }
    h[9] &= ((i64)1 << 25) - 1;
    memset(s, 0, 32);
    u32 bit = 0;
    for (int i = 0; i < 10; i++)
        for (int b = 0; b < BITS[i]; b++, bit++)
            if (h[i] >> b & 1) s[bit >> 3] |= (u8)(1 << (bit & 7));
}

static void fe_cswap(fe f, fe g, i64 swap) {
    i64 mask = -swap;
    for (int i = 0; i < 10; i++) {
        i64 x = mask & (f[i] ^ g[i]);
        f[i] ^= x;
        g[i] ^= x;
    }
}

static void scalarmult(u8 *out, const u8 *scalar, const u8 *point) {
    u8 k[32];
    memcpy(k, scalar, 32);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    fe x1, x2, z2, x3, z3, a, aa, b, bb, e, c, d, da, cb, t;
    fe_frombytes(x1, point);
    fe_set(x2, 1);
    fe_set(z2, 0);
    fe_copy(x3, x1);
    fe_set(z3, 1);
    i64 swap = 0;
    for (int pos = 254; pos >= 0; pos--) {
        i64 bit = k[pos >> 3] >> (pos & 7) & 1;
        swap ^= bit;
        fe_cswap(x2, x3, swap);
        fe_cswap(z2, z3, swap);
        swap = bit;
        fe_add(a, x2, z2);
        fe_sq(aa, a);
        fe_sub(b, x2, z2);
        fe_sq(bb, b);
        fe_sub(e, aa, bb);
        fe_add(c, x3, z3);
        fe_sub(d, x3, z3);
        fe_mul(da, d, a);
        fe_mul(cb, c, b);
        fe_add(t, da, cb);
        fe_sq(x3, t);
        fe_sub(t, da, cb);
        fe_sq(t, t);
        fe_mul(z3, x1, t);
        fe_mul(x2, aa, bb);
        fe_mul_small(t, e, 121665);
        fe_add(t, aa, t);
        fe_mul(z2, e, t);
    }
    fe_cswap(x2, x3, swap);
    fe_cswap(z2, z3, swap);
    fe_invert(z2, z2);
    fe_mul(x2, x2, z2);
    fe_tobytes(out, x2);
}

EXPORT("fe_mul_bytes") void fe_mul_bytes(void) {
    fe f, g, h;
    fe_frombytes(f, IN);
    fe_frombytes(g, IN + 32);
    fe_mul(h, f, g);
    fe_tobytes(OUT, h);
}

EXPORT("fe_invert_bytes") void fe_invert_bytes(void) {
    fe f, h;
    fe_frombytes(f, IN);
    fe_invert(h, f);
    fe_tobytes(OUT, h);
}

EXPORT("x25519") void x25519(void) { scalarmult(OUT, IN, IN + 32); }

EXPORT("x25519_base") void x25519_base(void) {
    u8 nine[32];
    memset(nine, 0, 32);
    nine[0] = 9;
    scalarmult(OUT, IN, nine);
}
