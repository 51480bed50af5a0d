/* mandelbrot: escape-time iteration over an n x n grid of the square
 * [-2, 1] x [-1.5, 1.5], at most MAX_ITER steps per point; run(n) returns the
 * sum over all points of the iteration count plus trunc(1000 * zr) of the
 * final z (mod 2^32), so the result depends on the precision, not only on
 * which points escape. Built twice: with REAL=float (mandelbrot_f32)
 * and REAL=double (mandelbrot_f64), to measure float arithmetic and compares.
 * Every operation is written out in order so the Python versions can repeat
 * it (f32: rounding each result to single precision). */
#include "bench.h"

#ifndef REAL
#define REAL double
#endif

#define MAX_ITER 64

EXPORT("run") u32 run(u32 n) {
    if (n == 0) return 0;
    REAL step = (REAL)3.0 / (REAL)(i32)n;
    u32 total = 0;
    for (u32 y = 0; y < n; y++) {
        REAL ci = (REAL)(i32)y * step - (REAL)1.5;
        for (u32 x = 0; x < n; x++) {
            REAL cr = (REAL)(i32)x * step - (REAL)2.0;
            REAL zr = 0, zi = 0;
            u32 it = 0;
            while (it < MAX_ITER) {
                REAL zr2 = zr * zr;
                REAL zi2 = zi * zi;
                if (zr2 + zi2 > (REAL)4.0) break;
                zi = (zr + zr) * zi + ci;
                zr = zr2 - zi2 + cr;
                it++;
            }
            total += it + (u32)(i32)(zr * (REAL)1000.0);
        }
    }
    return total;
}
