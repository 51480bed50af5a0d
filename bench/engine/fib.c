/* fib: the doubly recursive Fibonacci function; run(n) = fib(n) mod 2^32.
 * Measures call overhead: almost every instruction is a call, a compare or
 * an add. Built with -fno-optimize-sibling-calls so that clang keeps both
 * recursive calls (otherwise it turns the second one into a loop and the
 * program no longer matches the Python version call for call). */
#include "bench.h"

static u32 fib(u32 n) {
    if (n < 2) return n;
    return fib(n - 1) + fib(n - 2);
}

EXPORT("run") u32 run(u32 n) { return fib(n); }
