// AssemblyScript's own standard library on the stub runtime (which never
// frees): Array.sort with a comparator (through the function table) and
// the default comparators, Map and Set, string building, splitting and
// replacing, number to string and back. Strings are passed in as UTF-16 at
// in_ptr() and returned as the address of an AssemblyScript string (its
// byte length is the u32 just before it).

const IN: usize = memory.data(65536);
export function in_ptr(): usize { return IN; }

function inputString(units: i32): string {
  return String.UTF16.decodeUnsafe(IN, <usize>units << 1);
}

function inputI32s(n: i32): i32[] {
  const a = new Array<i32>(n);
  for (let i = 0; i < n; i++) a[i] = load<i32>(IN + (<usize>i << 2));
  return a;
}

function ret(s: string): usize { return changetype<usize>(s); }

/** Sorts n i32s: mode 0 ascending (default comparator), 1 descending by a
 *  closure-free comparator, 2 by absolute value then value; joined with ','. */
export function sort_i32(n: i32, mode: i32): usize {
  const a = inputI32s(n);
  if (mode == 0) a.sort();
  else if (mode == 1) a.sort((x: i32, y: i32): i32 => (y > x ? 1 : 0) - (y < x ? 1 : 0));
  else a.sort((x: i32, y: i32): i32 => {
    const ax = abs(<i64>x), ay = abs(<i64>y);
    if (ax != ay) return ax < ay ? -1 : 1;
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return ret(a.join(","));
}

/** Sorts n f64s (read from the input as bit patterns) with the default comparator. */
export function sort_f64(n: i32): usize {
  const a = new Array<f64>(n);
  for (let i = 0; i < n; i++) a[i] = load<f64>(IN + (<usize>i << 3));
  a.sort();
  for (let i = 0; i < n; i++) store<f64>(IN + (<usize>i << 3), a[i]);
  return 0;
}

/** Counts each value of n i32s in a Map; returns "value:count" pairs in
 *  ascending value order, and the Set's size first. */
export function count_values(n: i32): usize {
  const a = inputI32s(n);
  const counts = new Map<i32, i32>();
  const seen = new Set<i32>();
  for (let i = 0; i < n; i++) {
    const v = a[i];
    counts.set(v, counts.has(v) ? counts.get(v) + 1 : 1);
    seen.add(v);
  }
  const keys = counts.keys();
  keys.sort();
  let out = seen.size.toString();
  for (let i = 0; i < keys.length; i++) out += " " + keys[i].toString() + ":" + counts.get(keys[i]).toString();
  return ret(out);
}

/** Splits the input string on `sep` (one UTF-16 unit), reverses the parts,
 *  upper-cases ASCII letters, joins with "|" and replaces every "AB" with "-". */
export function words(units: i32, sep: i32): usize {
  const parts = inputString(units).split(String.fromCharCode(sep));
  parts.reverse();
  let s = parts.join("|");
  let up = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    up += String.fromCharCode(c >= 97 && c <= 122 ? c - 32 : c);
  }
  return ret(up.replaceAll("AB", "-"));
}

/** The string of an f64 (AssemblyScript's dtoa), for a round-trip check. */
export function f64_to_string(x: f64): usize { return ret(x.toString()); }

/** The string of an i64 in the given radix. */
export function i64_to_string(x: i64, radix: i32): usize { return ret(x.toString(radix)); }

/** i64.parse of the input string in the given radix (AssemblyScript's parseInt rules). */
export function parse_i64(units: i32, radix: i32): i64 { return I64.parseInt(inputString(units), radix); }

/** "ab" repeated n times, then the whole string reversed by halves: the stub
 *  runtime grows the memory for strings of a few MiB. */
export function big_string(n: i32): usize {
  const s = "ab".repeat(n);
  return ret(s.substring(n) + s.substring(0, n));
}
