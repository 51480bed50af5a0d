/* A small Forth: an outer interpreter that reads words and numbers from
 * IN[0..len) and an inner interpreter (a bytecode VM, one switch over the
 * opcode) that runs compiled words. Cells are 64-bit; '/' and 'mod' truncate
 * toward zero as C does. Output ('.', 'emit', 'cr', 'space') goes to OUT.
 *   forth_run(len, max_steps)
 *                      runs at most max_steps VM instructions and returns the
 *                      output length, or a negative error:
 *                      -1 unknown word, -2 stack underflow, -3 stack overflow,
 *                      -4 division by zero, -5 bad address, -6 bad structure,
 *                      -7 step limit, -8 dictionary full;
 *   forth_steps()      the number of VM instructions the last run executed;
 *   forth_profile(op)  how many times the last run executed opcode op. */
#include "corpus.h"

enum op {
    OP_EXIT, OP_LIT, OP_CALL, OP_BRANCH, OP_ZBRANCH, OP_DO, OP_LOOP, OP_PLOOP, OP_I, OP_J,
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD, OP_DIVMOD, OP_NEGATE, OP_ABS, OP_MIN, OP_MAX,
    OP_EQ, OP_NE, OP_LT, OP_GT, OP_ULT, OP_ZEQ, OP_ZLT, OP_ZGT, OP_AND, OP_OR, OP_XOR,
    OP_INVERT, OP_LSHIFT, OP_RSHIFT, OP_INC, OP_DEC, OP_TWICE, OP_HALF, OP_DUP, OP_DROP,
    OP_SWAP, OP_OVER, OP_ROT, OP_MROT, OP_NIP, OP_TUCK, OP_QDUP, OP_PICK, OP_2DUP, OP_2DROP,
    OP_2SWAP, OP_DOT, OP_EMIT, OP_CR, OP_SPACE, OP_FETCH, OP_STORE, OP_PSTORE, OP_TOR,
    OP_FROMR, OP_RFETCH, OP_UNLOOP, OP_COUNT
};

static const char *const PRIMS[] = {
    "exit", 0, 0, 0, 0, 0, 0, 0, "i", "j",
    "+", "-", "*", "/", "mod", "/mod", "negate", "abs", "min", "max",
    "=", "<>", "<", ">", "u<", "0=", "0<", "0>", "and", "or", "xor",
    "invert", "lshift", "rshift", "1+", "1-", "2*", "2/", "dup", "drop",
    "swap", "over", "rot", "-rot", "nip", "tuck", "?dup", "pick", "2dup", "2drop",
    "2swap", ".", "emit", "cr", "space", "@", "!", "+!", ">r",
    "r>", "r@", "unloop",
};

#define STACK 256
#define CODE_SIZE 16384
#define WORDS 256
#define CELLS 1024

typedef struct {
    char name[32];
    u32 len;
    i32 kind;  /* 0 colon word (code address), 1 constant, 2 variable/create (cell address) */
    i64 value;
} word;

static i64 CODE[CODE_SIZE];
static u32 HERE_CODE;
static word DICT[WORDS];
static u32 NWORDS;
static i64 MEMORY[CELLS];
static u32 HERE_CELL;
static i64 DS[STACK], RS[STACK];
static u32 OLEN;
static u64 STEPS, MAX_STEPS;
static u64 PROFILE[OP_COUNT];

static void out_char(u8 c) {
    if (OLEN < sizeof OUT) OUT[OLEN++] = c;
}

static void out_number(i64 v) {
    u8 digits[24];
    int n = 0;
    u64 u = v < 0 ? 0 - (u64)v : (u64)v;
    do {
        digits[n++] = (u8)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) out_char('-');
    while (n) out_char(digits[--n]);
    out_char(' ');
}

static u32 DSP; /* the data stack depth, kept between runs */

