//! u128 and i128 arithmetic as Rust lowers it to wasm32 (compiler-builtins'
//! __multi3, __udivti3, __divti3, ...): wrapping and checked operations,
//! division and remainder of both signs, bit counts and rotations, decimal
//! conversion, modular multiplication and exponentiation, Fibonacci numbers
//! modulo a 128-bit modulus, Miller-Rabin on u64 and an integer square root.
//! 128-bit arguments are passed as (high, low) u64 pairs; 128-bit results
//! are written to `out_ptr()` as little-endian (low, high) u64 pairs.

mod io;

fn u128_of(hi: u64, lo: u64) -> u128 {
    (hi as u128) << 64 | lo as u128
}

fn put(values: &[u128]) -> usize {
    io::set_output(values.iter().flat_map(|v| v.to_le_bytes()).collect());
    values.len()
}

/// Unsigned a op b for every operator: wrapping add, sub, mul, then div, rem
/// (b != 0, else u128::MAX twice), shl and shr by b % 128, rotate_left by
/// b % 128, and checked_mul / checked_add (0 when they overflow), and a * b
/// as a 256-bit product (low, high) computed with 64-bit halves.
#[no_mangle]
pub extern "C" fn u128_ops(a_hi: u64, a_lo: u64, b_hi: u64, b_lo: u64) -> usize {
    let (a, b) = (u128_of(a_hi, a_lo), u128_of(b_hi, b_lo));
    let s = (b % 128) as u32;
    let (q, r) = if b != 0 { (a / b, a % b) } else { (u128::MAX, u128::MAX) };
    let (lo, hi) = mul_wide(a, b);
    put(&[
        a.wrapping_add(b),
        a.wrapping_sub(b),
        a.wrapping_mul(b),
        q,
        r,
        a << s,
        a >> s,
        a.rotate_left(s),
        a.checked_mul(b).unwrap_or(0),
        a.checked_add(b).unwrap_or(0),
        lo,
        hi,
    ])
}

/// The full 256-bit product of two u128s from four 64x64 -> 128 products.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let (a0, a1) = (a as u64 as u128, a >> 64);
    let (b0, b1) = (b as u64 as u128, b >> 64);
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    let (mid, carry1) = p01.overflowing_add(p10);
    let (lo, carry2) = p00.overflowing_add(mid << 64);
    let hi = p11 + (mid >> 64) + ((carry1 as u128) << 64) + carry2 as u128;
    (lo, hi)
}

/// Signed a op b: wrapping add, sub, mul, div and rem (b != 0 and not
/// MIN / -1, else 0 twice), div_euclid and rem_euclid (same guard), shr
/// (arithmetic) by b % 128, abs, signum of a * b (as i128), min, max.
#[no_mangle]
pub extern "C" fn i128_ops(a_hi: u64, a_lo: u64, b_hi: u64, b_lo: u64) -> usize {
    let (a, b) = (u128_of(a_hi, a_lo) as i128, u128_of(b_hi, b_lo) as i128);
    let ok = b != 0 && !(a == i128::MIN && b == -1);
    let (q, r, qe, re) = if ok { (a / b, a % b, a.div_euclid(b), a.rem_euclid(b)) } else { (0, 0, 0, 0) };
    let v = [
        a.wrapping_add(b),
        a.wrapping_sub(b),
        a.wrapping_mul(b),
        q,
        r,
        qe,
        re,
        a >> (b.rem_euclid(128) as u32),
        a.wrapping_abs(),
        a.signum() * b.signum(),
        a.min(b),
        a.max(b),
    ];
    put(&v.map(|x| x as u128))
}

/// leading_zeros, trailing_zeros, count_ones, and the low 64 bits of
/// reverse_bits and swap_bytes, packed as five u64 values.
#[no_mangle]
pub extern "C" fn u128_bits(hi: u64, lo: u64) -> usize {
    let a = u128_of(hi, lo);
    let packed = [
        a.leading_zeros() as u128 | (a.trailing_zeros() as u128) << 32 | (a.count_ones() as u128) << 64,
        a.reverse_bits(),
        a.swap_bytes(),
    ];
    put(&packed)
}

/// The decimal and hexadecimal text of a u128 and of the same bits as an i128.
#[no_mangle]
pub extern "C" fn u128_to_string(hi: u64, lo: u64) -> usize {
    let a = u128_of(hi, lo);
    let s = format!("{} {:x} {}", a, a, a as i128);
    let n = s.len();
    io::set_output(s.into_bytes());
    n
}

/// Parses the input as a decimal u128; writes it (or nothing) and returns 1
/// on success, 0 on failure.
#[no_mangle]
pub extern "C" fn u128_parse(len: usize) -> u32 {
    match std::str::from_utf8(io::input(len)).ok().and_then(|s| s.parse::<u128>().ok()) {
        Some(v) => {
            put(&[v]);
            1
        }
        None => 0,
    }
}

