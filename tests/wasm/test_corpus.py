"""Real-world programs built by toolchains we did not write, on both engine variants.

``tests/corpus`` holds C (clang at -O0, -O2, -O3, -Oz, and -O2 with
post-MVP features), Rust (rustc with std, no crates) and AssemblyScript
(asc, stub runtime) programs with their sources, build scripts and built
modules (see its README). Every expected value is computed here, independently of the
engine and of the program: hashlib, zlib, json, re, Python's big integers,
known test vectors, or the plain-Python implementations in
``tests/corpus/reference.py``. A test runs one program's exports on one
module and one variant (unmetered, or metered with a generous gas limit)
over several inputs, and reports every input that went wrong (a wrong
result or a trap), not only the first.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import re
import struct
import zlib
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import wasmpool.wasm as wasm
from tests.corpus import reference as ref
from wasmpool.wasm.module import Module

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
GAS_LIMIT = 10**13
VARIANTS = {"unmetered": None, "metered": GAS_LIMIT}
C_LEVELS = ("O0", "O2", "O3", "Oz", "O2-ext")
M32, M64, M128 = (1 << 32) - 1, (1 << 64) - 1, (1 << 128) - 1

# ---------------------------------------------------------------- harness


@functools.cache
def _module(relpath: str) -> Module:
    """Decoded once per session."""
    return wasm.decode((CORPUS / relpath).read_bytes())


@functools.cache
def _compiled(relpath: str, metered: bool) -> wasm.CompiledModule:
    """Each variant compiled once per session; every instance shares its code."""
    return wasm.compile(_module(relpath), metered=metered)


class Program:
    """One instance of a corpus module, with the conventions the programs share.

    Every program exports ``memory`` and ``in_ptr()``, where the test writes
    its input. C and AssemblyScript programs leave results at ``out_ptr()``;
    Rust programs at ``out_ptr()`` for ``out_len()`` bytes.
    """

    def __init__(self, relpath: str, gas_limit: int | None) -> None:
        self.instance = wasm.instantiate(_compiled(relpath, gas_limit is not None), {}, gas_limit=gas_limit)
        self.exports = self.instance.exports
        self.memory = self.exports["memory"]

    def __getattr__(self, export: str) -> Any:
        return self.exports[export]

    def write(self, data: bytes) -> None:
        self.memory.write(self.exports["in_ptr"](), data)

    def read(self, size: int, at: int = 0) -> bytes:
        return self.memory.read((self.exports["out_ptr"]() & M32) + at, size)

    def output(self) -> bytes:
        return self.memory.read(self.exports["out_ptr"]() & M32, self.exports["out_len"]())

    def out(self, export: str, *args: Any, size: int) -> bytes:
        """Calls a C or AssemblyScript export, then reads its result bytes."""
        self.exports[export](*args)
        return self.read(size)

    def out_i64s(self, export: str, *args: Any) -> list[int]:
        """Calls an export that returns how many i64s it left at out_ptr(), and reads them."""
        count = self.exports[export](*args)
        return [ref.wrap(int.from_bytes(self.read(8, 8 * i), "little"), 64) for i in range(count)]

    def rust(self, export: str, *args: Any) -> bytes:
        """Calls a Rust export, then reads its output bytes."""
        self.exports[export](*args)
        return self.output()

    def text(self, export: str, *args: Any) -> str:
        return self.rust(export, *args).decode()

    def as_string(self, export: str, *args: Any) -> str:
        """Calls an AssemblyScript export returning a string: UTF-16, byte length in the u32 before it."""
        address = self.exports[export](*args) & M32
        size = int.from_bytes(self.memory.read(address - 4, 4), "little")
        return self.memory.read(address, size).decode("utf-16-le", "surrogatepass")


class Checks:
    """Collects every mismatch or trap of a test, then fails once, listing them all."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def __call__(self, label: str, expected: Any, call: Callable[..., Any], *args: Any, **kw: Any) -> None:
        try:
            got = call(*args, **kw)
        except Exception as exc:  # a trap, or an error of the engine itself: both are findings
            self.failures.append(f"{label}: {type(exc).__name__}: {exc} (expected {_show(expected)})")
            return
        if got != expected:
            self.failures.append(f"{label}: expected {_show(expected)}, got {_show(got)}")

    def done(self, program: Program) -> None:
        assert not self.failures, f"{len(self.failures)} failing case(s):\n" + "\n".join(self.failures[:60])
        if program.instance.gas_limit is not None:
            assert 0 < program.instance.gas_used <= GAS_LIMIT


def _show(value: Any) -> str:
    if isinstance(value, bytes | bytearray) and len(value) > 64:
        return f"{value[:48].hex()}... ({len(value)} bytes)"
    if isinstance(value, bytes | bytearray):
        return value.hex() or "b''"
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + "..."


@pytest.fixture()
def check() -> Checks:
    return Checks()


@pytest.fixture(params=list(VARIANTS))
def gas_limit(request: pytest.FixtureRequest) -> int | None:
    return VARIANTS[request.param]


def c_program(name: str, levels: tuple[str, ...] = C_LEVELS) -> pytest.MarkDecorator:
    """Parametrizes a test over the builds of one C program."""
    return pytest.mark.parametrize("path", [f"c/{name}.{level}.wasm" for level in levels],
                                   ids=[f"{name}-{level}" for level in levels])


def u64(value: int) -> int:
    return value & M64


def s64(value: int) -> int:
    return ref.wrap(value, 64)


def sample(n: int, seed: int = 1) -> bytes:
    """Deterministic bytes that do not compress."""
    return random.Random(seed).randbytes(n)


def i64_bytes(values: list[int]) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


def i64_list(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 8}q", data))


def f64_bits(x: float) -> int:
    """The bits of an f64; every NaN as the canonical one (wasm leaves a NaN's sign and payload open)."""
    return 0x7FF8000000000000 if math.isnan(x) else struct.unpack("<Q", struct.pack("<d", x))[0]


def f32_of(x: float) -> float:
    """x rounded to an f32 (as f32.demote_f64 does), as a Python float."""
    return ref.f32_round(x) if math.isfinite(x) else x


# ================================================================ the oracles themselves