/* Runs compiled code from address pc until its EXIT; returns 0 or an error. */
static i32 run(u32 pc) {
    u32 sp = DSP, rp = 0;
    i64 a, b;
    RS[rp++] = -1; /* the return address that ends the run */
#define FINISH(r) do { DSP = sp; return (r); } while (0)
#define NEED(n) if (sp < (n)) FINISH(-2)
#define ROOM(n) if (sp + (n) > STACK) FINISH(-3)
#define TOP DS[sp - 1]
    for (;;) {
        if (++STEPS > MAX_STEPS) FINISH(-7);
        u32 op = (u32)CODE[pc++];
        switch (op) {
        case OP_EXIT:
            a = RS[--rp];
            if (a < 0) FINISH(0);
            pc = (u32)a;
            break;
        case OP_LIT: ROOM(1); DS[sp++] = CODE[pc++]; break;
        case OP_CALL:
            if (rp >= STACK) FINISH(-3);
            RS[rp++] = pc + 1;
            pc = (u32)CODE[pc];
            break;
        case OP_BRANCH: pc = (u32)CODE[pc]; break;
        case OP_ZBRANCH: NEED(1); pc = DS[--sp] == 0 ? (u32)CODE[pc] : pc + 1; break;
        case OP_DO:
            NEED(2);
            if (rp + 2 > STACK) FINISH(-3);
            RS[rp++] = DS[sp - 2]; /* limit */
            RS[rp++] = DS[sp - 1]; /* index */
            sp -= 2;
            break;
        case OP_LOOP:
        case OP_PLOOP: {
            i64 step = 1;
            if (op == OP_PLOOP) { NEED(1); step = DS[--sp]; }
            if (rp < 3) FINISH(-6);
            i64 limit = RS[rp - 2];
            i64 before = (i64)((u64)RS[rp - 1] - (u64)limit);
            i64 after = (i64)((u64)before + (u64)step);
            RS[rp - 1] = (i64)((u64)RS[rp - 1] + (u64)step);
            /* the loop ends when index - limit crosses the boundary between -1 and 0 */
            if ((before ^ after) < 0 && (before ^ step) < 0) {
                rp -= 2;
                pc++;
            } else {
                pc = (u32)CODE[pc];
            }
            break;
        }
        case OP_I: ROOM(1); DS[sp++] = RS[rp - 1]; break;
        case OP_J: ROOM(1); if (rp < 5) FINISH(-6); DS[sp++] = RS[rp - 3]; break;
        case OP_UNLOOP: if (rp < 3) FINISH(-6); rp -= 2; break;
        case OP_TOR: NEED(1); if (rp >= STACK) FINISH(-3); RS[rp++] = DS[--sp]; break;
        case OP_FROMR: ROOM(1); if (rp < 2) FINISH(-6); DS[sp++] = RS[--rp]; break;
        case OP_RFETCH: ROOM(1); if (rp < 2) FINISH(-6); DS[sp++] = RS[rp - 1]; break;
        case OP_ADD: NEED(2); sp--; TOP = (i64)((u64)TOP + (u64)DS[sp]); break;
        case OP_SUB: NEED(2); sp--; TOP = (i64)((u64)TOP - (u64)DS[sp]); break;
        case OP_MUL: NEED(2); sp--; TOP = (i64)((u64)TOP * (u64)DS[sp]); break;
        case OP_DIV:
        case OP_MOD:
        case OP_DIVMOD: {
            NEED(2);
            a = DS[sp - 2];
            b = DS[sp - 1];
            if (b == 0) FINISH(-4);
            i64 q, r;
            if (b == -1) { /* avoids the INT64_MIN / -1 trap: the quotient wraps */
                q = (i64)(0 - (u64)a);
                r = 0;
            } else {
                q = a / b;
                r = a % b;
            }
            if (op == OP_DIVMOD) { /* ( a b -- rem quot ) */
                DS[sp - 2] = r;
                DS[sp - 1] = q;
            } else {
                DS[sp - 2] = op == OP_MOD ? r : q;
                sp--;
            }
            break;
        }
        case OP_NEGATE: NEED(1); TOP = (i64)(0 - (u64)TOP); break;
        case OP_ABS: NEED(1); if (TOP < 0) TOP = (i64)(0 - (u64)TOP); break;
        case OP_MIN: NEED(2); sp--; if (DS[sp] < TOP) TOP = DS[sp]; break;
        case OP_MAX: NEED(2); sp--; if (DS[sp] > TOP) TOP = DS[sp]; break;
        case OP_EQ: NEED(2); sp--; TOP = TOP == DS[sp] ? -1 : 0; break;
        case OP_NE: NEED(2); sp--; TOP = TOP != DS[sp] ? -1 : 0; break;
        case OP_LT: NEED(2); sp--; TOP = TOP < DS[sp] ? -1 : 0; break;
        case OP_GT: NEED(2); sp--; TOP = TOP > DS[sp] ? -1 : 0; break;
        case OP_ULT: NEED(2); sp--; TOP = (u64)TOP < (u64)DS[sp] ? -1 : 0; break;
        case OP_ZEQ: NEED(1); TOP = TOP == 0 ? -1 : 0; break;
        case OP_ZLT: NEED(1); TOP = TOP < 0 ? -1 : 0; break;
        case OP_ZGT: NEED(1); TOP = TOP > 0 ? -1 : 0; break;
        case OP_AND: NEED(2); sp--; TOP &= DS[sp]; break;
        case OP_OR: NEED(2); sp--; TOP |= DS[sp]; break;
        case OP_XOR: NEED(2); sp--; TOP ^= DS[sp]; break;
        case OP_INVERT: NEED(1); TOP = ~TOP; break;
        case OP_LSHIFT: NEED(2); sp--; TOP = (u64)DS[sp] >= 64 ? 0 : (i64)((u64)TOP << DS[sp]); break;
        case OP_RSHIFT: NEED(2); sp--; TOP = (u64)DS[sp] >= 64 ? 0 : (i64)((u64)TOP >> DS[sp]); break;
        case OP_INC: NEED(1); TOP = (i64)((u64)TOP + 1); break;
        case OP_DEC: NEED(1); TOP = (i64)((u64)TOP - 1); break;
        case OP_TWICE: NEED(1); TOP = (i64)((u64)TOP << 1); break;
        case OP_HALF: NEED(1); TOP >>= 1; break;
        case OP_DUP: NEED(1); ROOM(1); DS[sp] = DS[sp - 1]; sp++; break;
        case OP_DROP: NEED(1); sp--; break;
        case OP_SWAP: NEED(2); a = TOP; TOP = DS[sp - 2]; DS[sp - 2] = a; break;
        case OP_OVER: NEED(2); ROOM(1); DS[sp] = DS[sp - 2]; sp++; break;
        case OP_ROT: NEED(3); a = DS[sp - 3]; DS[sp - 3] = DS[sp - 2]; DS[sp - 2] = DS[sp - 1]; DS[sp - 1] = a; break;
        case OP_MROT: NEED(3); a = DS[sp - 1]; DS[sp - 1] = DS[sp - 2]; DS[sp - 2] = DS[sp - 3]; DS[sp - 3] = a; break;
        case OP_NIP: NEED(2); DS[sp - 2] = DS[sp - 1]; sp--; break;
        case OP_TUCK: NEED(2); ROOM(1); a = DS[sp - 1]; DS[sp - 1] = DS[sp - 2]; DS[sp - 2] = a; DS[sp++] = a; break;
        case OP_QDUP: NEED(1); if (TOP) { ROOM(1); DS[sp] = DS[sp - 1]; sp++; } break;
        case OP_PICK:
            NEED(1);
            a = TOP;
            if (a < 0 || (u64)a + 2 > sp) FINISH(-2);
            TOP = DS[sp - 2 - a];
            break;
        case OP_2DUP: NEED(2); ROOM(2); DS[sp] = DS[sp - 2]; DS[sp + 1] = DS[sp - 1]; sp += 2; break;
        case OP_2DROP: NEED(2); sp -= 2; break;
        case OP_2SWAP:
            NEED(4);
            a = DS[sp - 4]; b = DS[sp - 3];
            DS[sp - 4] = DS[sp - 2]; DS[sp - 3] = DS[sp - 1];
            DS[sp - 2] = a; DS[sp - 1] = b;
            break;
        case OP_DOT: NEED(1); out_number(DS[--sp]); break;
        case OP_EMIT: NEED(1); out_char((u8)DS[--sp]); break;
        case OP_CR: out_char('\n'); break;
        case OP_SPACE: out_char(' '); break;
        case OP_FETCH:
            NEED(1);
            if ((u64)TOP >= CELLS) FINISH(-5);
            TOP = MEMORY[TOP];
            break;
        case OP_STORE:
            NEED(2);
            if ((u64)TOP >= CELLS) FINISH(-5);
            MEMORY[TOP] = DS[sp - 2];
            sp -= 2;
            break;
        case OP_PSTORE:
            NEED(2);
            if ((u64)TOP >= CELLS) FINISH(-5);
            MEMORY[TOP] = (i64)((u64)MEMORY[TOP] + (u64)DS[sp - 2]);
            sp -= 2;
            break;
        default:
            FINISH(-6);
        }
        PROFILE[op]++; /* the switch's operand, used again after it */
    }
}

