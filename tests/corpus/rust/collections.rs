//! std collections on real work: word counts in a HashMap (with a fixed,
//! deterministic hasher) and a BTreeMap, sorting (stable and unstable, by
//! key), dedup, a BinaryHeap top-k, a VecDeque rotation and an ordered-map
//! workload. Inputs come from `in_ptr()`, results go to `out_ptr()`/`out_len()`.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::BuildHasherDefault;
use std::fmt::Write;

mod io;

type FixedState = BuildHasherDefault<DefaultHasher>;

/// Counts the words of the UTF-8 text (split on whitespace, lower-cased) and
/// writes "word count\n" lines, most frequent first, ties in word order.
/// Returns the number of distinct words, or -1 if the text is not UTF-8.
#[no_mangle]
pub extern "C" fn word_freq(len: usize) -> i32 {
    let text = match std::str::from_utf8(io::input(len)) {
        Ok(t) => t,
        Err(_) => return -1,
    };
    let mut counts: HashMap<String, u32, FixedState> = HashMap::default();
    for word in text.split_whitespace() {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    let mut rows: Vec<(&String, &u32)> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let mut out = String::new();
    for (word, count) in &rows {
        writeln!(out, "{} {}", word, count).unwrap();
    }
    io::set_output(out.into_bytes());
    counts.len() as i32
}

/// The same count kept in a BTreeMap: "word count\n" lines in word order.
#[no_mangle]
pub extern "C" fn word_freq_btree(len: usize) -> i32 {
    let text = match std::str::from_utf8(io::input(len)) {
        Ok(t) => t,
        Err(_) => return -1,
    };
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_lowercase()).or_default() += 1;
    }
    let mut out = String::new();
    for (word, count) in &counts {
        writeln!(out, "{} {}", word, count).unwrap();
    }
    io::set_output(out.into_bytes());
    counts.len() as i32
}

/// Sorts n i64 values: mode 0 stable sort, 1 unstable sort, 2 by descending
/// absolute value then ascending value (sort_by_key), 3 sort then dedup.
/// Writes the result and returns its length.
#[no_mangle]
pub extern "C" fn sort_i64(n: usize, mode: u32) -> usize {
    let mut v = io::input_i64s(n);
    match mode {
        0 => v.sort(),
        1 => v.sort_unstable(),
        2 => v.sort_by_key(|&x| (std::cmp::Reverse(x.unsigned_abs()), x)),
        _ => {
            v.sort_unstable();
            v.dedup();
        }
    }
    io::output_i64s(&v);
    v.len()
}

/// Sorts (key, index) pairs by key only with the stable sort: equal keys keep
/// their input order. Keys are the n i64 inputs taken modulo m; the output is
/// the indices in sorted order.
#[no_mangle]
pub extern "C" fn stable_order(n: usize, m: i64) -> usize {
    let mut pairs: Vec<(i64, i64)> =
        io::input_i64s(n).into_iter().enumerate().map(|(i, x)| (x.rem_euclid(m), i as i64)).collect();
    pairs.sort_by_key(|p| p.0);
    let order: Vec<i64> = pairs.iter().map(|p| p.1).collect();
    io::output_i64s(&order);
    order.len()
}

/// The k largest of n i64 values, largest first, through a BinaryHeap.
#[no_mangle]
pub extern "C" fn top_k(n: usize, k: usize) -> usize {
    let mut heap: BinaryHeap<i64> = io::input_i64s(n).into_iter().collect();
    let mut top = Vec::new();
    while top.len() < k {
        match heap.pop() {
            Some(x) => top.push(x),
            None => break,
        }
    }
    io::output_i64s(&top);
    top.len()
}

/// Rotates the n values left by r in a VecDeque (pop_front/push_back r times,
/// then rotate_right(r / 2) once) and writes them.
#[no_mangle]
pub extern "C" fn deque_rotate(n: usize, r: usize) -> usize {
    let mut d: VecDeque<i64> = io::input_i64s(n).into_iter().collect();
    for _ in 0..r {
        if let Some(x) = d.pop_front() {
            d.push_back(x);
        }
    }
    if !d.is_empty() {
        let half = (r / 2) % d.len();
        d.rotate_right(half);
    }
    let v: Vec<i64> = d.into_iter().collect();
    io::output_i64s(&v);
    v.len()
}

/// An ordered-map workload: n (op, key, value) triples of i64. op 0 inserts,
/// 1 removes, 2 adds the sum of values with keys in [key, value) to a running
/// total. Returns the total (wrapping) xor the final map's (key * 31 + value)
/// sum; writes the final keys in order.
#[no_mangle]
pub extern "C" fn btree_ops(n: usize) -> i64 {
    let words = io::input_i64s(3 * n);
    let mut map: BTreeMap<i64, i64> = BTreeMap::new();
    let mut total: i64 = 0;
    for t in words.chunks_exact(3) {
        let (op, key, value) = (t[0], t[1], t[2]);
        match op.rem_euclid(3) {
            0 => {
                map.insert(key, value);
            }
            1 => {
                map.remove(&key);
            }
            _ => {
                if key < value {
                    for (_, v) in map.range(key..value) {
                        total = total.wrapping_add(*v);
                    }
                }
            }
        }
    }
    let mut mix: i64 = 0;
    for (k, v) in &map {
        mix = mix.wrapping_add(k.wrapping_mul(31).wrapping_add(*v));
    }
    let keys: Vec<i64> = map.keys().copied().collect();
    io::output_i64s(&keys);
    total ^ mix
}

/// Set algebra on two lists of i64 (n values, then m values): writes the
/// sorted union, intersection and symmetric difference (BTreeSet), each
/// preceded by its length; returns the size of the HashSet of all values.
#[no_mangle]
pub extern "C" fn set_ops(n: usize, m: usize) -> usize {
    let all = io::input_i64s(n + m);
    let a: BTreeSet<i64> = all[..n].iter().copied().collect();
    let b: BTreeSet<i64> = all[n..].iter().copied().collect();
    let mut out = Vec::new();
    for part in [
        a.union(&b).copied().collect::<Vec<_>>(),
        a.intersection(&b).copied().collect(),
        a.symmetric_difference(&b).copied().collect(),
    ] {
        out.push(part.len() as i64);
        out.extend(part);
    }
    io::output_i64s(&out);
    let h: HashSet<i64, FixedState> = all.iter().copied().collect();
    h.len()
}

/// Allocates `mib` MiB as one zeroed Vec<u64> (the allocator grows the linear
/// memory for it), writes every 4096th element and sums them back. Returns
/// the memory's size in pages after the allocation, shifted left by 32,
/// or'ed with the low 32 bits of the sum.
#[no_mangle]
pub extern "C" fn big_alloc(mib: usize) -> u64 {
    let n = mib << 17;
    let mut v = vec![0u64; n];
    for i in (0..n).step_by(4096) {
        v[i] = i as u64 * 3 + 1;
    }
    let sum: u64 = v.iter().step_by(4096).sum();
    let pages = core::arch::wasm32::memory_size(0) as u64;
    pages << 32 | (sum & 0xffff_ffff)
}
