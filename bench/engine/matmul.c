/* matmul: C = A x B for n x n matrices of 64-bit integers, wrapping mod
 * 2^64, with A and B filled from a 64-bit LCG. run(n) returns the 64-bit
 * checksum h = h * 31 + C[i][j] over C in row-major order. Measures i64
 * multiply/add and i64 loads/stores. */
#include "bench.h"

#define MAX_N 256

static u64 A[MAX_N * MAX_N], B[MAX_N * MAX_N], C[MAX_N * MAX_N];

EXPORT("run") u64 run(u32 n) {
    if (n > MAX_N) n = MAX_N;
    u64 seed = 4;
    for (u32 i = 0; i < n * n; i++) A[i] = lcg64(&seed);
    for (u32 i = 0; i < n * n; i++) B[i] = lcg64(&seed);
    for (u32 i = 0; i < n; i++) {
        for (u32 j = 0; j < n; j++) {
            u64 s = 0;
            for (u32 k = 0; k < n; k++) s += A[i * n + k] * B[k * n + j];
            C[i * n + j] = s;
        }
    }
    u64 h = 0;
    for (u32 i = 0; i < n * n; i++) h = h * 31 + C[i];
    return h;
}
