/* A small backtracking regular-expression matcher in the style of Pike and
 * Kernighan's, extended with classes and more quantifiers. Syntax: literals,
 * '.', [set] and [^set] with ranges, \d \w \s \D \W \S and escaped
 * punctuation, anchors ^ and $, and the greedy quantifiers * + ? after any
 * atom. Semantics follow Python's re on bytes: '.' does not match '\n', '$'
 * matches at the end or before a final '\n', leftmost match wins, quantifiers
 * are greedy with backtracking.
 *   re_search(plen, tlen): pattern IN[0..plen), text IN[plen..plen+tlen);
 *   returns the start of the leftmost match and stores its end at OUT
 *   (little-endian i32), or -1 if there is none, or -2 if the pattern is bad.
 *   re_count(plen, tlen): the number of non-overlapping matches, scanning as
 *   Python's re.findall does for patterns that cannot match empty. */
#include "corpus.h"

enum kind { LIT, ANY, SET, BOL, EOL };
enum quant { ONE, STAR, PLUS, QUEST };

typedef struct {
    u8 kind, quant;
    u8 set[32]; /* a 256-bit membership map, for SET (LIT uses set too) */
} node;

#define MAX_NODES 128
static node PROG[MAX_NODES];
static u32 NPROG;
static const u8 *TEXT;
static u32 TLEN;

static void set_add(u8 *set, u32 c) { set[c >> 3] |= (u8)(1u << (c & 7)); }
static int set_has(const u8 *set, u32 c) { return set[c >> 3] >> (c & 7) & 1; }

static void set_class(u8 *set, u8 cls) {
    int negate = cls >= 'A' && cls <= 'Z';
    u8 tmp[32];
    memset(tmp, 0, 32);
    switch (cls | 0x20) {
    case 'd':
        for (u32 c = '0'; c <= '9'; c++) set_add(tmp, c);
        break;
    case 'w':
        for (u32 c = 0; c < 256; c++)
            if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') set_add(tmp, c);
        break;
    case 's':
        set_add(tmp, ' '); set_add(tmp, '\t'); set_add(tmp, '\n');
        set_add(tmp, '\r'); set_add(tmp, '\f'); set_add(tmp, '\v');
        break;
    }
    for (int i = 0; i < 32; i++) set[i] |= negate ? (u8)~tmp[i] : tmp[i];
}

static int is_class_letter(u8 c) { return c == 'd' || c == 'w' || c == 's' || c == 'D' || c == 'W' || c == 'S'; }

/* Compiles the pattern into PROG; returns 0 or -1. */
static int compile(const u8 *pat, u32 plen) {
    NPROG = 0;
    for (u32 i = 0; i < plen;) {
        if (NPROG == MAX_NODES) return -1;
        node *n = &PROG[NPROG++];
        memset(n, 0, sizeof *n);
        u8 c = pat[i++];
        if (c == '^') {
            n->kind = BOL;
        } else if (c == '$') {
            n->kind = EOL;
        } else if (c == '.') {
            n->kind = ANY;
        } else if (c == '\\') {
            if (i == plen) return -1;
            u8 e = pat[i++];
            n->kind = SET;
            if (is_class_letter(e)) set_class(n->set, e);
            else set_add(n->set, e);
        } else if (c == '[') {
            int negate = 0;
            n->kind = SET;
            if (i < plen && pat[i] == '^') { negate = 1; i++; }
            int first = 1;
            while (i < plen && (pat[i] != ']' || first)) {
                first = 0;
                u32 lo = pat[i++];
                if (lo == '\\') {
                    if (i == plen) return -1;
                    u8 e = pat[i++];
                    if (is_class_letter(e)) { set_class(n->set, e); continue; }
                    lo = e;
                }
                if (i + 1 < plen && pat[i] == '-' && pat[i + 1] != ']') {
                    u32 hi = pat[i + 1];
                    i += 2;
                    if (hi < lo) return -1;
                    for (u32 x = lo; x <= hi; x++) set_add(n->set, x);
                } else {
                    set_add(n->set, lo);
                }
            }
            if (i == plen) return -1;
            i++; /* ']' */
            if (negate) for (int k = 0; k < 32; k++) n->set[k] = (u8)~n->set[k];
        } else if (c == '*' || c == '+' || c == '?') {
            return -1; /* nothing to repeat */
        } else {
            n->kind = LIT;
            set_add(n->set, c);
        }
        if (i < plen && (pat[i] == '*' || pat[i] == '+' || pat[i] == '?')) {
            if (n->kind == BOL || n->kind == EOL) return -1;
            n->quant = pat[i] == '*' ? STAR : pat[i] == '+' ? PLUS : QUEST;
            i++;
        }
    }
    return 0;
}

static int matches_one(const node *n, u32 pos) {
    if (pos >= TLEN) return 0;
    u8 c = TEXT[pos];
    switch (n->kind) {
    case ANY: return c != '\n';
    case LIT:
    case SET: return set_has(n->set, c);
    default: return 0;
    }
}

/* Returns the end of a match of PROG[k..] starting at pos, or -1. */
static i32 match_here(u32 k, u32 pos) {
    if (k == NPROG) return (i32)pos;
    const node *n = &PROG[k];
    switch (n->kind) {
    case BOL: return pos == 0 ? match_here(k + 1, pos) : -1;
    case EOL:
        if (pos == TLEN || (pos + 1 == TLEN && TEXT[pos] == '\n')) return match_here(k + 1, pos);
        return -1;
    default: break;
    }
    u32 min = n->quant == PLUS || n->quant == ONE ? 1 : 0;
    u32 max = n->quant == ONE || n->quant == QUEST ? 1 : 0xffffffffu;
    u32 count = 0;
    while (count < max && matches_one(n, pos + count)) count++;
    for (;;) { /* greedy: the longest run first, then give back one at a time */
        if (count < min) return -1;
        i32 end = match_here(k + 1, pos + count);
        if (end >= 0) return end;
        if (count == 0) return -1;
        count--;
    }
}

static i32 search_from(u32 start, i32 *end) {
    for (u32 s = start; s <= TLEN; s++) {
        i32 e = match_here(0, s);
        if (e >= 0) {
            *end = e;
            return (i32)s;
        }
    }
    return -1;
}

EXPORT("re_search") i32 re_search(u32 plen, u32 tlen) {
    if (compile(IN, plen) < 0) return -2;
    TEXT = IN + plen;
    TLEN = tlen;
    i32 end = 0;
    i32 start = search_from(0, &end);
    if (start >= 0) store32_le(OUT, (u32)end);
    return start;
}

EXPORT("re_count") i32 re_count(u32 plen, u32 tlen) {
    if (compile(IN, plen) < 0) return -2;
    TEXT = IN + plen;
    TLEN = tlen;
    i32 count = 0, end = 0;
    u32 at = 0;
    for (;;) {
        i32 start = search_from(at, &end);
        if (start < 0) break;
        count++;
        at = end > start ? (u32)end : (u32)end + 1;
        if (at > tlen) break;
    }
    return count;
}
