/* interp: a tiny register virtual machine interpreting a bytecode program
 * kept in linear memory (a data segment), dispatched by a `switch` that clang
 * lowers to a br_table. Every instruction is four bytes: opcode, a, b, c.
 * The program runs a xorshift32 generator n times (testing n first), mixing each value into a
 * 64-word scratch memory and an accumulator, then folds the scratch memory
 * into the accumulator; run(n) returns the accumulator. Measures br_table
 * dispatch, byte loads and short basic blocks: the typical shape of
 * interpreter-style contract code. The same program is in pyversions.py. */
#include "bench.h"

enum Op {
    HALT,  /* return r1 */
    LI,    /* r[a] = b | c << 8 */
    ADD,   /* r[a] = r[b] + r[c] */
    SUB,   /* r[a] = r[b] - r[c] */
    MUL,   /* r[a] = r[b] * r[c] */
    XOR,   /* r[a] = r[b] ^ r[c] */
    AND,   /* r[a] = r[b] & r[c] */
    OR,    /* r[a] = r[b] | r[c] */
    SHLI,  /* r[a] = r[b] << c */
    SHRI,  /* r[a] = r[b] >> c */
    ADDI,  /* r[a] = r[b] + c */
    SUBI,  /* r[a] = r[b] - c */
    LOAD,  /* r[a] = mem[r[b] % 64] */
    STORE, /* mem[r[b] % 64] = r[a] */
    JNZ,   /* if r[a] != 0: pc = b | c << 8 */
    JMP,   /* pc = b | c << 8 */
};

#define PROGRAM_LEN 24

static const u8 PROGRAM[PROGRAM_LEN * 4] = {
    LI, 1, 0x00, 0x00,     /*  0: acc = 0 */
    LI, 2, 0x34, 0x12,     /*  1: x = 0x1234 */
    LI, 9, 0x37, 0x9E,     /*  2: k = 0x9E37 */
    JNZ, 0, 5, 0,          /*  3: loop: if n: goto body */
    JMP, 0, 18, 0,         /*  4: goto fold */
    SHLI, 3, 2, 13,        /*  5: body: x ^= x << 13 */
    XOR, 2, 2, 3,          /*  6 */
    SHRI, 3, 2, 17,        /*  7: x ^= x >> 17 */
    XOR, 2, 2, 3,          /*  8 */
    SHLI, 3, 2, 5,         /*  9: x ^= x << 5 */
    XOR, 2, 2, 3,          /* 10 */
    LOAD, 4, 2, 0,         /* 11: v = mem[x % 64] + x */
    ADD, 4, 4, 2,          /* 12 */
    STORE, 4, 0, 0,        /* 13: mem[n % 64] = v */
    MUL, 5, 4, 9,          /* 14: acc += v * k */
    ADD, 1, 1, 5,          /* 15 */
    SUBI, 0, 0, 1,         /* 16: n -= 1 */
    JMP, 0, 3, 0,          /* 17: goto loop */
    LI, 6, 64, 0,          /* 18: fold: i = 64 */
    SUBI, 6, 6, 1,         /* 19: next: i -= 1 */
    LOAD, 7, 6, 0,         /* 20: acc ^= mem[i] */
    XOR, 1, 1, 7,          /* 21 */
    JNZ, 6, 19, 0,         /* 22: if i: goto next */
    HALT, 0, 0, 0,         /* 23 */
};

static u32 regs[16];
static u32 mem[64];

EXPORT("run") u32 run(u32 n) {
    for (int i = 0; i < 16; i++) regs[i] = 0;
    for (int i = 0; i < 64; i++) mem[i] = 0;
    regs[0] = n;
    u32 pc = 0;
    for (;;) {
        const u8 *ins = PROGRAM + 4 * pc;
        u32 a = ins[1], b = ins[2], c = ins[3];
        pc++;
        switch ((enum Op)ins[0]) {
        case HALT: return regs[1];
        case LI: regs[a] = b | c << 8; break;
        case ADD: regs[a] = regs[b] + regs[c]; break;
        case SUB: regs[a] = regs[b] - regs[c]; break;
        case MUL: regs[a] = regs[b] * regs[c]; break;
        case XOR: regs[a] = regs[b] ^ regs[c]; break;
        case AND: regs[a] = regs[b] & regs[c]; break;
        case OR: regs[a] = regs[b] | regs[c]; break;
        case SHLI: regs[a] = regs[b] << (c & 31); break;
        case SHRI: regs[a] = regs[b] >> (c & 31); break;
        case ADDI: regs[a] = regs[b] + c; break;
        case SUBI: regs[a] = regs[b] - c; break;
        case LOAD: regs[a] = mem[regs[b] % 64]; break;
        case STORE: mem[regs[b] % 64] = regs[a]; break;
        case JNZ: if (regs[a] != 0) pc = b | c << 8; break;
        case JMP: pc = b | c << 8; break;
        default: return 0xFFFFFFFFu;
        }
        if (pc >= PROGRAM_LEN) return 0xFFFFFFFFu;
    }
}