# XXH3-64 (seed 0) of bytes(i % 251 for i in range(n)), from the reference implementation's tests
XXH3_VECTORS = {
    0: 0x2D06800538D394C2, 1: 0xC44BDFF4074EECDB, 2: 0xD6645FC3051A9457, 3: 0x5F4299FC161C9CBB,
    4: 0x60DAB036A58211F2, 5: 0xB075753A84CA0FBE, 6: 0xA6584D1D9A6AE704, 7: 0x0CD2084A62406B69,
    8: 0x3A1C2D7C85AF88F8, 9: 0xE9612598145BB9DC, 10: 0xAB69A08EF83D8F77, 11: 0x1CF396AA4DE6198D,
    12: 0x5ACE6A511C10894B, 13: 0xB7A5D8A8309A2CB9, 14: 0x4CF45C944A9A2237, 15: 0x55ECEDC2B87BB042,
    16: 0x8355E3A6F61770DB, 17: 0x9EF341A99DE37328, 18: 0xF6912490D4C0EED5, 19: 0x60E726143CF50312,
    31: 0x4F36DB8E4DF378FD, 32: 0x3523581FE96E4C05, 33: 0xE68C56BA88991E58, 126: 0x6C2A9EB7459CDC61,
    127: 0x120B9787F8425F2F, 128: 0x85C6174C7FF4C46B, 129: 0xEC7642B431BA3E5A, 130: 0x4D3224B100908A87,
    131: 0xE57F7EA6741FE3A0, 238: 0x30449A0B4899DEE9, 239: 0x972B14E3C46F214B, 240: 0x375A384D957FE865,
    241: 0x02E8CD95421C6D02, 242: 0xDDCB33C494051832, 243: 0x8835F9529193E3DC, 244: 0xBC17C91EC3CF8D7F,
}
MURMUR3_VECTORS = [(b"", 0, 0), (b"", 1, 0x514E28B7), (b"", M32, 0x81F16F39), (b"\0\0\0\0", 0, 0x2362F9DE),
                   (b"aaaa", 0x9747B28C, 0x5A97808A), (b"Hello, world!", 0x9747B28C, 0x24884CBA),
                   (b"The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD)]


def test_the_python_oracles_reproduce_published_vectors() -> None:
    """reference.py's implementations against published test vectors (no engine involved)."""
    for n, digest in XXH3_VECTORS.items():
        assert ref.xxh3_64(bytes(i % 251 for i in range(n))) == digest, n
    assert (ref.xxh32(b""), ref.xxh64(b"")) == (0x02CC5D05, 0xEF46DB3751D8E999)
    assert (ref.xxh32(b"abc"), ref.xxh64(b"abc")) == (0x32D153FF, 0x44BC2CF5AD770999)
    for data, seed, digest in MURMUR3_VECTORS:
        assert ref.murmur3_32(data, seed) == digest
    assert [ref.fnv1a_64(d) for d in (b"", b"a", b"foobar")] == [0xCBF29CE484222325, 0xAF63DC4C8601EC8C,
                                                                  0x85944171F73967E8]
    for scalar, u, expected in RFC7748_VECTORS:
        assert ref.x25519(bytes.fromhex(scalar), bytes.fromhex(u)).hex() == expected
    assert ref.x25519(bytes.fromhex(RFC7748_ALICE[0]), (9).to_bytes(32, "little")).hex() == RFC7748_ALICE[1]
    data = b"".join(bytes([i % 7]) * (i % 300) for i in range(60))
    assert ref.lz4_decode(ref.lz4_encode_rle(data)) == data


# ================================================================ C (clang)

HASH_LENGTHS = [0, 1, 3, 55, 56, 63, 64, 65, 111, 112, 119, 127, 128, 129, 255, 256, 1000]


@c_program("sha2")
def test_c_sha2(path: str, gas_limit: int | None, check: Checks) -> None:
    p = Program(path, gas_limit)
    data = sample(1000)
    p.write(data)
    for n in HASH_LENGTHS:
        check(f"sha256(len={n})", hashlib.sha256(data[:n]).digest(), p.out, "sha256", n, size=32)
        check(f"sha512(len={n})", hashlib.sha512(data[:n]).digest(), p.out, "sha512", n, size=64)
    for n, chunk in [(130, 1), (300, 7), (300, 63), (300, 64), (1000, 129), (1000, 600)]:
        check(f"sha256_chunked(len={n}, chunk={chunk})", hashlib.sha256(data[:n]).digest(),
              p.out, "sha256_chunked", n, chunk, size=32)
        check(f"sha512_chunked(len={n}, chunk={chunk})", hashlib.sha512(data[:n]).digest(),
              p.out, "sha512_chunked", n, chunk, size=64)
    check.done(p)


@c_program("blake2")
def test_c_blake2(path: str, gas_limit: int | None, check: Checks) -> None:
    p = Program(path, gas_limit)
    data = sample(1000, seed=2)
    cases = [(n, b"", 32) for n in (0, 1, 63, 64, 65, 127, 128, 129, 1000)]
    cases += [(3, b"k", 32), (64, bytes(range(32)), 32), (100, b"key", 16), (0, b"\xff" * 32, 1)]
    cases += [(200, b"", 20)]
    for n, key, size in cases:
        p.write(key + data[:n])
        expected = hashlib.blake2s(data[:n], key=key, digest_size=size).digest()
        check(f"blake2s(len={n}, keylen={len(key)}, outlen={size})", expected,
              p.out, "blake2s", len(key), n, size, size=size)
        key2, size2 = key * 2, 2 * size  # BLAKE2b takes keys and digests twice as long
        p.write(key2 + data[:n])
        expected = hashlib.blake2b(data[:n], key=key2, digest_size=size2).digest()
        check(f"blake2b(len={n}, keylen={len(key2)}, outlen={size2})", expected,
              p.out, "blake2b", len(key2), n, size2, size=size2)
    check.done(p)


XXH_LENGTHS = [*range(17), 31, 32, 33, 64, 65, 96, 97, 127, 128, 129, 200, 239, 240, 241, 255, 256,
               1023, 1024, 1025, 2048, 3000]
XXH_SEEDS = [0, 0x9E3779B97F4A7C15]
U64_PAIR = struct.Struct("<QQ")


@c_program("xxhash")
def test_c_xxhash(path: str, gas_limit: int | None, check: Checks) -> None:
    p = Program(path, gas_limit)
    data = bytes(i % 251 for i in range(3000))  # the pattern of the reference implementation's test vectors
    p.write(data)
    for n in XXH_LENGTHS:
        for seed in XXH_SEEDS:
            msg, s32, args = data[:n], seed & M32, f"len={n}, seed={seed:#x}"
            check(f"xxh3_64({args})", ref.xxh3_64(msg, seed), lambda n=n, s=seed: u64(p.xxh3_64(n, s)))
            check(f"xxh64({args})", ref.xxh64(msg, seed), lambda n=n, s=seed: u64(p.xxh64(n, s)))
            check(f"xxh32(len={n}, seed={s32:#x})", ref.xxh32(msg, s32),
                  lambda n=n, s=s32: p.xxh32(n, s) & M32)
    multi_value = len(p.exports["mult64to128"].type.results) == 2
    for a, b in [(0, 0), (M64, M64), (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F), (1 << 63, 2), (M32, M32 + 2)]:
        expected = (a * b & M64, a * b >> 64)
        label = f"mult64to128({a:#x}, {b:#x})"
        if multi_value:  # the O2-ext build returns the struct as two i64 results
            check(label, expected, lambda a=a, b=b: tuple(map(u64, p.mult64to128(a, b))))
        else:  # the MVP ABI returns it through a pointer passed first
            via_pointer = functools.partial(p.out, "mult64to128", p.out_ptr(), size=16)
            check(label, expected, lambda a=a, b=b, f=via_pointer: U64_PAIR.unpack(f(a, b)))
    check.done(p)


# -- LZ4


def lz4_inputs() -> dict[str, bytes]:
    text = b"It was the best of times, it was the worst of times, it was the age of wisdom. " * 40
    return {
        "empty": b"", "one byte": b"x", "12 bytes": b"abcdabcdabcd", "13 bytes": b"abcdabcdabcda",
        "text": text, "random": sample(3000, seed=3), "zeros": bytes(5000),
        "runs": b"".join(bytes([i % 7]) * (i % 300) for i in range(60)),
        "long literals": sample(300, seed=4) + b"A" * 400 + sample(20, seed=5),
        "far match": sample(1000, seed=6) + sample(1000, seed=6)[:500],
    }


@c_program("lz4")
def test_c_lz4_compress(path: str, gas_limit: int | None, check: Checks) -> None:
    """Each compressed block decodes, by a Python decoder of the block format, to the input."""
    p = Program(path, gas_limit)
    for name, data in lz4_inputs().items():
        p.write(data)
        n = len(data)
        check(f"decode(lz4_compress({name}))", data, lambda n=n: ref.lz4_decode(p.read(p.lz4_compress(n))))
        check(f"lz4_roundtrip({name}) succeeds", True, lambda n=n: p.lz4_roundtrip(n) >= 0)
    check.done(p)


@c_program("lz4")
def test_c_lz4_decompress(path: str, gas_limit: int | None, check: Checks) -> None:
    """Blocks made by another encoder (overlapping matches at offset 1) decode; broken ones are refused."""
    p = Program(path, gas_limit)
    for name, data in lz4_inputs().items():
        block = ref.lz4_encode_rle(data)
        p.write(block)
        check(f"lz4_decompress(a run-length block of {name})", data,
              p.out, "lz4_decompress", len(block), 1 << 17, size=len(data))
    broken = {"offset 0": b"\x14abc\x00\x00", "offset before the start": b"\x14abc\x09\x00",
              "literals past the end": b"\xf0\x10abc", "truncated offset": b"\x14abcd\x01"}
    for name, block in broken.items():
        p.write(block)
        check(f"lz4_decompress({name})", -1, p.lz4_decompress, len(block), 1 << 17)
    check.done(p)


# -- JSON

JSON_VALID = [
    "0", "-0.0", "1.5", "-0.25", "1e+100", "1e-07", "123456789012345678901234567890", "true", "false", "null",
    '""', '"plain text"', '"esc \\" \\\\ \\/ \\b \\f \\n \\r \\t end"',
    '"\\u0041\\u00e9\\u4e2d\\ud83d\\ude00 \\ud800 \\udc00x \\ud800\\u0041"',
    '"raw UTF-8: é 中 😀 \x7f"', '"\\u001f\\u0000"', "[]", "{}", "[[]]", " \t\r\n[ 1 , 2 ,3 ] \n",
    '{"a": [1, 2, {"b": null}], "c": {"d": [[], {}]}, "e": "x", "f": -3.14, "g": true}',
    "[" * 64 + "]" * 64,
]
JSON_INVALID = [
    "", " ", "01", "1.", ".5", "-", "+1", "1e", "1e+", "--1", "[1,]", '{"a":1,}', '{"a"}', "{1:2}", "[1 2]",
    '"unterminated', '"bad \\x escape"', '"ctrl \x01 char"', "tru", "nul", "[", "]", '{"a":1}}', '"\\u12g4"',
    "[1]x", '"\\ud800\\u12"',
]
JSON_INVALID_UTF8 = [b'"\xff"', b'"\xc0\xaf"', b'"\xf4\x90\x80\x80"', b'"\xe2\x82"']
# Not JSON (RFC 8259), but Python's json takes them: NaN and infinities, and (it decodes bytes with
# "surrogatepass") a surrogate encoded in UTF-8, which is not UTF-8; deeper than the program's limit (64).
JSON_REFUSED_BY_THE_PROGRAM_ONLY = [b"NaN", b"-Infinity", b"[Infinity]", b'"\xed\xa0\x80"',
                                    b"[" * 65 + b"]" * 65]


def json_big() -> str:
    rng = random.Random(7)
    rows = [{"id": i, "name": "".join(rng.choice('abcé中 "\\\n') for _ in range(rng.randrange(12))),
             "score": rng.randrange(-10**12, 10**12),
             "tags": [rng.randrange(100) for _ in range(rng.randrange(4))],
             "ok": rng.random() < 0.5, "none": None} for i in range(60)]
    return json.dumps({"rows": rows}, indent=2, ensure_ascii=False)


def json_stats(value: Any, depth: int = 0) -> tuple[int, int]:
    """(number of values, deepest container nesting) of a parsed document."""
    if not isinstance(value, dict | list):
        return 1, depth
    members = value.values() if isinstance(value, dict) else value
    children = [json_stats(child, depth + 1) for child in members]
    return 1 + sum(c[0] for c in children), max([depth + 1, *(c[1] for c in children)])


@c_program("json")
def test_c_json(path: str, gas_limit: int | None, check: Checks) -> None:
    p = Program(path, gas_limit)
    for doc in [*JSON_VALID, json_big()]:
        raw = doc.encode()
        value = json.loads(raw)
        label = repr(doc) if len(doc) < 60 else f"{doc[:40]!r}... ({len(raw)} bytes)"
        p.write(raw)
        n = len(raw)
        compact = json.dumps(value, separators=(",", ":")).encode()
        check(f"json_compact({label})", compact, lambda n=n: p.read(max(p.json_compact(n), 0)))
        count, depth = json_stats(value)
        check(f"json_stats({label})", depth << 32 | count, p.json_stats, n)
    for raw in [doc.encode() for doc in JSON_INVALID] + JSON_INVALID_UTF8:
        with pytest.raises(ValueError):
            json.loads(raw)
    for raw in [doc.encode() for doc in JSON_INVALID] + JSON_INVALID_UTF8 + JSON_REFUSED_BY_THE_PROGRAM_ONLY:
        p.write(raw)
        n = len(raw)
        check(f"json_compact({raw!r}) refuses it", True, lambda n=n: p.json_compact(n) < 0)
        check(f"json_stats({raw!r}) refuses it", -1, p.json_stats, n)
    check.done(p)


# -- regular expressions

REGEX_SEARCH = [
    (rb"abc", rb"xxabcxx"), (rb"^abc", rb"abcabc"), (rb"^abc", rb"xabc"), (rb"c$", b"abc\n"),
    (rb"c$", b"abc\nd"), (rb"a*b", rb"caaab"), (rb"colou?r", rb"the color and colour"),
    (rb"[0-9]+", rb"abc 12345 def"), (rb"\d+\.\d*", rb"pi is 3.14159!"), (rb"[^a-z ]+", rb"hello WORLD 42"),
    (rb"\w+@\w+\.com", rb"mail bob@example.com now"), (rb"a.c", b"a\nc abc"), (rb"x*", rb"aaa"),
    (rb"[]a]+", rb"xx]a]ay"), (rb"[a-]+", rb"b-a-c"), (rb"\s+", b"a \t\n b"), (rb"a*a*a*a*b", b"a" * 12),
    (rb"a*a*a*a*b", b"a" * 12 + b"b"), (rb"\.\*\+\?\[\\", rb"x.*+?[\y .*+?[\\ z"),
    (rb"[\d\s]+", rb"ab 1 2 3cd"),
    (rb"\D+", rb"123abc456"), (rb"\W", rb"abc_def-ghi"), (rb"\S+$", rb"trailing word"), (rb".*", rb""),
    (rb"$", rb"abc"), (rb"^$", rb""), (rb"b+$", b"abbb\n"), (rb"[A-Fa-f0-9]+", rb"0x1F2e3D!"),
    (rb"q", rb"no match here"), (rb"h.*o", rb"hello world foo"), (b"[^\n]+", b"\n\nline\n"),
]
REGEX_COUNT = [(rb"[aeiou]", b"the quick brown fox jumps over the lazy dog " * 5),
               (rb"\d+", rb"1 22 333 a4444"), (rb"ab*", rb"abbbaabab"), (rb"\w+", rb"one, two; three...")]
REGEX_BAD = [rb"*a", rb"a**", rb"[abc", b"abc\\", rb"[z-a]", rb"+"]


@c_program("regex")
def test_c_regex(path: str, gas_limit: int | None, check: Checks) -> None:
    p = Program(path, gas_limit)

    def search(pattern: bytes, text: bytes) -> tuple[int, int] | int | None:
        p.write(pattern + text)
        start = p.re_search(len(pattern), len(text))
        if start < 0:
            return None if start == -1 else start
        return start, int.from_bytes(p.read(4), "little")

    for pattern, text in REGEX_SEARCH:
        m = re.search(pattern, text)
        check(f"re_search({pattern!r}, {text!r})", m and m.span(), search, pattern, text)
    for pattern, text in REGEX_COUNT:
        p.write(pattern + text)
        expected = len(re.findall(pattern, text))
        check(f"re_count({pattern!r}, {text!r})", expected, p.re_count, len(pattern), len(text))
    for pattern in REGEX_BAD:
        with pytest.raises(re.error):
            re.compile(pattern)
        check(f"re_search({pattern!r}) refuses the pattern", -2, search, pattern, b"abc")
    check.done(p)


# -- Forth


def printed(*values: int) -> str:
    """What Forth's '.' prints for each value."""
    return "".join(f"{v} " for v in values)


def collatz_longest(limit: int) -> tuple[int, int]:
    """(steps, start) of the first start below limit with the most steps."""
    start = max(range(1, limit), key=lambda n: (ref.collatz_steps(n), -n))
    return ref.collatz_steps(start), start


FORTH_PROGRAMS: dict[str, tuple[str, str]] = {
    "fibonacci": (": fib dup 0= if exit then 0 1 rot 0 do over + swap loop drop ;"
                  " 0 fib . 1 fib . 2 fib . 10 fib . 50 fib . 92 fib .",
                  printed(*(ref.fib(n) for n in (0, 1, 2, 10, 50, 92)))),
    "factorials that wrap": (": fact dup 1 > if dup 1- recurse * then ;"
                             " 5 fact . 20 fact . 21 fact . 25 fact .",
                             printed(*(s64(math.factorial(n)) for n in (5, 20, 21, 25)))),
    "gcd and lcm": (": gcd begin dup while tuck mod repeat drop ; : lcm 2dup gcd >r * r> / ;"
                    " 1071 462 gcd . 17 5 gcd . 0 9 gcd . 123456789012 9876543210 gcd . 4 6 lcm . 21 6 lcm .",
                    printed(math.gcd(1071, 462), 1, 9, math.gcd(123456789012, 9876543210), 12, 42)),
    "sieve": ("create flags 100 allot : sieve 100 2 do flags i + @ 0= if i . i dup * begin dup 100 < while"
              " dup flags + 1 swap ! i + repeat drop then loop ; sieve", printed(*ref.primes_below(100))),
    "collatz": (": steps 0 swap begin dup 1 <> while dup 1 and if 3 * 1+ else 2/ then"
                " swap 1+ swap repeat drop ;"
                " : longest 0 0 rot 1 do i steps 2dup < if nip nip i swap else drop then loop ;"
                " 30 longest . . 27 steps .", printed(*collatz_longest(30), ref.collatz_steps(27))),
    "division": ("-7 2 / . -7 2 mod . 7 -2 /mod . . -9223372036854775808 -1 / . -9223372036854775808 -1 mod ."
                 " 9223372036854775807 10 /mod . .",
                 printed(*ref.trunc_divmod(-7, 2), *ref.trunc_divmod(7, -2), s64(2**63), 0,
                         *ref.trunc_divmod(2**63 - 1, 10))),
    "loops": (": t1 10 0 do i . 3 +loop ; : t2 0 10 do i . -3 +loop ;"
              " : t3 3 0 do 2 0 do i j * j + . loop loop ;"
              " : t4 5 0 do i 3 = if unloop exit then i . loop ; t1 t2 t3 t4",
              printed(0, 3, 6, 9, 10, 7, 4, 1, *(i * j + j for j in range(3) for i in range(2)), 0, 1, 2)),
    "bits": ("$ff $0f and . $f0 $0f or . 6 3 xor . 1 63 lshift . -1 1 rshift . 5 invert . -1 0 u< ."
             " 1 -1 u< . -8 2/ . 3 2* . -5 abs . 3 -4 min . 3 -4 max . 7 negate . -1 0< . 0 0= . 5 0> ."
             " 3 3 = . 3 4 <> .",
             printed(15, 255, 5, s64(1 << 63), (1 << 63) - 1, -6, 0, -1, -4, 6, 5, -4, 3, -7, *[-1] * 5)),
    "stack": ("1 2 3 rot . . . 1 2 3 -rot . . . 1 2 swap over . . . 1 2 nip . 1 2 tuck . . . 0 ?dup ."
              " 5 ?dup . . 1 2 3 4 2swap . . . . 10 20 30 2 pick . . . . 1 2 2dup . . . . 1 2 2drop 3 .",
              printed(1, 3, 2, 2, 1, 3, 2, 1, 2, 2, 2, 1, 2, 0, 5, 5, 2, 1, 4, 3, 10, 30, 20, 10,
                      2, 1, 2, 1, 3)),
    "memory and output": ("variable x 5 x ! 3 x +! x @ . create arr 10 cells allot 42 arr 3 + ! arr 3 + @ ."
                          " 72 emit 105 emit cr 1 . space 2 . 100 constant hundred hundred hundred * ."
                          " : r-test >r 1 r@ + r> + ; 10 r-test ."
                          " ( a comment ) \\ to the end of the line\n 9 .",
                          "8 42 Hi\n1  2 10000 21 9 "),
}
FORTH_ERRORS = {"unknown word": ("1 2 frob", -1), "stack underflow": ("1 +", -2),
                "stack overflow": (": f 1 recurse ; f", -3), "division by zero": ("1 0 /", -4),
                "bad address": ("99999 @", -5), "if outside a word": ("1 if", -6),
                "unclosed definition": (": f 1", -6), "step limit": (": f begin again ; f", -7)}
# opcode numbers of forth.c's enum op
FORTH_OPCODES = {"lit": 1, "call": 2, "do": 5, "loop": 6, "i": 8, "+": 10, "dup": 38, "drop": 39}


@c_program("forth")
def test_c_forth(path: str, gas_limit: int | None, check: Checks) -> None:
    p = Program(path, gas_limit)

    def run(source: str, max_steps: int = 1_000_000) -> str | int:
        p.write(source.encode())
        n = p.forth_run(len(source), max_steps)
        return p.read(n).decode() if n >= 0 else n

    for name, (source, expected) in FORTH_PROGRAMS.items():
        check(f"forth: {name}", expected, run, source)
    for name, (source, code) in FORTH_ERRORS.items():
        check(f"forth error: {name}", code, run, source, 10_000)

    def profile() -> tuple[str | int, int, list[int], int]:
        output = run(": t 100 0 do i dup + drop loop ; t")
        counts = [p.forth_profile(opcode) for opcode in FORTH_OPCODES.values()]
        return output, p.forth_steps(), counts, p.forth_depth()

    # the VM counts each opcode after the switch that dispatched on it
    check("forth profile", ("", 2 + 1 + 100 * 5 + 1, [2, 0, 1, 100, 100, 100, 100, 100], 0), profile)
    check.done(p)


# -- floating point and function pointers


@functools.cache
def nbody(steps: int) -> list[float]:
    """The n-body simulation, operation for operation as numeric.c writes it."""
    pi, days = 3.141592653589793, 365.24
    solar = 4 * pi * pi
    planets = [
        (4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01, 1.66007664274403694e-03,
         7.69901118419740425e-03, -6.90460016972063023e-05, 9.54791938424326609e-04),
        (8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01, -2.76742510726862411e-03,
         4.99852801234917238e-03, 2.30417297573763929e-05, 2.85885980666130812e-04),
        (1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01, 2.96460137564761618e-03,
         2.37847173959480950e-03, -2.96589568540237556e-05, 4.36624404335156298e-05),
        (1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01, 2.68067772490389322e-03,
         1.62824170038242295e-03, -9.51592254519715870e-05, 5.15138902046611451e-05),
    ]
    bodies = [[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, solar]]
    bodies += [[x, y, z, vx * days, vy * days, vz * days, m * solar] for x, y, z, vx, vy, vz, m in planets]
    for axis in (3, 4, 5):
        momentum = 0.0
        for b in bodies:
            momentum += b[axis] * b[6]
        bodies[0][axis] = -momentum / solar

    def energy() -> float:
        e = 0.0
        for i, b in enumerate(bodies):
            e += 0.5 * b[6] * (b[3] * b[3] + b[4] * b[4] + b[5] * b[5])
            for c in bodies[i + 1:]:
                dx, dy, dz = b[0] - c[0], b[1] - c[1], b[2] - c[2]
                e -= b[6] * c[6] / math.sqrt(dx * dx + dy * dy + dz * dz)
        return e

    before = energy()
    for _ in range(steps):
        for i, b in enumerate(bodies):
            for c in bodies[i + 1:]:
                d = [b[0] - c[0], b[1] - c[1], b[2] - c[2]]
                d2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
                mag = 0.01 / (d2 * math.sqrt(d2))
                for k in range(3):
                    b[3 + k] -= d[k] * c[6] * mag
                for k in range(3):
                    c[3 + k] += d[k] * b[6] * mag
        for b in bodies:
            for k in range(3):
                b[k] += 0.01 * b[3 + k]
    return [before, energy(), *(b[k] for b in bodies for k in range(3))]


@functools.cache
def mandel(n: int, iters: int) -> int:
    """numeric.c's escape counts, every operation rounded to f32."""
    total = hashed = 0
    for py in range(n):
        row = 0
        ci = f32_of(-1.5 + f32_of(f32_of(3.0 * py) / n))
        for px in range(n):
            cr = f32_of(-2.0 + f32_of(f32_of(3.0 * px) / n))
            zr = zi = 0.0
            k = 0
            while k < iters and f32_of(f32_of(zr * zr) + f32_of(zi * zi)) <= 4.0:
                t = f32_of(f32_of(f32_of(zr * zr) - f32_of(zi * zi)) + cr)
                zi = f32_of(f32_of(2.0 * zr * zi) + ci)
                zr = t
                k += 1
            row += k
        total += row
        hashed = (hashed * 31 + row) & M64
    return s64(total << 32 ^ hashed)


def convert_expected(x: float) -> list[int]:
    """numeric.c's convert(x): C casts (truncating) of an in-range x, and conversions back."""
    t, a = math.trunc(x), math.trunc(abs(x))
    f = f32_of(x)
    back = float(t) + float(a) + f32_of(float(ref.wrap(t, 32)))
    bits = [struct.unpack("<q", struct.pack("<d", v))[0] for v in (back, f)]
    return [ref.wrap(t, 32), a & M32, t, s64(a), ref.wrap(t, 8), t & 0xFFFF,
            ref.wrap(struct.unpack("<I", struct.pack("<f", f))[0], 32), *bits]


@c_program("numeric")
def test_c_floating_point(path: str, gas_limit: int | None, check: Checks) -> None:
    p = Program(path, gas_limit)
    for steps in (0, 1, 50):
        check(f"nbody({steps})", [f64_bits(v) for v in nbody(steps)],
              lambda n=steps: [f64_bits(v) for v in struct.unpack("<17d", p.out("nbody", n, size=17 * 8))])
    for n, iters in ((1, 10), (16, 30)):
        check(f"mandel({n}, {iters})", mandel(n, iters), p.mandel, n, iters)
    for x in (0.0, -0.0, 1.9, -1.9, 2.5, -2.5, 127.99, -128.5, 65535.7, 2147483647.9, -2147483648.9,
              16777217.0, 0.1, 1e-300):
        check(f"convert({x!r})", convert_expected(x),
              lambda x=x: list(struct.unpack("<9q", p.out("convert", x, size=72))))
    for x in (0.0, -1.5, 4294967295.5, 1e15 + 0.5, -9.2e18, 9.2e18, 2.0**63 - 1024, 12345678912345.678):
        t, twice = math.trunc(x), math.trunc(abs(x) + abs(x))
        expected = [t, s64(twice), f64_bits(float(t)), f64_bits(float(twice | 1))]
        check(f"convert_wide({x!r})", [s64(v) for v in expected],
              lambda x=x: list(struct.unpack("<4q", p.out("convert_wide", x, size=32))))
    coefficients = [3, -1, 4, -1, 5, -9, 2, -6, 5, 3, -5]
    p.write(i64_bytes(coefficients))
    for x in (0.0, 1.0, -1.5, 0.1, 3.0, 1e10):
        expected = 0.0
        for c in reversed(coefficients):
            expected = expected * x + c
        check(f"horner({x!r})", f64_bits(expected), lambda x=x: f64_bits(p.horner(len(coefficients), x)))
    check.done(p)


def record(i: int, rng: random.Random) -> bytes:
    """sort.c's 32-byte record: i32 key, u64 key, 8-byte name, f64 key."""
    name = "".join(rng.choice("abc") for _ in range(rng.randrange(1, 4))).encode().ljust(8, b"\0")
    return struct.pack("<i4xQ8sd", rng.randrange(-50, 50), rng.choice([0, M64, rng.getrandbits(64), i]), name,
                       rng.choice([0.0, -0.0, 1.5, -1e300, rng.random()]))


def record_key(key: int) -> Callable[[bytes], Any]:
    def by(rec: bytes) -> Any:
        i, u, name, f = struct.unpack("<i4xQ8sd", rec)
        return [i, -u, (name, i), f][key]
    return by


@functools.cache
def c_sorts(records: tuple[bytes, ...], key: int, algorithm: int) -> tuple[list[bytes], int]:
    """sort.c's quicksort or merge sort, comparison for comparison: (order, comparisons)."""
    by = record_key(key)
    count = 0

    def cmp(a: bytes, b: bytes) -> int:
        nonlocal count
        count += 1
        x, y = by(a), by(b)
        return (x > y) - (x < y)

    def quicksort(v: list[bytes], lo: int, n: int) -> None:
        while n > 1:
            if n < 8:
                for i in range(1, n):
                    j = i
                    while j > 0 and cmp(v[lo + j - 1], v[lo + j]) > 0:
                        v[lo + j - 1], v[lo + j] = v[lo + j], v[lo + j - 1]
                        j -= 1
                return
            v[lo], v[lo + n // 2] = v[lo + n // 2], v[lo]
            last = 0
            for i in range(1, n):
                if cmp(v[lo + i], v[lo]) < 0:
                    last += 1
                    v[lo + last], v[lo + i] = v[lo + i], v[lo + last]
            v[lo], v[lo + last] = v[lo + last], v[lo]
            if last < n - last - 1:
                quicksort(v, lo, last)
                lo, n = lo + last + 1, n - last - 1
            else:
                quicksort(v, lo + last + 1, n - last - 1)
                n = last

    def mergesort(v: list[bytes]) -> list[bytes]:
        if len(v) < 2:
            return v
        left, right = mergesort(v[:len(v) // 2]), mergesort(v[len(v) // 2:])
        merged, i, j = [], 0, 0
        while i < len(left) and j < len(right):
            if cmp(right[j], left[i]) < 0:
                merged.append(right[j])
                j += 1
            else:
                merged.append(left[i])
                i += 1
        return merged + left[i:] + right[j:]

    order = list(records)
    if algorithm == 0:
        quicksort(order, 0, len(order))
    else:
        order = mergesort(order)
    assert [by(r) for r in order] == sorted(by(r) for r in records)
    return order, count


@c_program("sort")
def test_c_sort_with_function_pointers(path: str, gas_limit: int | None, check: Checks) -> None:
    p = Program(path, gas_limit)
    rng = random.Random(31)
    for n in (0, 1, 7, 8, 100):
        records = tuple(record(i, rng) for i in range(n))
        for key in range(4):
            for algorithm, name in enumerate(("quicksort", "merge sort")):
                order, count = c_sorts(records, key, algorithm)
                p.write(b"".join(records))

                def run(n: int = n, key: int = key, algorithm: int = algorithm) -> tuple[int, bytes]:
                    comparisons = p.sort_records(n, 32, key, algorithm)
                    return comparisons, p.memory.read(p.in_ptr(), 32 * n)

                check(f"{name}({n} records, key {key})", (count, b"".join(order)), run)
    check.done(p)


# -- curve25519

RFC7748_VECTORS = [
    ("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
     "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
     "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
    ("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
     "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
     "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"),
]
RFC7748_ALICE = ("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
                 "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")


def field_pairs() -> list[tuple[int, int]]:
    """Field elements as 256-bit integers: limb and modulus edges, and random ones."""
    p = ref.P25519
    rng = random.Random(25519)
    edge = [0, 1, 2, 19, p - 1, p, p + 1, 2**255 - 1, 2**256 - 1, 2**254, 2**51 - 1, 2**51, 2**26, 2**25 - 1,
            121665]
    pairs = [*zip(edge, edge[::-1], strict=True), *((a, a) for a in edge[4:9])]
    return pairs + [(rng.getrandbits(256), rng.getrandbits(256)) for _ in range(8)]


def fe_product(a: int, b: int) -> bytes:
    mask = (1 << 255) - 1  # bit 255 of an encoded element is ignored
    return ref.fe_encode((a & mask) * (b & mask))


@c_program("x25519")
def test_c_field_arithmetic(path: str, gas_limit: int | None, check: Checks) -> None:
    """Multiplication and inversion modulo 2^255 - 19 on ten 26/25-bit limbs, against Python's integers."""
    p = Program(path, gas_limit)
    for a, b in field_pairs():
        p.write(a.to_bytes(32, "little") + b.to_bytes(32, "little"))
        check(f"fe_mul({a:#x}, {b:#x})", fe_product(a, b), p.out, "fe_mul_bytes", size=32)
    for a in (2**255 - 20,):  # p - 1, its own inverse; an inversion is ~500 multiplications
        p.write(a.to_bytes(32, "little"))
        inverse = ref.fe_encode(pow(a, ref.P25519 - 2, ref.P25519))
        check(f"fe_invert({a:#x})", inverse, p.out, "fe_invert_bytes", size=32)
    check.done(p)


@c_program("x25519", ("O2", "Oz"))
def test_c_x25519(path: str, gas_limit: int | None, check: Checks) -> None:
    """X25519 (RFC 7748 test vectors): a whole Montgomery ladder, the slowest call of the corpus."""
    p = Program(path, gas_limit)
    scalar, u, expected = RFC7748_VECTORS[0 if ".O2." in path else 1]
    p.write(bytes.fromhex(scalar) + bytes.fromhex(u))
    check(f"x25519({scalar[:8]}..., {u[:8]}...)", bytes.fromhex(expected), p.out, "x25519", size=32)
    if ".O2." in path:
        p.write(bytes.fromhex(RFC7748_ALICE[0]))
        check("x25519_base(Alice's key)", bytes.fromhex(RFC7748_ALICE[1]), p.out, "x25519_base", size=32)
    check.done(p)


# ================================================================ Rust (rustc, std)


@pytest.fixture()
def collections(gas_limit: int | None) -> Program:
    return Program("rust/collections.wasm", gas_limit)


@pytest.fixture()
def text(gas_limit: int | None) -> Program:
    return Program("rust/text.wasm", gas_limit)


@pytest.fixture()
def int128(gas_limit: int | None) -> Program:
    return Program("rust/int128.wasm", gas_limit)


@pytest.fixture()
def crypto(gas_limit: int | None) -> Program:
    return Program("rust/crypto.wasm", gas_limit)


WORDS = ("the quick brown fox jumps over the lazy dog The DOG barks; été Été ÉTÉ straße STRASSE"
         " ΣΊΣΥΦΟΣ σίσυφος 日本 日本 a a a b\tb\nb  c ")


def test_rust_word_counts(collections: Program, check: Checks) -> None:
    p = collections
    for words in ["", "one", WORDS, WORDS * 7]:
        raw = words.encode()
        counts = Counter(word.lower() for word in words.split())
        by_count = "".join(f"{w} {c}\n" for w, c in sorted(counts.items(), key=lambda wc: (-wc[1], wc[0])))
        by_word = "".join(f"{w} {c}\n" for w, c in sorted(counts.items()))
        p.write(raw)
        n = len(raw)
        check(f"word_freq(len={n})", (len(counts), by_count),
              lambda n=n: (p.word_freq(n), p.output().decode()))
        check(f"word_freq_btree(len={n})", (len(counts), by_word),
              lambda n=n: (p.word_freq_btree(n), p.output().decode()))
    p.write(b"bad \xff utf-8")
    check("word_freq(invalid UTF-8)", -1, p.word_freq, 12)
    check.done(p)


def int_lists() -> dict[str, list[int]]:
    rng = random.Random(11)
    return {
        "empty": [], "one": [5], "sorted": list(range(50)), "reversed": list(range(50, 0, -1)),
        "small range": [rng.randrange(-20, 20) for _ in range(300)],
        "wide": [rng.randrange(-(2**63), 2**63) for _ in range(700)],
        "extremes": [2**63 - 1, -(2**63), 0, -1, 1, -(2**63), 2**63 - 1] * 5,
    }


def rotated(values: list[int], r: int) -> list[int]:
    """The deque_rotate result: left by r, then right by r // 2."""
    n = len(values)
    if not n:
        return []
    left = values[r % n:] + values[:r % n]
    right = (r // 2) % n
    return left[n - right:] + left[:n - right]


def test_rust_sorting(collections: Program, check: Checks) -> None:
    p = collections
    for name, values in int_lists().items():
        p.write(i64_bytes(values))
        n = len(values)
        sorts = {"sort": sorted(values), "sort_unstable": sorted(values),
                 "sort_by_key(descending magnitude)": sorted(values, key=lambda x: (-abs(x), x)),
                 "sort, dedup": sorted(set(values))}
        for mode, (title, expected) in enumerate(sorts.items()):
            check(f"{title}({name})", expected, lambda n=n, m=mode: i64_list(p.rust("sort_i64", n, m)))
        by_class = sorted(range(n), key=lambda i, v=values: v[i] % 7)  # Python's sort is stable too
        check(f"stable_order({name}, 7)", by_class, lambda n=n: i64_list(p.rust("stable_order", n, 7)))
        top = sorted(values, reverse=True)[:10]
        check(f"top_k({name}, 10)", top, lambda n=n: i64_list(p.rust("top_k", n, 10)))
        for r in (0, 1, 17, 1000):
            check(f"deque_rotate({name}, {r})", rotated(values, r),
                  lambda n=n, r=r: i64_list(p.rust("deque_rotate", n, r)))
    check.done(p)


def test_rust_ordered_maps(collections: Program, check: Checks) -> None:
    p = collections
    rng = random.Random(12)
    for n in (0, 10, 400):
        triples = [(rng.randrange(3), rng.randrange(-50, 50), rng.randrange(-50, 60)) for _ in range(n)]
        model: dict[int, int] = {}
        total = 0
        for op, key, value in triples:
            if op == 0:
                model[key] = value
            elif op == 1:
                model.pop(key, None)
            else:
                total += sum(v for k, v in model.items() if key <= k < value)
        mix = sum(k * 31 + v for k, v in model.items())
        p.write(i64_bytes([x for t in triples for x in t]))
        check(f"btree_ops(n={n})", (s64(total) ^ s64(mix), sorted(model)),
              lambda n=n: (p.btree_ops(n), i64_list(p.output())))
    many = ([rng.randrange(100) for _ in range(200)], [rng.randrange(50, 150) for _ in range(150)])
    for a, b in [([], []), ([1, 2, 3], [2, 3, 4]), many]:
        sa, sb = set(a), set(b)
        flat: list[int] = []
        for part in (sorted(sa | sb), sorted(sa & sb), sorted(sa ^ sb)):
            flat += [len(part), *part]
        p.write(i64_bytes(a + b))
        check(f"set_ops({len(a)}, {len(b)})", (len(sa | sb), flat),
              lambda a=a, b=b: (p.set_ops(len(a), len(b)), i64_list(p.output())))
    check.done(p)


def test_rust_memory_growth(collections: Program, check: Checks) -> None:
    """A 2 MiB Vec: the allocator grows the linear memory (memory.grow) and the data lands in it."""
    p = collections
    before = p.memory.size
    n = 2 << 17
    expected_sum = sum(i * 3 + 1 for i in range(0, n, 4096)) & M32

    def big_alloc() -> tuple[bool, int]:
        result = u64(p.big_alloc(2))
        pages = result >> 32
        return pages * 65536 >= (2 << 20) and pages == p.memory.size > before, result & M32

    check("big_alloc(2 MiB)", (True, expected_sum), big_alloc)
    check("big_alloc(2 MiB) again, the memory freed and reused", (True, expected_sum), big_alloc)
    check.done(p)


# -- Rust text

FLOATS = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 2 / 3, 1e16, 9999999999999998.0, 1e-4, 9.999e-5, 1e21, 1e22,
          1e-7, 123456.789, 5e-324, 1.7976931348623157e308, math.inf, -math.inf, math.nan, 3.14159,
          2.718281828459045, 1e100, -1.5e-10, 16777217.0, 0.3, 100.0, 1e15, 1.23456e-300, 4.35, 299792458.0,
          -273.15, 6.02214076e23]


def rust_float_line(x: float) -> str:
    """fmt_f64's line: {} {:?} {:.3} {:e} {:E} {:12.4} {:<+10.1} {:.0}, then {} {:?} {:e} of x as f32."""
    y = f32_of(x)
    return "|".join([
        ref.rust_display(x), ref.rust_debug(x), ref.rust_fixed(x, 3), ref.rust_lower_exp(x),
        ref.rust_lower_exp(x, upper=True), f"{ref.rust_fixed(x, 4):>12}",
        f"{ref.rust_fixed(x, 1, plus=True):<10}", ref.rust_fixed(x, 0),
        ref.rust_display(y, True), ref.rust_debug(y, True), ref.rust_lower_exp(y, True),
    ])


def test_rust_format_floats(text: Program, check: Checks) -> None:
    for x in FLOATS:
        check(f"fmt_f64({x!r})", rust_float_line(x), text.text, "fmt_f64", f64_bits(x))
    check.done(text)


def rust_int_line(a: int, b: int) -> str:
    """fmt_ints' line for a (i64) and b (u64)."""
    small = (ref.wrap(a, 32), b & 0xFFFF, ref.wrap(a, 8))
    return "|".join([
        str(a), *(format(a, spec) for spec in ("+", ">12", "<12", "^12", "012")), str(b),
        *(format(b, spec) for spec in ("x", "X", "#x", "o", "#o", "b", "#b", "#018x")),
        ref.rust_int_exp(a), ref.rust_int_exp(b, upper=True),
        f"({small[0]}, {small[1]}, {small[2]})", str(a * b),
    ])


def test_rust_format_integers(text: Program, check: Checks) -> None:
    pairs = [(0, 0), (-1, M64), (123456789, 987654321), (-(2**63), 1 << 63), (1000, 10**19), (-42, 255),
             (7, 1)]
    for a, b in pairs:
        check(f"fmt_ints({a}, {b})", rust_int_line(a, b), text.text, "fmt_ints", a, b)
    check.done(text)


FLOAT_TEXTS = ["0", "1", "-1", "1.5", "1e10", "1E-5", "+3.25", ".5", "5.", "inf", "-inf", "infinity", "NaN",
               "1e400", "1e-400", "2.2250738585072011e-308", "4.9e-324", "2.4703282292062328e-324",
               "2.4703282292062327e-324",
               "0.1", "123456789012345678901234567890", "9007199254740993", "1.7976931348623158e308",
               "3.4028235e38", "3.4028236e38", "1.17549435e-38", "1.4e-45", "7.006492321624085e-46",
               "7.006492321624086e-46", "16777217", "0.30000001192092896", "-0.0"]
NOT_FLOATS = ["", ".", "e5", "1e", "--1", "1_0", " 1", "0x10", "1.0e+", "1.2.3"]  # str::parse refuses them


def parsed_f32_bits(text: str) -> int:
    """The f32 nearest to the decimal text (exactly rounded, not through an f64)."""
    if text.lower().lstrip("+-") in ("inf", "infinity", "nan"):
        return int(struct.unpack("<I", struct.pack("<f", float(text)))[0])
    return ref.f32_bits(Fraction(text)) | (0x80000000 if text.startswith("-") else 0)


def test_rust_parse_numbers(text: Program, check: Checks) -> None:
    p = text
    for s in FLOAT_TEXTS:
        p.write(s.encode())
        n = len(s)
        check(f"parse_f64({s!r})", f64_bits(float(s)), lambda n=n: u64(p.parse_f64(n)))
        check(f"parse_f32({s!r})", parsed_f32_bits(s), lambda n=n: u64(p.parse_f32(n)))
    for s in NOT_FLOATS:
        p.write(s.encode())
        n = len(s)
        check(f"parse_f64({s!r}) refuses it", 0x7FF8_DEAD_0000_0000, lambda n=n: u64(p.parse_f64(n)))
        check(f"parse_f32({s!r}) refuses it", 0xDEAD_0000_0000, lambda n=n: u64(p.parse_f32(n)))
    cases = [("0", 10), ("-0", 10), ("+7", 10), (str(2**127 - 1), 10), (str(2**127), 10),
             (str(-(2**127)), 10), (str(-(2**127) - 1), 10), ("ff", 16), ("FF", 16), ("-zz", 36),
             ("12a", 10), ("", 10), ("-", 10), ("+", 10), ("1 ", 10), ("7" + "f" * 31, 16), ("10", 2),
             ("102", 2)]
    for s, radix in cases:
        p.write(s.encode())
        value = ref.rust_from_str_radix(s, radix)
        check(f"parse_i128({s!r}, {radix})", str(value) if isinstance(value, int) else f"error: {value}",
              p.text, "parse_i128", len(s), radix)
    check.done(p)


TEXTS = [
    "plain ascii", "tab\there\nnew 'q' \"dq\" back\\slash \0nul \x7f del \x1b esc",
    "e\u0301 combining after a letter", "\u0301 combining first",
    "\u20dd\u200b\u200c\u200d\u2028\u2029\u00a0\u3000\ufeff", "日本語 𝄞 😀 \U000e0041 \ue000 \U0010ffff",
    "\u09be\u0915\u093f", "ÄÖÜ ß ǅ ﬃ İ \u0131 Σσς ΣΑΣ ΌΣΟΣ.", "ŉ ǰ ᾳ ﬀ", "",
]


def test_rust_char_escapes(text: Program, check: Checks) -> None:
    p = text
    for s in TEXTS:
        p.write(s.encode())
        n = len(s.encode())
        each = "".join(map(ref.rust_escape_debug, s))
        check(f"escape_debug_chars({s!r})", each, p.text, "escape_debug_chars", n)
        check(f"escape_debug_str({s!r})", ref.rust_str_escape_debug(s), p.text, "escape_debug_str", n)
        check(f"debug_str({s!r})", ref.rust_str_debug(s), p.text, "debug_str", n)
        check(f"escape_default({s!r})", ref.rust_escape_default(s), p.text, "escape_default", n)
        check(f"escape_unicode({s!r})", "".join(map(ref.rust_escape_unicode, s)), p.text, "escape_unicode", n)
    check.done(p)


def utf16_checksum(chars: list[str]) -> int:
    """encode_range's checksum: every UTF-16 unit, plus its index in its char, folded by * 31."""
    checksum = 0
    for c in chars:
        units = c.encode("utf-16-le")
        for i in range(0, len(units), 2):
            checksum = (checksum * 31 + int.from_bytes(units[i:i + 2], "little") + i // 2) & M64
    return checksum & M32


DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def test_rust_case_and_utf8(text: Program, check: Checks) -> None:
    p = text
    maps: list[Callable[[str], str]] = [str.upper, str.lower, lambda s: s[::-1],
                                        lambda s: "".join(c.upper() if c.isascii() else c for c in s)]
    for s in TEXTS:
        raw = s.encode()
        p.write(raw)
        for mode, f in enumerate(maps):
            check(f"case_map({s!r}, {mode})", f(s), p.text, "case_map", len(raw), mode)
        points = b"".join(ord(c).to_bytes(4, "little") for c in s)
        n = len(raw)
        check(f"decode_utf8({s!r})", (len(s) << 32 | len(s.encode("utf-16-le")) // 2, points),
              lambda n=n: (p.decode_utf8(n), p.output()))
    for raw in [b"ok", b"\xff", b"a\xc3", b"\xe2\x82", b"\xe2\x82\xac", b"\xf0\x9f\x98", b"\xed\xa0\x80x",
                b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xe0\x80\x80",
                b"\x80\x80abc\xfe", b"\xf0\x9f\x98\x80\xf0\x9f"]:
        p.write(raw)
        check(f"utf8_lossy({raw!r})", raw.decode("utf-8", "replace"), p.text, "utf8_lossy", len(raw))
    for lo, hi in [(0, 128), (0x7F0, 0x810), (0xD7F0, 0xE010), (0xFFF0, 0x10010), (0x10FFF0, 0x110010)]:
        chars = [chr(c) for c in range(lo, min(hi, 0x110000)) if not 0xD800 <= c < 0xE000]
        expected = ((len(chars) << 32) ^ utf16_checksum(chars), "".join(chars).encode())
        check(f"encode_range({lo:#x}, {hi:#x})", expected,
              lambda lo=lo, hi=hi: (u64(p.encode_range(lo, hi)), p.output()))
    for radix in (2, 8, 10, 16, 36):
        digit_chars = [c for c in map(chr, range(128)) if c.isascii() and c.isalnum() and int(c, 36) < radix]
        expected = "".join(f"{c}={int(c, 36)} " for c in digit_chars) + DIGITS[:radix]
        check(f"digits({radix})", expected, p.text, "digits", radix)
    check.done(p)


# -- Rust u128 / i128

WIDE = [0, 1, 2, 3, M64, 1 << 64, (1 << 64) + 1, 1 << 127, M128, M128 - 1, 12345678901234567890123456789,
        10**38, (1 << 127) - 1, 3**80, 0xDEADBEEF << 70]


def halves(x: int) -> tuple[int, int]:
    """A 128-bit argument as the program takes it: (high, low) u64s."""
    return (x >> 64) & M64, x & M64


def wide(data: bytes) -> list[int]:
    """128-bit results as the program writes them: little-endian, 16 bytes each."""
    return [int.from_bytes(data[i:i + 16], "little") for i in range(0, len(data), 16)]


def wide_results(p: Program, export: str, *args: int) -> list[int]:
    return wide(p.rust(export, *args))


def test_rust_u128_arithmetic(int128: Program, check: Checks) -> None:
    for a in WIDE:
        for b in WIDE:
            s = b % 128
            expected = [(a + b) & M128, (a - b) & M128, (a * b) & M128, a // b if b else M128,
                        a % b if b else M128, (a << s) & M128, a >> s, ((a << s) | (a >> (128 - s))) & M128,
                        a * b if a * b <= M128 else 0, a + b if a + b <= M128 else 0, (a * b) & M128,
                        (a * b) >> 128]
            args = (*halves(a), *halves(b))
            check(f"u128_ops({a:#x}, {b:#x})", expected, wide_results, int128, "u128_ops", *args)
    check.done(int128)


def i128_expected(a: int, b: int) -> list[int]:
    """i128_ops' results: Rust's truncating and Euclidean division, shifts, abs, signum, min, max."""
    ok = b != 0 and not (a == -(1 << 127) and b == -1)
    q, r = ref.trunc_divmod(a, b) if ok else (0, 0)
    qe, re_ = ((a - a % abs(b)) // b, a % abs(b)) if ok else (0, 0)
    sign = ((a > 0) - (a < 0)) * ((b > 0) - (b < 0))
    results = (a + b, a - b, a * b, q, r, qe, re_, a >> (b % 128), abs(a), sign, min(a, b), max(a, b))
    return [ref.wrap(v, 128) for v in results]


def test_rust_i128_arithmetic(int128: Program, check: Checks) -> None:
    for a in WIDE:
        for b in WIDE:
            sa, sb = ref.wrap(a, 128), ref.wrap(b, 128)
            args = (*halves(a), *halves(b))
            check(f"i128_ops({sa}, {sb})", i128_expected(sa, sb),
                  lambda args=args: [ref.wrap(v, 128) for v in wide_results(int128, "i128_ops", *args)])
    check.done(int128)


def test_rust_u128_bits_and_text(int128: Program, check: Checks) -> None:
    p = int128
    for a in WIDE:
        trailing = 128 if a == 0 else (a & -a).bit_length() - 1
        zeros = (128 - a.bit_length()) | trailing << 32 | a.bit_count() << 64
        reverse, swapped = int(f"{a:0128b}"[::-1], 2), int.from_bytes(a.to_bytes(16, "little"), "big")
        check(f"u128_bits({a:#x})", [zeros, reverse, swapped], wide_results, p, "u128_bits", *halves(a))
        texts = f"{a} {a:x} {ref.wrap(a, 128)}"
        check(f"u128_to_string({a:#x})", texts, p.text, "u128_to_string", *halves(a))
        decimal = str(a).encode()
        p.write(decimal)
        n = len(decimal)
        check(f"u128_parse({a})", (1, [a]), lambda n=n: (p.u128_parse(n), wide(p.output())))
    for bad in [b"", b"-1", str(M128 + 1).encode(), b"12x", b"+"]:
        p.write(bad)
        check(f"u128_parse({bad!r}) refuses it", 0, p.u128_parse, len(bad))
    for n in (0, 1, 20, 34, 35, 40):
        fits = max(k for k in range(n + 1) if math.factorial(k) <= M128)
        check(f"factorial({n})", [math.factorial(n) & M128, fits], wide_results, p, "factorial", n)
    check.done(p)


def test_rust_modular_arithmetic(int128: Program, check: Checks) -> None:
    p = int128
    for a, b, m in [(3, 5, 7), (M64, M64, M64 - 58), (2**63 + 5, 2**62 + 11, 10**19 + 7), (123, 0, 1)]:
        check(f"mul_mod({a}, {b}, {m})", a * b % m, lambda a=a, b=b, m=m: u64(p.mul_mod(a, b, m)))
        check(f"pow_mod({a}, {b}, {m})", pow(a, b, m), lambda a=a, b=b, m=m: u64(p.pow_mod(a, b, m)))
    for m in [1000000007, (1 << 64) + 13, (1 << 127) + 1, M128, 2**100 + 277]:
        for n in [0, 1, 2, 90, 300]:
            check(f"fib_mod_iter({n}, {m})", [ref.fib(n) % m], wide_results, p, "fib_mod_iter", n, *halves(m))
        for n in [0, 1, 2, 91, 1000, 10**18]:
            expected = [ref.fib_mod(n, m)]
            check(f"fib_mod_fast({n}, {m})", expected, wide_results, p, "fib_mod_fast", n, *halves(m))
    primes = [2, 3, 1000000007, 2**61 - 1, 2**64 - 59, 4294967291]
    composites = [0, 1, 4, 561, 3215031751, 1000000007 * 998244353, M64, 341550071728321, 3825123056546413051]
    for n in primes + composites:
        check(f"is_prime({n})", int(n in primes), p.is_prime, n)
    for a in [0, 1, 2, 3, 4, 15, 16, 17, 99, 10**30, M128, M64 * M64, (1 << 126) + 12345]:
        check(f"isqrt({a})", [math.isqrt(a)], wide_results, p, "isqrt", *halves(a))
    check.done(p)


# -- Rust crypto


def test_rust_blake2s(crypto: Program, check: Checks) -> None:
    data = sample(700, seed=9)
    cases = [(0, b"", 32, 1), (1, b"", 32, 1), (63, b"", 32, 7), (64, b"", 32, 64), (65, b"", 32, 64),
             (129, b"k" * 32, 32, 5), (700, b"key", 16, 100), (64, b"", 1, 1000)]
    for n, key, size, chunk in cases:
        crypto.write(key + data[:n])
        expected = hashlib.blake2s(data[:n], key=key, digest_size=size).digest()
        check(f"blake2s(len={n}, keylen={len(key)}, outlen={size}, chunk={chunk})", expected,
              crypto.rust, "blake2s", len(key), n, size, chunk)
    check.done(crypto)


def test_rust_xxh3(crypto: Program, check: Checks) -> None:
    data = bytes(i % 251 for i in range(3000))
    crypto.write(data)
    for n in XXH_LENGTHS:
        for seed in XXH_SEEDS:
            check(f"xxh3_64(len={n}, seed={seed:#x})", ref.xxh3_64(data[:n], seed),
                  lambda n=n, s=seed: u64(crypto.xxh3_64(n, s)))
    check.done(crypto)


def test_rust_x25519(crypto: Program, check: Checks) -> None:
    """Five 51-bit limbs with u128 products (curve25519-dalek's representation)."""
    for a, b in field_pairs():
        crypto.write(a.to_bytes(32, "little") + b.to_bytes(32, "little"))
        check(f"fe_mul({a:#x}, {b:#x})", fe_product(a, b), crypto.rust, "fe_mul_bytes")
    for scalar, u, expected in RFC7748_VECTORS:
        crypto.write(bytes.fromhex(scalar) + bytes.fromhex(u))
        check(f"x25519({scalar[:8]}..., {u[:8]}...)", bytes.fromhex(expected), crypto.rust, "x25519")
    check.done(crypto)


# ================================================================ AssemblyScript (asc, stub runtime)


def test_as_checksums(gas_limit: int | None, check: Checks) -> None:
    p = Program("assemblyscript/hashes.wasm", gas_limit)
    data = sample(6000, seed=13)
    p.write(data)
    for n in (0, 1, 3, 4, 5, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 5552, 5553, 6000):
        msg = data[:n]
        check(f"crc32(len={n})", zlib.crc32(msg), lambda n=n: p.crc32(n, 0) & M32)
        check(f"adler32(len={n})", zlib.adler32(msg), lambda n=n: p.adler32(n, 1) & M32)
        check(f"sha1(len={n})", hashlib.sha1(msg).digest(), p.out, "sha1", n, size=20)
        check(f"murmur3(len={n}, seed=0x9747b28c)", ref.murmur3_32(msg, 0x9747B28C),
              lambda n=n: p.murmur3(n, 0x9747B28C) & M32)
        check(f"fnv1a64(len={n})", ref.fnv1a_64(msg), lambda n=n: u64(p.fnv1a64(n)))
    crc = zlib.crc32(data[:1000])
    p.write(data[1000:3000])
    check("crc32 continued", zlib.crc32(data[1000:3000], crc), lambda: p.crc32(2000, crc) & M32)
    check.done(p)


INTS = [0, 1, -1, 2, 7, -7, 63, 64, 65, 2**31 - 1, -(2**31), 2**32 - 1, 2**32, 2**63 - 1, -(2**63),
        0x0123456789ABCDEF, -0x0123456789ABCDEF]


def int_ops_expected(a: int, b: int) -> list[int]:
    """numeric.ts int_ops' twenty results, each as an i64."""
    ua, ub = u64(a), u64(b)
    sh = ub & 63
    ok = b != 0 and not (a == -(2**63) and b == -1)
    q, r = ref.trunc_divmod(a, b) if ok else (0, 0)
    results = [q, r, ua // ub if ub else 0, ua % ub if ub else 0, ua << sh, a >> sh, ua >> sh,
               ref.rotl(ua, sh, 64), ref.rotl(ua, 64 - sh, 64), 64 - ua.bit_length(),
               64 if ua == 0 else (ua & -ua).bit_length() - 1, ua.bit_count(), a * b, ref.wrap(a * b, 32),
               (ua & M32) * (ub & M32), ref.wrap(a, 8) + ref.wrap(b, 16), (a & 0xFF) + (b & 0xFFFF),
               (ua >> 32) + (ub & M32), int(a < b), int(ua < ub)]
    return [s64(v) for v in results]


def test_as_integer_ops(gas_limit: int | None, check: Checks) -> None:
    p = Program("assemblyscript/numeric.wasm", gas_limit)
    for a in INTS:
        for b in INTS:
            check(f"int_ops({a}, {b})", int_ops_expected(a, b), p.out_i64s, "int_ops", a, b)
    check.done(p)


def saturate(x: float, lo: int, hi: int) -> int:
    if math.isnan(x):
        return 0
    if math.isinf(x):
        return lo if x < 0 else hi
    return max(lo, min(hi, math.trunc(x)))


def test_as_float_conversions(gas_limit: int | None, check: Checks) -> None:
    p = Program("assemblyscript/numeric.wasm", gas_limit)
    for x in [0.0, -0.0, 1.9, -1.9, 2.5, 2**31 - 0.5, 2**31, -(2**31) - 1, 2**32, 4294967295.9, 2**63,
              -(2**63) - 4096, 2**64, 1e300, -1e300, math.inf, -math.inf, math.nan, 3e9, -3e9, 123456789.987]:
        f = f32_of(x)
        f_bits = 0x7FC00000 if math.isnan(f) else struct.unpack("<I", struct.pack("<f", f))[0]
        expected = [saturate(x, -(2**31), 2**31 - 1), saturate(x, 0, M32), saturate(x, -(2**63), 2**63 - 1),
                    s64(saturate(x, 0, M64)), saturate(f, -(2**31), 2**31 - 1), f_bits]

        def convert(x: float = x) -> list[int]:
            results = p.out_i64s("convert", x)
            if math.isnan(x):  # the sign of a demoted NaN is left open
                results[5] &= 0x7FFFFFFF
            return results

        check(f"convert({x!r})", expected, convert)
    check.done(p)


def wasm_min(x: float, y: float) -> float:
    if math.isnan(x) or math.isnan(y):
        return math.nan
    return (x if math.copysign(1, x) < 0 else y) if x == y == 0 else min(x, y)


def wasm_max(x: float, y: float) -> float:
    if math.isnan(x) or math.isnan(y):
        return math.nan
    return (y if math.copysign(1, x) < 0 else x) if x == y == 0 else max(x, y)


def wasm_div(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1, b)
    return a / b


def integral(f: Callable[[float], int], x: float) -> float:
    """floor, ceil, trunc or round-half-even as wasm defines them: infinities stay, a zero keeps x's sign."""
    if not math.isfinite(x):
        return x
    return math.copysign(0.0, x) if f(x) == 0 else float(f(x))


def float_ops_expected(x: float, y: float) -> list[int]:
    """numeric.ts float_ops' seventeen results, as f64 bits."""
    fx, fy = f32_of(x), f32_of(y)
    results = [integral(math.floor, x), integral(math.ceil, x), integral(math.trunc, x), integral(round, x),
               math.sqrt(x) if x >= 0 else math.nan, abs(x), wasm_min(x, y), wasm_max(x, y),
               math.copysign(x, y), x + y, x - y, x * y, wasm_div(x, y), fx, f32_of(fx * fy),
               f32_of(wasm_div(fx, fy)), x if x == 0 else math.copysign(1.0, x)]
    return [f64_bits(v) for v in results]


def test_as_float_ops(gas_limit: int | None, check: Checks) -> None:
    p = Program("assemblyscript/numeric.wasm", gas_limit)
    def float_ops(x: float, y: float) -> list[int]:
        return [f64_bits(struct.unpack("<d", struct.pack("<q", v))[0]) for v in p.out_i64s("float_ops", x, y)]

    values = [0.0, -0.0, 1.5, -2.5, 0.5, 3.7, -3.7, 1e300, 2.0**52 + 1, 1 / 3, math.inf, -math.inf, 2.0,
              16777217.5, -0.4]
    for x in values:
        for y in [*values[:8], math.inf]:
            check(f"float_ops({x!r}, {y!r})", float_ops_expected(x, y), float_ops, x, y)
    check.done(p)


def test_as_number_theory(gas_limit: int | None, check: Checks) -> None:
    p = Program("assemblyscript/numeric.wasm", gas_limit)
    for n in (0, 2, 3, 10, 1000, 20000):
        primes = ref.primes_below(n)
        check(f"primes({n})", len(primes) << 40 | sum(primes), p.primes, n)
    for n in (2, 10, 1000):
        steps, start = collatz_longest(n)
        check(f"collatz({n})", start << 32 | (steps + 1), p.collatz, n)
    for a, b in [(0, 0), (12, 18), (M64, M32), (1071, 462), (2**63, 2**62 * 3), (17, 0)]:
        check(f"gcd({a}, {b})", math.gcd(a, b), lambda a=a, b=b: u64(p.gcd(a, b)))
    for n in (0, 1, 2, 3, 4, 15, 16, 17, 10**12, 2**62, M64, M32**2, M32**2 - 1):
        check(f"isqrt({n})", math.isqrt(n), lambda n=n: u64(p.isqrt(n)))
    powers = [(2, 10, 1000), (3, 2**64 - 2, 2**64 - 59), (7, 0, 1), (2**63 + 1, 2**63 + 1, M64),
              (10, 18, 10**18 + 9)]
    for b, e, m in powers:
        check(f"powmod({b}, {e}, {m})", pow(b, e, m), lambda b=b, e=e, m=m: u64(p.powmod(b, e, m)))
    check.done(p)


def total_order(x: float) -> int:
    """The order of AssemblyScript's default f64 comparator: by bits, negatives reversed (-0 < +0)."""
    bits = struct.unpack("<q", struct.pack("<d", x))[0]
    return bits ^ ((bits >> 63) & 0x7FFFFFFFFFFFFFFF)


def test_as_sorting_and_maps(gas_limit: int | None, check: Checks) -> None:
    p = Program("assemblyscript/collections.wasm", gas_limit)
    rng = random.Random(21)
    lists = {"empty": [], "one": [3], "small": [5, -2, 9, 0, -2, 7],
             "many": [rng.randrange(-1000, 1000) for _ in range(400)],
             "extremes": [2**31 - 1, -(2**31), 0, -1, 1, -(2**31), 2**31 - 1]}
    for name, values in lists.items():
        p.write(struct.pack(f"<{len(values)}i", *values))
        n = len(values)
        orders = [sorted(values), sorted(values, reverse=True), sorted(values, key=lambda v: (abs(v), v))]
        for mode, order in enumerate(orders):
            if mode == 0 and name == "extremes":
                continue  # AssemblyScript's default i32 comparator is a - b, which overflows here (V8 agrees)
            check(f"sort_i32({name}, {mode})", ",".join(map(str, order)), p.as_string, "sort_i32", n, mode)
        counts = Counter(values)
        listed = " ".join([str(len(counts)), *(f"{v}:{c}" for v, c in sorted(counts.items()))])
        check(f"count_values({name})", listed, p.as_string, "count_values", n)
    floats = [3.5, -0.0, 0.0, -1e300, 1e-300, math.inf, -math.inf, 2.0, -2.0, 5e-324] * 3
    p.write(struct.pack(f"<{len(floats)}d", *floats))

    def sort_f64() -> list[int]:
        p.sort_f64(len(floats))  # sorts in place, in the input buffer
        data = p.memory.read(p.in_ptr(), 8 * len(floats))
        return [f64_bits(v) for v in struct.unpack(f"<{len(floats)}d", data)]

    check("sort_f64", [f64_bits(v) for v in sorted(floats, key=total_order)], sort_f64)
    check.done(p)


def test_as_memory_growth(gas_limit: int | None, check: Checks) -> None:
    """Strings of a few MiB: the stub runtime grows the memory (memory.grow) as it allocates."""
    p = Program("assemblyscript/collections.wasm", gas_limit)
    before = p.memory.size
    for n in (1, 1 << 18):
        s = "ab" * n
        check(f"big_string({n})", s[n:] + s[:n], p.as_string, "big_string", n)
    check("the memory grew", True, lambda: p.memory.size > before)
    check.done(p)


def test_as_strings(gas_limit: int | None, check: Checks) -> None:
    p = Program("assemblyscript/collections.wasm", gas_limit)
    for s, sep in [("ab,cd,,abAB,x", ","), ("no separator", ";"), ("", ","), ("élan ab vital ab", " ")]:
        p.write(s.encode("utf-16-le"))
        joined = "|".join(s.split(sep)[::-1])
        upper = "".join(c.upper() if "a" <= c <= "z" else c for c in joined)
        check(f"words({s!r}, {sep!r})", upper.replace("AB", "-"), p.as_string, "words", len(s), ord(sep))
    for x in [*FLOATS, 0.1 + 0.2, 1e-310, 2.2250738585072014e-308, 9007199254740993.0, 1.5e-7, 123e45]:
        if math.isfinite(x):  # the program's own check: its dtoa output reads back as the same number
            check(f"float(f64_to_string({x!r}))", x, lambda x=x: float(p.as_string("f64_to_string", x)))
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    for x in [0, 1, -1, 255, -255, 2**63 - 1, -(2**63), 0x0123456789ABCDEF]:
        for radix in (2, 10, 16, 36):
            magnitude, text = abs(x), ""
            while True:
                magnitude, digit = divmod(magnitude, radix)
                text = digits[digit] + text
                if not magnitude:
                    break
            text = ("-" if x < 0 else "") + text
            check(f"i64_to_string({x}, {radix})", text, p.as_string, "i64_to_string", x, radix)
            p.write(text.encode("utf-16-le"))
            check(f"parse_i64({text!r}, {radix})", x, p.parse_i64, len(text), radix)
    check.done(p)
