//! Text handling with std: integer and float formatting (format!), float and
//! integer parsing, char escapes (escape_debug, escape_default,
//! escape_unicode), case mapping, UTF-8 and UTF-16 encoding and lossy
//! decoding. Inputs come from `in_ptr()`, results go to `out_ptr()`/`out_len()`.

mod io;

fn output(s: String) -> usize {
    let n = s.len();
    io::set_output(s.into_bytes());
    n
}

fn input_str(len: usize) -> Option<&'static str> {
    std::str::from_utf8(io::input(len)).ok()
}

/// One line of integer formats for a (signed) and b (unsigned).
#[no_mangle]
pub extern "C" fn fmt_ints(a: i64, b: u64) -> usize {
    output(format!(
        "{a}|{a:+}|{a:>12}|{a:<12}|{a:^12}|{a:012}|{b}|{b:x}|{b:X}|{b:#x}|{b:o}|{b:#o}|{b:b}|{b:#b}|{b:#018x}|{a:e}|{b:E}|{c:?}|{d}",
        a = a,
        b = b,
        c = (a as i32, b as u16, a as i8),
        d = (a as i128) * (b as i128),
    ))
}

/// Float formats of x given by its bits: Display, Debug, {:.3}, {:e}, {:E},
/// {:12.4}, {:<+10.1}, {:.0}, and the same for x as f32.
#[no_mangle]
pub extern "C" fn fmt_f64(bits: u64) -> usize {
    let x = f64::from_bits(bits);
    let y = x as f32;
    output(format!(
        "{x}|{x:?}|{x:.3}|{x:e}|{x:E}|{x:12.4}|{x:<+10.1}|{x:.0}|{y}|{y:?}|{y:e}",
        x = x,
        y = y
    ))
}

/// Parses the input as an f64 with str::parse; returns its bits, or the
/// quiet NaN pattern 0x7ff8_dead_0000_0000 (a payload Rust never produces)
/// when the text is not a float.
#[no_mangle]
pub extern "C" fn parse_f64(len: usize) -> u64 {
    match input_str(len).map(str::parse::<f64>) {
        Some(Ok(x)) => x.to_bits(),
        _ => 0x7ff8_dead_0000_0000,
    }
}

/// Parses the input as an f32; the bits in the low word, or 0xdead_0000_0000
/// when the text is not a float.
#[no_mangle]
pub extern "C" fn parse_f32(len: usize) -> u64 {
    match input_str(len).map(str::parse::<f32>) {
        Some(Ok(x)) => x.to_bits() as u64,
        _ => 0xdead_0000_0000,
    }
}

/// Parses the input as an i128 in the given radix and writes it back in
/// decimal, or writes "error: <reason>".
#[no_mangle]
pub extern "C" fn parse_i128(len: usize, radix: u32) -> usize {
    let s = input_str(len).unwrap_or("\u{fffd}");
    output(match i128::from_str_radix(s, radix) {
        Ok(v) => format!("{}", v),
        Err(e) => format!("error: {:?}", e.kind()),
    })
}

/// char::escape_debug of every char of the input, concatenated.
#[no_mangle]
pub extern "C" fn escape_debug_chars(len: usize) -> isize {
    match input_str(len) {
        Some(s) => output(s.chars().flat_map(char::escape_debug).collect()) as isize,
        None => -1,
    }
}

/// str::escape_debug of the input (grapheme extenders escaped only at the start).
#[no_mangle]
pub extern "C" fn escape_debug_str(len: usize) -> isize {
    match input_str(len) {
        Some(s) => output(s.escape_debug().to_string()) as isize,
        None => -1,
    }
}

/// str::escape_default of the input.
#[no_mangle]
pub extern "C" fn escape_default(len: usize) -> isize {
    match input_str(len) {
        Some(s) => output(s.escape_default().to_string()) as isize,
        None => -1,
    }
}

/// str::escape_unicode of the input.
#[no_mangle]
pub extern "C" fn escape_unicode(len: usize) -> isize {
    match input_str(len) {
        Some(s) => output(s.escape_unicode().to_string()) as isize,
        None => -1,
    }
}

/// The Debug form of the input string ("..." with escape_debug inside).
#[no_mangle]
pub extern "C" fn debug_str(len: usize) -> isize {
    match input_str(len) {
        Some(s) => output(format!("{:?}", s)) as isize,
        None => -1,
    }
}

/// mode 0: str::to_uppercase, 1: str::to_lowercase, 2: the chars reversed,
/// 3: ASCII upper-case only.
#[no_mangle]
pub extern "C" fn case_map(len: usize, mode: u32) -> isize {
    let s = match input_str(len) {
        Some(s) => s,
        None => return -1,
    };
    output(match mode {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        2 => s.chars().rev().collect(),
        _ => s.to_ascii_uppercase(),
    }) as isize
}

/// String::from_utf8_lossy of the input bytes.
#[no_mangle]
pub extern "C" fn utf8_lossy(len: usize) -> usize {
    output(String::from_utf8_lossy(io::input(len)).into_owned())
}

/// For each code point in [lo, hi) that is a char: its UTF-8 bytes (through
/// char::encode_utf8), and a checksum of its UTF-16 units. Returns the
/// number of chars; writes the UTF-8 bytes.
#[no_mangle]
pub extern "C" fn encode_range(lo: u32, hi: u32) -> u64 {
    let mut bytes = Vec::new();
    let mut count: u64 = 0;
    let mut sum16: u64 = 0;
    let mut buf8 = [0u8; 4];
    let mut buf16 = [0u16; 2];
    for c in (lo..hi).filter_map(char::from_u32) {
        bytes.extend_from_slice(c.encode_utf8(&mut buf8).as_bytes());
        for (i, unit) in c.encode_utf16(&mut buf16).iter().enumerate() {
            sum16 = sum16.wrapping_mul(31).wrapping_add(*unit as u64 + i as u64);
        }
        count += 1;
    }
    io::set_output(bytes);
    count << 32 ^ (sum16 & 0xffff_ffff)
}

/// Decodes the input as UTF-8 and returns (number of chars) << 32 | (number
/// of UTF-16 units), or -1 if it is not UTF-8. Writes the code points as
/// little-endian u32s.
#[no_mangle]
pub extern "C" fn decode_utf8(len: usize) -> i64 {
    let s = match input_str(len) {
        Some(s) => s,
        None => return -1,
    };
    let points: Vec<u8> = s.chars().flat_map(|c| (c as u32).to_le_bytes()).collect();
    io::set_output(points);
    ((s.chars().count() as i64) << 32) | s.encode_utf16().count() as i64
}

/// char::to_digit and char::from_digit over every ASCII char for the radix:
/// writes "c=d" for each digit char and then the from_digit chars.
#[no_mangle]
pub extern "C" fn digits(radix: u32) -> usize {
    let mut s = String::new();
    for c in (0u8..128).map(char::from) {
        if let Some(d) = c.to_digit(radix) {
            s.push(c);
            s.push('=');
            s.push_str(&d.to_string());
            s.push(' ');
        }
    }
    for d in 0..radix {
        s.push(char::from_digit(d, radix).unwrap_or('?'));
    }
    output(s)
}