/// (a * b) mod m for u64 values through a u128 product.
#[no_mangle]
pub extern "C" fn mul_mod(a: u64, b: u64, m: u64) -> u64 {
    ((a as u128 * b as u128) % m as u128) as u64
}

/// base^exp mod m for u64 values through u128 products.
#[no_mangle]
pub extern "C" fn pow_mod(base: u64, mut exp: u64, m: u64) -> u64 {
    let m = m as u128;
    let mut result: u128 = 1 % m;
    let mut b = base as u128 % m;
    while exp > 0 {
        if exp & 1 == 1 {
            result = result * b % m;
        }
        b = b * b % m;
        exp >>= 1;
    }
    result as u64
}

/// (a + b) mod m for u128 values below m, without overflow.
fn add_mod(a: u128, b: u128, m: u128) -> u128 {
    let (s, over) = a.overflowing_add(b);
    if over || s >= m {
        s.wrapping_sub(m)
    } else {
        s
    }
}

/// (a * b) mod m for u128 values below m, by doubling and adding.
fn mul_mod128(mut a: u128, mut b: u128, m: u128) -> u128 {
    let mut result = 0;
    while b > 0 {
        if b & 1 == 1 {
            result = add_mod(result, a, m);
        }
        a = add_mod(a, a, m);
        b >>= 1;
    }
    result
}

/// F(n) mod m, iterating n additions of u128 values.
#[no_mangle]
pub extern "C" fn fib_mod_iter(n: u32, m_hi: u64, m_lo: u64) -> usize {
    let m = u128_of(m_hi, m_lo);
    let (mut a, mut b) = (0u128, 1u128 % m);
    for _ in 0..n {
        let next = add_mod(a, b, m);
        a = b;
        b = next;
    }
    put(&[a])
}

/// F(n) mod m by fast doubling: F(2k) = F(k) (2 F(k+1) - F(k)),
/// F(2k+1) = F(k)^2 + F(k+1)^2, with 128-bit modular products.
#[no_mangle]
pub extern "C" fn fib_mod_fast(n: u64, m_hi: u64, m_lo: u64) -> usize {
    let m = u128_of(m_hi, m_lo);
    let (mut f, mut g) = (0u128, 1u128 % m); // F(k), F(k+1) for k = the bits of n seen so far
    for bit in (0..64).rev() {
        let two_g = add_mod(g, g, m);
        let f2 = mul_mod128(f, add_mod(two_g, m - f, m), m);
        let g2 = add_mod(mul_mod128(f, f, m), mul_mod128(g, g, m), m);
        if n >> bit & 1 == 1 {
            f = g2;
            g = add_mod(f2, g2, m);
        } else {
            f = f2;
            g = g2;
        }
    }
    put(&[f])
}

/// Deterministic Miller-Rabin for u64 (the first twelve primes as bases).
#[no_mangle]
pub extern "C" fn is_prime(n: u64) -> u32 {
    if n < 2 {
        return 0;
    }
    const BASES: [u64; 12] = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    for p in BASES {
        if n % p == 0 {
            return (n == p) as u32;
        }
    }
    let s = (n - 1).trailing_zeros();
    let d = (n - 1) >> s;
    'bases: for a in BASES {
        let mut x = pow_mod(a, d, n);
        if x == 1 || x == n - 1 {
            continue;
        }
        for _ in 1..s {
            x = mul_mod(x, x, n);
            if x == n - 1 {
                continue 'bases;
            }
        }
        return 0;
    }
    1
}

/// floor(sqrt(a)) for a u128, by Newton's method.
#[no_mangle]
pub extern "C" fn isqrt(hi: u64, lo: u64) -> usize {
    let a = u128_of(hi, lo);
    if a < 2 {
        return put(&[a]);
    }
    let mut x = 1u128 << ((128 - a.leading_zeros() + 1) / 2);
    loop {
        let y = (x + a / x) / 2;
        if y >= x {
            return put(&[x]);
        }
        x = y;
    }
}

/// The factorial of n as a u128 (wrapping), and the largest n whose factorial
/// fits (checked_mul), as two results.
#[no_mangle]
pub extern "C" fn factorial(n: u32) -> usize {
    let mut wrapped: u128 = 1;
    let mut fits: u128 = 0;
    let mut exact: Option<u128> = Some(1);
    for k in 1..=n as u128 {
        wrapped = wrapped.wrapping_mul(k);
        exact = exact.and_then(|f| f.checked_mul(k));
        if exact.is_some() {
            fits = k;
        }
    }
    put(&[wrapped, fits])
}
