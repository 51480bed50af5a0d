// Integer and floating-point arithmetic in AssemblyScript: 64-bit signed
// and unsigned division, bit counts and rotations, saturating float to
// integer conversions, a prime sieve, Collatz lengths, gcd, integer square
// root, modular exponentiation without 128-bit products, and float
// rounding, min/max and copysign. Results are returned, or written as i64s
// at out_ptr().

const OUT: usize = memory.data(8 * 64);
export function out_ptr(): usize { return OUT; }

function put(i: i32, v: i64): void { store<i64>(OUT + (<usize>i << 3), v); }

/** Signed and unsigned quotient and remainder, shifts and bit counts of a and b. */
export function int_ops(a: i64, b: i64): i32 {
  let n = 0;
  put(n++, b != 0 && !(a == i64.MIN_VALUE && b == -1) ? a / b : 0);
  put(n++, b != 0 && !(a == i64.MIN_VALUE && b == -1) ? a % b : 0);
  put(n++, b != 0 ? <i64>(<u64>a / <u64>b) : 0);
  put(n++, b != 0 ? <i64>(<u64>a % <u64>b) : 0);
  put(n++, a << (b & 63));
  put(n++, a >> (b & 63));
  put(n++, <i64>(<u64>a >>> (b & 63)));
  put(n++, rotl<i64>(a, b));
  put(n++, rotr<i64>(a, b));
  put(n++, clz<i64>(a));
  put(n++, ctz<i64>(a));
  put(n++, popcnt<i64>(a));
  put(n++, a * b);
  put(n++, <i64>(<i32>a * <i32>b));           // 32-bit wrapping product
  put(n++, <i64>(<u32>a) * <i64>(<u32>b));   // 32x32 -> 64 unsigned product
  put(n++, <i64>(<i8>a) + <i64>(<i16>b));     // sign extensions
  put(n++, <i64>(<u8>a) + <i64>(<u16>b));
  put(n++, <i64>(<u32>(a >>> 32)) + <i64>(<u32>b)); // zero extension inside a sum
  put(n++, a < b ? 1 : 0);
  put(n++, <u64>a < <u64>b ? 1 : 0);
  return n;
}

/** Saturating conversions of x to i32, u32, i64, u64 (as i64 bit patterns). */
export function convert(x: f64): i32 {
  put(0, <i64><i32>x); // with nontrapping-f2i (on by default) a cast saturates
  put(1, <i64><u32>x);
  put(2, <i64>x);
  put(3, <i64><u64>x);
  put(4, <i64><i32><f32>x);
  put(5, <i64>reinterpret<u32>(<f32>x));
  return 6;
}

/** Rounding and related functions of x and y, as f64 bit patterns. */
export function float_ops(x: f64, y: f64): i32 {
  const r: f64[] = [
    Math.floor(x), Math.ceil(x), Math.trunc(x), nearest<f64>(x), Math.sqrt(x), Math.abs(x),
    min<f64>(x, y), max<f64>(x, y), copysign<f64>(x, y), x + y, x - y, x * y, x / y,
    Math.fround(x), <f64>(<f32>x * <f32>y), <f64>(<f32>x / <f32>y), Math.sign(x),
  ];
  for (let i = 0; i < r.length; i++) put(i, reinterpret<i64>(r[i]));
  return r.length;
}

/** The number of primes below n, and their sum (a sieve of Eratosthenes). */
export function primes(n: i32): i64 {
  if (n < 3) return 0;
  const sieve = new Uint8Array(n);
  let count: i64 = 0, sum: i64 = 0;
  for (let i = 2; i < n; i++) {
    if (sieve[i]) continue;
    count++;
    sum += i;
    for (let j = <i64>i * i; j < n; j += i) sieve[<i32>j] = 1;
  }
  return (count << 40) | sum;
}

/** The start below n with the longest Collatz sequence, and its length. */
export function collatz(n: i32): i64 {
  let best = 0, bestLen = 0;
  for (let s = 1; s < n; s++) {
    let x = <u64>s, len = 1;
    while (x != 1) {
      x = x & 1 ? 3 * x + 1 : x >> 1;
      len++;
    }
    if (len > bestLen) { best = s; bestLen = len; }
  }
  return (<i64>best << 32) | bestLen;
}

export function gcd(a: u64, b: u64): u64 {
  while (b) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** floor(sqrt(n)) for a u64, bit by bit. */
export function isqrt(n: u64): u64 {
  let root: u64 = 0;
  let bit: u64 = <u64>1 << 62;
  while (bit > n) bit >>= 2;
  while (bit) {
    if (n >= root + bit) {
      n -= root + bit;
      root = (root >> 1) + bit;
    } else {
      root >>= 1;
    }
    bit >>= 2;
  }
  return root;
}

/** (a + b) mod m without overflow, for a, b < m. */
function addmod(a: u64, b: u64, m: u64): u64 {
  return a >= m - b ? a - (m - b) : a + b;
}

/** (a * b) mod m by doubling and adding (no 128-bit product). */
function mulmod(a: u64, b: u64, m: u64): u64 {
  let r: u64 = 0;
  a %= m;
  while (b) {
    if (b & 1) r = addmod(r, a, m);
    a = addmod(a, a, m);
    b >>= 1;
  }
  return r;
}

export function powmod(base: u64, exp: u64, m: u64): u64 {
  let r: u64 = 1 % m;
  base %= m;
  while (exp) {
    if (exp & 1) r = mulmod(r, base, m);
    base = mulmod(base, base, m);
    exp >>= 1;
  }
  return r;
}
