// Checksums and hashes in AssemblyScript: CRC-32 (table-driven, the zlib
// polynomial), Adler-32, SHA-1 (FIPS 180-4), MurmurHash3 x86_32 and
// FNV-1a 64. Each reads its input from in_ptr() and returns the value
// (SHA-1 writes its 20-byte digest at out_ptr()).

const IN: usize = memory.data(65536);
const OUT: usize = memory.data(64);

export function in_ptr(): usize { return IN; }
export function out_ptr(): usize { return OUT; }

const CRC_TABLE: usize = memory.data(256 * 4);
let crcReady = false;

function crcInit(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
    store<u32>(CRC_TABLE + (<usize>n << 2), c);
  }
  crcReady = true;
}

/** CRC-32 of in[0..len), continuing from `crc` (0 to start). */
export function crc32(len: i32, crc: u32): u32 {
  if (!crcReady) crcInit();
  let c = ~crc;
  for (let i = 0; i < len; i++) {
    const b = load<u8>(IN + i);
    c = load<u32>(CRC_TABLE + (<usize>((c ^ b) & 0xff) << 2)) ^ (c >>> 8);
  }
  return ~c;
}

/** Adler-32 of in[0..len), continuing from `adler` (1 to start). */
export function adler32(len: i32, adler: u32): u32 {
  let a = adler & 0xffff, b = adler >>> 16;
  let i = 0;
  while (i < len) {
    const end = min(len, i + 5552); // the longest run before the sums can overflow
    for (; i < end; i++) {
      a += load<u8>(IN + i);
      b += a;
    }
    a %= 65521;
    b %= 65521;
  }
  return (b << 16) | a;
}

function rotl32(x: u32, n: u32): u32 { return (x << n) | (x >>> (32 - n)); }

function sha1Block(h: StaticArray<u32>, w: StaticArray<u32>, p: usize): void {
  for (let i = 0; i < 16; i++) w[i] = bswap<u32>(load<u32>(p + (<usize>i << 2)));
  for (let i = 16; i < 80; i++) w[i] = rotl32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (let i = 0; i < 80; i++) {
    let f: u32, k: u32;
    if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999; }
    else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1; }
    else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC; }
    else { f = b ^ c ^ d; k = 0xCA62C1D6; }
    const t = rotl32(a, 5) + f + e + k + w[i];
    e = d; d = c; c = rotl32(b, 30); b = a; a = t;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

/** SHA-1 of in[0..len) into out[0..20). */
export function sha1(len: i32): void {
  const h = new StaticArray<u32>(5);
  h[0] = 0x67452301; h[1] = 0xEFCDAB89; h[2] = 0x98BADCFE; h[3] = 0x10325476; h[4] = 0xC3D2E1F0;
  const w = new StaticArray<u32>(80);
  let at = 0;
  for (; at + 64 <= len; at += 64) sha1Block(h, w, IN + at);
  const tail = new StaticArray<u8>(128);
  const rest = len - at;
  for (let i = 0; i < rest; i++) tail[i] = load<u8>(IN + at + i);
  tail[rest] = 0x80;
  const total = rest < 56 ? 64 : 128;
  const bits = <u64>len << 3;
  for (let i = 0; i < 8; i++) tail[total - 1 - i] = <u8>(bits >>> (<u64>i << 3));
  const tp = changetype<usize>(tail);
  for (let off = 0; off < total; off += 64) sha1Block(h, w, tp + off);
  for (let i = 0; i < 5; i++) store<u32>(OUT + (<usize>i << 2), bswap<u32>(h[i]));
}

/** MurmurHash3 x86_32 of in[0..len). */
export function murmur3(len: i32, seed: u32): u32 {
  const c1: u32 = 0xcc9e2d51, c2: u32 = 0x1b873593;
  let h = seed;
  const blocks = len >> 2;
  for (let i = 0; i < blocks; i++) {
    let k = load<u32>(IN + (<usize>i << 2));
    k *= c1; k = rotl32(k, 15); k *= c2;
    h ^= k; h = rotl32(h, 13); h = h * 5 + 0xe6546b64;
  }
  let k: u32 = 0;
  const tail = IN + (<usize>blocks << 2);
  switch (len & 3) {
    case 3: k ^= <u32>load<u8>(tail + 2) << 16;
    case 2: k ^= <u32>load<u8>(tail + 1) << 8;
    case 1:
      k ^= load<u8>(tail);
      k *= c1; k = rotl32(k, 15); k *= c2; h ^= k;
  }
  h ^= <u32>len;
  h ^= h >>> 16; h *= 0x85ebca6b;
  h ^= h >>> 13; h *= 0xc2b2ae35;
  h ^= h >>> 16;
  return h;
}

/** FNV-1a 64 of in[0..len). */
export function fnv1a64(len: i32): u64 {
  let h: u64 = 0xcbf29ce484222325;
  for (let i = 0; i < len; i++) {
    h ^= load<u8>(IN + i);
    h *= 0x100000001b3;
  }
  return h;
}
