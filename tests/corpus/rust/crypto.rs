//! Hashing and elliptic-curve arithmetic in Rust: BLAKE2s (RFC 7693), XXH3-64
//! (its 64x64 -> 128 products as u128 multiplications) and X25519 (RFC 7748)
//! over five 51-bit limbs with u128 products, the representation
//! curve25519-dalek's 64-bit backend uses. Inputs come from `in_ptr()`,
//! digests and points go to `out_ptr()`/`out_len()`.

mod io;

// ---------------------------------------------------------------- BLAKE2s

const IV: [u32; 8] = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
];

const SIGMA: [[usize; 16]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
    [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
    [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
    [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
    [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
    [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
    [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
    [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
    [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
    [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

struct Blake2s {
    h: [u32; 8],
    t: u64,
    buf: [u8; 64],
    used: usize,
    outlen: usize,
}

impl Blake2s {
    fn new(outlen: usize, key: &[u8]) -> Self {
        let mut h = IV;
        h[0] ^= 0x0101_0000 ^ (key.len() as u32) << 8 ^ outlen as u32;
        let mut state = Blake2s { h, t: 0, buf: [0; 64], used: 0, outlen };
        if !key.is_empty() {
            state.update(key);
            state.used = 64;
        }
        state
    }

    fn compress(&mut self, last: bool) {
        let m: Vec<u32> = self.buf.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap())).collect();
        let mut v = [0u32; 16];
        v[..8].copy_from_slice(&self.h);
        v[8..].copy_from_slice(&IV);
        v[12] ^= self.t as u32;
        v[13] ^= (self.t >> 32) as u32;
        if last {
            v[14] = !v[14];
        }
        for s in &SIGMA {
            let mut g = |a: usize, b: usize, c: usize, d: usize, x: u32, y: u32| {
                v[a] = v[a].wrapping_add(v[b]).wrapping_add(x);
                v[d] = (v[d] ^ v[a]).rotate_right(16);
                v[c] = v[c].wrapping_add(v[d]);
                v[b] = (v[b] ^ v[c]).rotate_right(12);
                v[a] = v[a].wrapping_add(v[b]).wrapping_add(y);
                v[d] = (v[d] ^ v[a]).rotate_right(8);
                v[c] = v[c].wrapping_add(v[d]);
                v[b] = (v[b] ^ v[c]).rotate_right(7);
            };
            g(0, 4, 8, 12, m[s[0]], m[s[1]]);
            g(1, 5, 9, 13, m[s[2]], m[s[3]]);
            g(2, 6, 10, 14, m[s[4]], m[s[5]]);
            g(3, 7, 11, 15, m[s[6]], m[s[7]]);
            g(0, 5, 10, 15, m[s[8]], m[s[9]]);
            g(1, 6, 11, 12, m[s[10]], m[s[11]]);
            g(2, 7, 8, 13, m[s[12]], m[s[13]]);
            g(3, 4, 9, 14, m[s[14]], m[s[15]]);
        }
        for i in 0..8 {
            self.h[i] ^= v[i] ^ v[i + 8];
        }
    }

    fn update(&mut self, data: &[u8]) {
        for &byte in data {
            if self.used == 64 {
                self.t += 64;
                self.compress(false);
                self.used = 0;
            }
            self.buf[self.used] = byte;
            self.used += 1;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.t += self.used as u64;
        self.buf[self.used..].fill(0);
        self.compress(true);
        self.h.iter().flat_map(|w| w.to_le_bytes()).take(self.outlen).collect()
    }
}

/// BLAKE2s of input[keylen..keylen+len) keyed with input[..keylen], fed to
/// update() in pieces of `chunk` bytes.
#[no_mangle]
pub extern "C" fn blake2s(keylen: usize, len: usize, outlen: usize, chunk: usize) -> usize {
    let data = io::input(keylen + len);
    let mut state = Blake2s::new(outlen, &data[..keylen]);
    for piece in data[keylen..].chunks(chunk.max(1)) {
        state.update(piece);
    }
    io::set_output(state.finish());
    outlen
}

// ---------------------------------------------------------------- XXH3-64

const SECRET: [u8; 192] = [
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
];

const P32_1: u64 = 0x9E3779B1;
const P32_2: u64 = 0x85EBCA77;
const P32_3: u64 = 0xC2B2AE3D;
const P64_1: u64 = 0x9E3779B185EBCA87;
const P64_2: u64 = 0xC2B2AE3D27D4EB4F;
const P64_3: u64 = 0x165667B19E3779F9;
const P64_4: u64 = 0x85EBCA77C2B2AE63;
const P64_5: u64 = 0x27D4EB2F165667C5;
const PMX_1: u64 = 0x165667919E3779F9;
const PMX_2: u64 = 0x9FB21C651E98DF25;

fn r64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn r32(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as u64
}

fn fold(a: u64, b: u64) -> u64 {
    let p = a as u128 * b as u128;
    p as u64 ^ (p >> 64) as u64
}

fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 37;
    h = h.wrapping_mul(PMX_1);
    h ^ h >> 32
}

fn avalanche64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(P64_2);
    h ^= h >> 29;
    h = h.wrapping_mul(P64_3);
    h ^ h >> 32
}

fn mix16(p: &[u8], at: usize, s: &[u8], sat: usize, seed: u64) -> u64 {
    fold(r64(p, at) ^ r64(s, sat).wrapping_add(seed), r64(p, at + 8) ^ r64(s, sat + 8).wrapping_sub(seed))
}

fn xxh3_short(p: &[u8], s: &[u8], seed: u64) -> u64 {
    let len = p.len();
    let n = len as u64;
    match len {
        0 => avalanche64(seed ^ r64(s, 56) ^ r64(s, 64)),
        1..=3 => {
            let combined = (p[0] as u64) << 16 | (p[len >> 1] as u64) << 24 | p[len - 1] as u64 | n << 8;
            avalanche64(combined ^ (r32(s, 0) ^ r32(s, 4)).wrapping_add(seed))
        }
        4..=8 => {
            let seed = seed ^ ((seed as u32).swap_bytes() as u64) << 32;
            let input = r32(p, len - 4).wrapping_add(r32(p, 0) << 32);
            let mut h = input ^ (r64(s, 8) ^ r64(s, 16)).wrapping_sub(seed);
            h ^= h.rotate_left(49) ^ h.rotate_left(24);
            h = h.wrapping_mul(PMX_2);
            h ^= (h >> 35).wrapping_add(n);
            h = h.wrapping_mul(PMX_2);
            h ^ h >> 28
        }
        9..=16 => {
            let lo = r64(p, 0) ^ (r64(s, 24) ^ r64(s, 32)).wrapping_add(seed);
            let hi = r64(p, len - 8) ^ (r64(s, 40) ^ r64(s, 48)).wrapping_sub(seed);
            avalanche(n.wrapping_add(lo.swap_bytes()).wrapping_add(hi).wrapping_add(fold(lo, hi)))
        }
        17..=128 => {
            let mut acc = n.wrapping_mul(P64_1);
            let rounds = (len - 1) / 32 + 1;
            for i in (0..rounds).rev() {
                acc = acc.wrapping_add(mix16(p, 16 * i, s, 32 * i, seed));
                acc = acc.wrapping_add(mix16(p, len - 16 * (i + 1), s, 32 * i + 16, seed));
            }
            avalanche(acc)
        }
        _ => {
            let mut acc = n.wrapping_mul(P64_1);
            for i in 0..8 {
                acc = acc.wrapping_add(mix16(p, 16 * i, s, 16 * i, seed));
            }
            acc = avalanche(acc);
            for i in 8..len / 16 {
                acc = acc.wrapping_add(mix16(p, 16 * i, s, 16 * (i - 8) + 3, seed));
            }
            avalanche(acc.wrapping_add(mix16(p, len - 16, s, 119, seed)))
        }
    }
}

fn accumulate(acc: &mut [u64; 8], p: &[u8], s: &[u8]) {
    for i in 0..8 {
        let data = r64(p, 8 * i);
        let key = data ^ r64(s, 8 * i);
        acc[i ^ 1] = acc[i ^ 1].wrapping_add(data);
        acc[i] = acc[i].wrapping_add((key & 0xffff_ffff) * (key >> 32));
    }
}

fn xxh3_long(p: &[u8], s: &[u8]) -> u64 {
    let mut acc = [P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1];
    let stripes = (s.len() - 64) / 8;
    let block = 64 * stripes;
    let blocks = (p.len() - 1) / block;
    for b in 0..blocks {
        for n in 0..stripes {
            accumulate(&mut acc, &p[b * block + 64 * n..], &s[8 * n..]);
        }
        for (i, a) in acc.iter_mut().enumerate() {
            *a = ((*a ^ *a >> 47) ^ r64(s, s.len() - 64 + 8 * i)).wrapping_mul(P32_1);
        }
    }
    let last = (p.len() - 1 - block * blocks) / 64;
    for n in 0..last {
        accumulate(&mut acc, &p[blocks * block + 64 * n..], &s[8 * n..]);
    }
    accumulate(&mut acc, &p[p.len() - 64..], &s[s.len() - 71..]);
    let mut result = (p.len() as u64).wrapping_mul(P64_1);
    for i in 0..4 {
        result = result.wrapping_add(fold(acc[2 * i] ^ r64(s, 11 + 16 * i), acc[2 * i + 1] ^ r64(s, 19 + 16 * i)));
    }
    avalanche(result)
}

/// XXH3-64 of input[..len] with the seed.
#[no_mangle]
pub extern "C" fn xxh3_64(len: usize, seed: u64) -> u64 {
    let p = io::input(len);
    if len <= 240 {
        return xxh3_short(p, &SECRET, seed);
    }
    if seed == 0 {
        return xxh3_long(p, &SECRET);
    }
    let mut secret = [0u8; 192];
    for i in 0..12 {
        secret[16 * i..16 * i + 8].copy_from_slice(&r64(&SECRET, 16 * i).wrapping_add(seed).to_le_bytes());
        secret[16 * i + 8..16 * i + 16].copy_from_slice(&r64(&SECRET, 16 * i + 8).wrapping_sub(seed).to_le_bytes());
    }
    xxh3_long(p, &secret)
}

// ---------------------------------------------------------------- X25519

const MASK51: u64 = (1 << 51) - 1;

/// A field element modulo 2^255 - 19 as five 51-bit limbs.
#[derive(Clone, Copy)]
struct Fe([u64; 5]);

impl Fe {
    const ZERO: Fe = Fe([0; 5]);
    const ONE: Fe = Fe([1, 0, 0, 0, 0]);

    fn from_bytes(b: &[u8]) -> Fe {
        let w = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        Fe([
            w(0) & MASK51,
            (w(6) >> 3) & MASK51,
            (w(12) >> 6) & MASK51,
            (w(19) >> 1) & MASK51,
            (w(24) >> 12) & MASK51,
        ])
    }

    fn carry(mut l: [u64; 5]) -> Fe {
        for _ in 0..2 {
            for i in 0..4 {
                l[i + 1] += l[i] >> 51;
                l[i] &= MASK51;
            }
            l[0] += 19 * (l[4] >> 51);
            l[4] &= MASK51;
        }
        Fe(l)
    }

    fn to_bytes(self) -> [u8; 32] {
        let mut l = Fe::carry(self.0).0;
        // subtract p if the value is at least p: q = 1 iff l + 19 overflows 2^255
        let mut q = (l[0] + 19) >> 51;
        for limb in &l[1..] {
            q = (limb + q) >> 51;
        }
        l[0] += 19 * q;
        for i in 0..4 {
            l[i + 1] += l[i] >> 51;
            l[i] &= MASK51;
        }
        l[4] &= MASK51;
        let mut out = [0u8; 32];
        let mut acc: u128 = 0;
        let mut bits = 0;
        let mut at = 0;
        for limb in l {
            acc |= (limb as u128) << bits;
            bits += 51;
            while bits >= 8 && at < 32 {
                out[at] = acc as u8;
                acc >>= 8;
                bits -= 8;
                at += 1;
            }
        }
        if at < 32 {
            out[at] = acc as u8;
        }
        out
    }

    fn add(self, o: Fe) -> Fe {
        let mut l = [0; 5];
        for i in 0..5 {
            l[i] = self.0[i] + o.0[i];
        }
        Fe::carry(l)
    }

    fn sub(self, o: Fe) -> Fe {
        // add 2p (limb-wise 2^52 - 38, 2^52 - 2, ...) first so that no limb goes negative
        let two_p = [(1u64 << 52) - 38, (1 << 52) - 2, (1 << 52) - 2, (1 << 52) - 2, (1 << 52) - 2];
        let mut l = [0; 5];
        for i in 0..5 {
            l[i] = self.0[i] + two_p[i] - o.0[i];
        }
        Fe::carry(l)
    }

    fn mul(self, o: Fe) -> Fe {
        let (a, b) = (self.0, o.0);
        let m = |x: u64, y: u64| x as u128 * y as u128;
        let b19: Vec<u64> = b.iter().map(|x| x * 19).collect();
        let c = [
            m(a[0], b[0]) + m(a[1], b19[4]) + m(a[2], b19[3]) + m(a[3], b19[2]) + m(a[4], b19[1]),
            m(a[0], b[1]) + m(a[1], b[0]) + m(a[2], b19[4]) + m(a[3], b19[3]) + m(a[4], b19[2]),
            m(a[0], b[2]) + m(a[1], b[1]) + m(a[2], b[0]) + m(a[3], b19[4]) + m(a[4], b19[3]),
            m(a[0], b[3]) + m(a[1], b[2]) + m(a[2], b[1]) + m(a[3], b[0]) + m(a[4], b19[4]),
            m(a[0], b[4]) + m(a[1], b[3]) + m(a[2], b[2]) + m(a[3], b[1]) + m(a[4], b[0]),
        ];
        let mut l = [0u64; 5];
        let mut carry: u128 = 0;
        for i in 0..5 {
            let t = c[i] + carry;
            l[i] = t as u64 & MASK51;
            carry = t >> 51;
        }
        l[0] += carry as u64 * 19;
        Fe::carry(l)
    }

    fn square(self) -> Fe {
        self.mul(self)
    }

    fn mul_small(self, n: u64) -> Fe {
        let mut l = [0u64; 5];
        let mut carry: u128 = 0;
        for i in 0..5 {
            let t = self.0[i] as u128 * n as u128 + carry;
            l[i] = t as u64 & MASK51;
            carry = t >> 51;
        }
        l[0] += carry as u64 * 19;
        Fe::carry(l)
    }

    fn invert(self) -> Fe {
        // self^(p - 2), p - 2 = 2^255 - 21
        let mut r = Fe::ONE;
        for bit in (0..255).rev() {
            r = r.square();
            if bit != 2 && bit != 4 {
                r = r.mul(self);
            }
        }
        r
    }
}

fn cswap(a: &mut Fe, b: &mut Fe, swap: u64) {
    let mask = 0u64.wrapping_sub(swap);
    for i in 0..5 {
        let t = mask & (a.0[i] ^ b.0[i]);
        a.0[i] ^= t;
        b.0[i] ^= t;
    }
}

fn scalarmult(scalar: &[u8], point: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 32];
    k.copy_from_slice(&scalar[..32]);
    k[0] &= 248;
    k[31] &= 127;
    k[31] |= 64;
    let x1 = Fe::from_bytes(point);
    let (mut x2, mut z2, mut x3, mut z3) = (Fe::ONE, Fe::ZERO, x1, Fe::ONE);
    let mut swap = 0;
    for pos in (0..255).rev() {
        let bit = (k[pos / 8] >> (pos % 8) & 1) as u64;
        swap ^= bit;
        cswap(&mut x2, &mut x3, swap);
        cswap(&mut z2, &mut z3, swap);
        swap = bit;
        let a = x2.add(z2);
        let aa = a.square();
        let b = x2.sub(z2);
        let bb = b.square();
        let e = aa.sub(bb);
        let c = x3.add(z3);
        let d = x3.sub(z3);
        let da = d.mul(a);
        let cb = c.mul(b);
        x3 = da.add(cb).square();
        z3 = x1.mul(da.sub(cb).square());
        x2 = aa.mul(bb);
        z2 = e.mul(aa.add(e.mul_small(121665)));
    }
    cswap(&mut x2, &mut x3, swap);
    cswap(&mut z2, &mut z3, swap);
    x2.mul(z2.invert()).to_bytes()
}

/// input[0..32) * input[32..64) mod p, written fully reduced.
#[no_mangle]
pub extern "C" fn fe_mul_bytes() -> usize {
    let p = io::input(64);
    io::set_output(Fe::from_bytes(&p[..32]).mul(Fe::from_bytes(&p[32..])).to_bytes().to_vec());
    32
}

/// X25519(scalar input[0..32), u input[32..64)).
#[no_mangle]
pub extern "C" fn x25519() -> usize {
    let p = io::input(64);
    io::set_output(scalarmult(&p[..32], &p[32..]).to_vec());
    32
}
