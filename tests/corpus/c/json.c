/* A JSON (RFC 8259) validator and re-serializer: json_compact(len) parses the
 * UTF-8 text IN[0..len) and writes it to OUT the way Python's
 * json.dumps(value, separators=(",", ":")) writes it (ASCII only, \uXXXX
 * escapes in lower-case hex, surrogate pairs above U+FFFF), numbers copied as
 * they are written. Returns the output length, or -(offset + 1) at the first
 * error. json_stats(len) returns the number of values in the document (64 bits:
 * depth in the high word, count in the low word), or -1. */
#include "corpus.h"

#define MAX_DEPTH 64

typedef struct {
    const u8 *s;
    u32 len, pos, depth, max_depth, count;
    u8 *out;
    u32 olen;
    int failed;
} parser;

static int fail(parser *p) {
    p->failed = 1;
    return -1;
}

static void emit(parser *p, u8 c) {
    if (p->out) p->out[p->olen] = c;
    p->olen++;
}

static void emit_hex4(parser *p, u32 v) {
    static const char hex[] = "0123456789abcdef";
    emit(p, '\\');
    emit(p, 'u');
    for (int shift = 12; shift >= 0; shift -= 4) emit(p, (u8)hex[(v >> shift) & 15]);
}

static void skip_ws(parser *p) {
    while (p->pos < p->len) {
        u8 c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int peek(parser *p) { return p->pos < p->len ? p->s[p->pos] : -1; }

static int expect_word(parser *p, const char *w) {
    for (const char *c = w; *c; c++, p->pos++)
        if (peek(p) != *c) return fail(p);
    for (const char *c = w; *c; c++) emit(p, (u8)*c);
    return 0;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int parse_number(parser *p) {
    u32 start = p->pos;
    if (peek(p) == '-') p->pos++;
    if (peek(p) == '0') {
        p->pos++;
    } else if (is_digit(peek(p))) {
        while (is_digit(peek(p))) p->pos++;
    } else {
        return fail(p);
    }
    if (peek(p) == '.') {
        p->pos++;
        if (!is_digit(peek(p))) return fail(p);
        while (is_digit(peek(p))) p->pos++;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-') p->pos++;
        if (!is_digit(peek(p))) return fail(p);
        while (is_digit(peek(p))) p->pos++;
    }
    for (u32 i = start; i < p->pos; i++) emit(p, p->s[i]);
    return 0;
}

static i32 hex_digit(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static i32 read_hex4(parser *p) {
    i32 v = 0;
    for (int i = 0; i < 4; i++) {
        i32 d = hex_digit(peek(p));
        if (d < 0) return fail(p);
        v = v * 16 + d;
        p->pos++;
    }
    return v;
}

/* One UTF-8 sequence, strictly (no overlongs, no surrogates, at most U+10FFFF). */
static i32 read_utf8(parser *p) {
    u32 c = p->s[p->pos++];
    u32 need, min;
    if (c < 0x80) return (i32)c;
    if (c >= 0xC2 && c <= 0xDF) { need = 1; min = 0x80; c &= 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; min = 0x800; c &= 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; min = 0x10000; c &= 0x07; }
    else return fail(p);
    while (need--) {
        int b = peek(p);
        if (b < 0 || (b & 0xC0) != 0x80) return fail(p);
        c = c << 6 | (b & 0x3F);
        p->pos++;
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return fail(p);
    return (i32)c;
}

static void emit_char(parser *p, u32 c) {
    switch (c) {
    case '"': emit(p, '\\'); emit(p, '"'); return;
    case '\\': emit(p, '\\'); emit(p, '\\'); return;
    case '\n': emit(p, '\\'); emit(p, 'n'); return;
    case '\r': emit(p, '\\'); emit(p, 'r'); return;
    case '\t': emit(p, '\\'); emit(p, 't'); return;
    case '\b': emit(p, '\\'); emit(p, 'b'); return;
    case '\f': emit(p, '\\'); emit(p, 'f'); return;
    default: break;
    }
    if (c >= 0x20 && c < 0x7F) {
        emit(p, (u8)c);
    } else if (c < 0x10000) {
        emit_hex4(p, c);
    } else {
        c -= 0x10000;
        emit_hex4(p, 0xD800 | (c >> 10));
        emit_hex4(p, 0xDC00 | (c & 0x3FF));
    }
}

static int parse_string(parser *p) {
    p->pos++; /* the opening quote */
    emit(p, '"');
    for (;;) {
        int c = peek(p);
        if (c < 0 || c < 0x20) return fail(p);
        if (c == '"') break;
        if (c != '\\') {
            i32 cp = read_utf8(p);
            if (cp < 0) return -1;
            emit_char(p, (u32)cp);
            continue;
        }
        p->pos++;
        int e = peek(p);
        p->pos++;
        i32 cp;
        switch (e) {
        case '"': cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/': cp = '/'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            cp = read_hex4(p);
            if (cp < 0) return -1;
            /* a high surrogate followed by an escaped low one is one character */
            if (cp >= 0xD800 && cp <= 0xDBFF && peek(p) == '\\' && p->pos + 1 < p->len && p->s[p->pos + 1] == 'u') {
                u32 save = p->pos;
                p->pos += 2;
                i32 lo = read_hex4(p);
                if (lo < 0) return -1;
                if (lo >= 0xDC00 && lo <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                else p->pos = save;
            }
            break;
        default:
            p->pos--;
            return fail(p);
        }
        emit_char(p, (u32)cp);
    }
    p->pos++;
    emit(p, '"');
    return 0;
}

static int parse_value(parser *p);

static int parse_container(parser *p, u8 open, u8 close) {
    if (++p->depth > MAX_DEPTH) return fail(p);
    if (p->depth > p->max_depth) p->max_depth = p->depth;
    p->pos++;
    emit(p, open);
    skip_ws(p);
    if (peek(p) == close) {
        p->pos++;
        emit(p, close);
        p->depth--;
        return 0;
    }
    for (;;) {
        if (open == '{') {
            skip_ws(p);
            if (peek(p) != '"' || parse_string(p) < 0) return fail(p);
            skip_ws(p);
            if (peek(p) != ':') return fail(p);
            p->pos++;
            emit(p, ':');
        }
        if (parse_value(p) < 0) return -1;
        skip_ws(p);
        int c = peek(p);
        p->pos++;
        if (c == close) break;
        if (c != ',') {
            p->pos--;
            return fail(p);
        }
        emit(p, ',');
    }
    emit(p, close);
    p->depth--;
    return 0;
}

static int parse_value(parser *p) {
    skip_ws(p);
    p->count++;
    switch (peek(p)) {
    case '{': return parse_container(p, '{', '}');
    case '[': return parse_container(p, '[', ']');
    case '"': return parse_string(p);
    case 't': return expect_word(p, "true");
    case 'f': return expect_word(p, "false");
    case 'n': return expect_word(p, "null");
    default: return parse_number(p);
    }
}

static int parse_document(parser *p, u32 len, u8 *out) {
    p->s = IN;
    p->len = len;
    p->pos = p->depth = p->max_depth = p->count = p->olen = 0;
    p->out = out;
    p->failed = 0;
    if (parse_value(p) < 0 || p->failed) return -1;
    skip_ws(p);
    if (p->pos != len) return fail(p);
    return 0;
}

EXPORT("json_compact") i32 json_compact(u32 len) {
    parser p;
    if (parse_document(&p, len, OUT) < 0) return -(i32)(p.pos + 1);
    return (i32)p.olen;
}

EXPORT("json_stats") i64 json_stats(u32 len) {
    parser p;
    if (parse_document(&p, len, 0) < 0) return -1;
    return (i64)((u64)p.max_depth << 32 | p.count);
}