/* ------------------------------------------------------------------ outer interpreter */

static const u8 *SRC;
static u32 SRC_LEN, SRC_POS;
static const u8 *TOKEN;
static u32 TOKEN_LEN;

static int next_token(void) {
    while (SRC_POS < SRC_LEN && SRC[SRC_POS] <= ' ') SRC_POS++;
    if (SRC_POS == SRC_LEN) return 0;
    TOKEN = SRC + SRC_POS;
    while (SRC_POS < SRC_LEN && SRC[SRC_POS] > ' ') SRC_POS++;
    TOKEN_LEN = (u32)(SRC + SRC_POS - TOKEN);
    return 1;
}

static void skip_until(u8 end) {
    while (SRC_POS < SRC_LEN && SRC[SRC_POS] != end) SRC_POS++;
    if (SRC_POS < SRC_LEN) SRC_POS++;
}

static u8 lower(u8 c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

static int token_is(const char *s) {
    u32 i = 0;
    for (; s[i]; i++)
        if (i >= TOKEN_LEN || lower(TOKEN[i]) != (u8)s[i]) return 0;
    return i == TOKEN_LEN;
}

static int parse_number(i64 *out) {
    u32 i = 0, base = 10;
    int neg = 0;
    if (i < TOKEN_LEN && TOKEN[i] == '-') { neg = 1; i++; }
    if (i < TOKEN_LEN && TOKEN[i] == '$') { base = 16; i++; }
    if (i == TOKEN_LEN) return 0;
    u64 v = 0;
    for (; i < TOKEN_LEN; i++) {
        u8 c = lower(TOKEN[i]);
        u32 d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : 99;
        if (d >= base) return 0;
        v = v * base + d;
    }
    *out = (i64)(neg ? 0 - v : v);
    return 1;
}

static i32 find_word(void) {
    for (i32 w = (i32)NWORDS - 1; w >= 0; w--) {
        if (DICT[w].len != TOKEN_LEN) continue;
        u32 i = 0;
        while (i < TOKEN_LEN && (u8)DICT[w].name[i] == lower(TOKEN[i])) i++;
        if (i == TOKEN_LEN) return w;
    }
    return -1;
}

static i32 find_prim(void) {
    for (u32 op = 0; op < sizeof PRIMS / sizeof PRIMS[0]; op++)
        if (PRIMS[op] && token_is(PRIMS[op])) return (i32)op;
    return -1;
}

#define SCRATCH (CODE_SIZE - 4)

static i32 emit_code(i64 v) {
    if (HERE_CODE >= SCRATCH) return -8;
    CODE[HERE_CODE++] = v;
    return 0;
}

#define EMIT(v) do { i32 e_ = emit_code(v); if (e_) return e_; } while (0)

static u32 CSTACK[64]; /* open control structures: (address, kind) pairs */
static u32 CSP;
static i32 CURRENT;    /* the word being defined, for recurse */

enum { C_IF = 1, C_ELSE, C_BEGIN, C_WHILE, C_DO };

static i32 open_structure(u32 at, u32 kind) {
    if (CSP + 2 > 64) return -6;
    CSTACK[CSP++] = at;
    CSTACK[CSP++] = kind;
    return 0;
}

static i32 compile_control(void) {
    u32 top = CSP >= 2 ? CSTACK[CSP - 1] : 0;
    if (token_is("if")) { EMIT(OP_ZBRANCH); EMIT(0); return open_structure(HERE_CODE - 1, C_IF); }
    if (token_is("else")) {
        if (top != C_IF) return -6;
        EMIT(OP_BRANCH);
        EMIT(0);
        CODE[CSTACK[CSP - 2]] = HERE_CODE;
        CSTACK[CSP - 2] = HERE_CODE - 1;
        CSTACK[CSP - 1] = C_ELSE;
        return 0;
    }
    if (token_is("then")) {
        if (top != C_IF && top != C_ELSE) return -6;
        CODE[CSTACK[CSP - 2]] = HERE_CODE;
        CSP -= 2;
        return 0;
    }
    if (token_is("begin")) return open_structure(HERE_CODE, C_BEGIN);
    if (token_is("until") || token_is("again")) {
        if (top != C_BEGIN) return -6;
        EMIT(token_is("until") ? OP_ZBRANCH : OP_BRANCH);
        EMIT(CSTACK[CSP - 2]);
        CSP -= 2;
        return 0;
    }
    if (token_is("while")) {
        if (top != C_BEGIN) return -6;
        EMIT(OP_ZBRANCH);
        EMIT(0);
        return open_structure(HERE_CODE - 1, C_WHILE);
    }
    if (token_is("repeat")) {
        if (top != C_WHILE || CSP < 4 || CSTACK[CSP - 3] != C_BEGIN) return -6;
        EMIT(OP_BRANCH);
        EMIT(CSTACK[CSP - 4]);
        CODE[CSTACK[CSP - 2]] = HERE_CODE;
        CSP -= 4;
        return 0;
    }
    if (token_is("do")) { EMIT(OP_DO); return open_structure(HERE_CODE, C_DO); }
    if (token_is("loop") || token_is("+loop")) {
        if (top != C_DO) return -6;
        EMIT(token_is("loop") ? OP_LOOP : OP_PLOOP);
        EMIT(CSTACK[CSP - 2]);
        CSP -= 2;
        return 0;
    }
    if (token_is("recurse")) { EMIT(OP_CALL); return emit_code(DICT[CURRENT].value); }
    return 1; /* not a control word */
}

/* Compiles a word or number into the current definition. */
static i32 compile_token(void) {
    i32 r = compile_control();
    if (r <= 0) return r;
    i32 w = find_word();
    if (w >= 0) {
        EMIT(DICT[w].kind == 0 ? OP_CALL : OP_LIT);
        return emit_code(DICT[w].value);
    }
    i32 op = find_prim();
    if (op >= 0) return emit_code(op);
    i64 n;
    if (parse_number(&n)) { EMIT(OP_LIT); return emit_code(n); }
    return -1;
}

static i32 pop(i64 *v) {
    if (DSP == 0) return -2;
    *v = DS[--DSP];
    return 0;
}

static i32 push(i64 v) {
    if (DSP >= STACK) return -3;
    DS[DSP++] = v;
    return 0;
}

/* Runs a word or number in interpretation state. */
static i32 interpret_token(void) {
    i32 w = find_word();
    if (w >= 0) return DICT[w].kind == 0 ? run((u32)DICT[w].value) : push(DICT[w].value);
    i32 op = find_prim();
    if (op >= 0) {
        CODE[SCRATCH] = op;
        CODE[SCRATCH + 1] = OP_EXIT;
        return run(SCRATCH);
    }
    i64 n;
    if (parse_number(&n)) return push(n);
    return compile_control() <= 0 ? -6 : -1;
}

static i32 new_word(i32 kind, i64 value) {
    if (!next_token() || TOKEN_LEN >= 32) return -6;
    if (NWORDS >= WORDS) return -8;
    word *w = &DICT[NWORDS];
    for (u32 i = 0; i < TOKEN_LEN; i++) w->name[i] = (char)lower(TOKEN[i]);
    w->len = TOKEN_LEN;
    w->kind = kind;
    w->value = value;
    return (i32)NWORDS++;
}

static i32 defining_word(int compiling) {
    i64 v;
    i32 r;
    if (token_is(":")) {
        if (compiling) return -6;
        r = new_word(0, HERE_CODE);
        if (r < 0) return r;
        CURRENT = r;
        CSP = 0;
        return 1;
    }
    if (token_is(";")) {
        if (!compiling || CSP) return -6;
        EMIT(OP_EXIT);
        return 2;
    }
    if (token_is("variable")) {
        if (HERE_CELL >= CELLS) return -5;
        r = new_word(2, HERE_CELL++);
        return r < 0 ? r : 0;
    }
    if (token_is("create")) {
        r = new_word(2, HERE_CELL);
        return r < 0 ? r : 0;
    }
    if (token_is("constant")) {
        if ((r = pop(&v))) return r;
        r = new_word(1, v);
        return r < 0 ? r : 0;
    }
    if (token_is("allot")) {
        if ((r = pop(&v))) return r;
        if (v < 0 || (u64)v > CELLS - HERE_CELL) return -5;
        HERE_CELL += (u32)v;
        return 0;
    }
    return 3; /* not a defining word */
}

EXPORT("forth_run") i32 forth_run(u32 len, u64 max_steps) {
    MAX_STEPS = max_steps;
    SRC = IN; SRC_LEN = len; SRC_POS = 0;
    HERE_CODE = 0; NWORDS = 0; HERE_CELL = 0; OLEN = 0; STEPS = 0; CSP = 0; DSP = 0;
    memset(PROFILE, 0, sizeof PROFILE);
    memset(MEMORY, 0, sizeof MEMORY);
    int compiling = 0;
    while (next_token()) {
        i32 r;
        if (token_is("(")) { skip_until(')'); continue; }
        if (token_is("\\")) { skip_until('\n'); continue; }
        if (token_is("cells")) continue; /* a cell address unit is one cell */
        if (compiling && (token_is(":") || token_is("variable") || token_is("create") ||
                          token_is("constant") || token_is("allot")))
            return -6;
        r = defining_word(compiling);
        if (r < 0) return r;
        if (r == 1) { compiling = 1; continue; }
        if (r == 2) { compiling = 0; continue; }
        if (r == 0) continue;
        r = compiling ? compile_token() : interpret_token();
        if (r < 0) return r;
    }
    if (compiling) return -6;
    return (i32)OLEN;
}

EXPORT("forth_steps") u64 forth_steps(void) { return STEPS; }

EXPORT("forth_profile") u64 forth_profile(u32 op) { return op < OP_COUNT ? PROFILE[op] : 0; }

EXPORT("forth_depth") u32 forth_depth(void) { return DSP; }
