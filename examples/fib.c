/*
 * The `make run` example: `wasmpool run examples/fib.wasm` calls every
 * exported function that takes no parameters and prints its result the way
 * wagon's wasm-run does, e.g. "fib20() i32 => 6765 (uint32)".
 *
 * Built by build.sh with clang (wasm32, -O2, no libc). The zero-parameter
 * exports call the worker functions through noinline so that clang cannot
 * fold the answers at compile time: the engine really computes them.
 * Sizes are chosen to run in well under a second on wasmpool's engine.
 */

#define EXPORT(name) __attribute__((export_name(name)))
#define WORKER __attribute__((noinline))

typedef unsigned long long u64;

/* Recursive Fibonacci: 2 * fib(n + 1) - 1 calls, so fib(20) makes 21891. */
EXPORT("fib") WORKER int fib(int n) {
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/* Iterative Fibonacci in 64 bits: fib(93) is the last one that fits. */
EXPORT("fib_iter") WORKER u64 fib_iter(int n) {
    u64 a = 0, b = 1;
    for (int i = 0; i < n; i++) {
        u64 next = a + b;
        a = b;
        b = next;
    }
    return a;
}

/* n! in 64 bits: 20! is the last one that fits. */
EXPORT("factorial") WORKER u64 factorial(int n) {
    u64 acc = 1;
    for (int i = 2; i <= n; i++) {
        acc *= (u64)i;
    }
    return acc;
}

/* The golden ratio as the limit of fib(n + 1) / fib(n). */
EXPORT("golden_ratio") WORKER double golden_ratio(int n) {
    return (double)fib_iter(n + 1) / (double)fib_iter(n);
}

EXPORT("fib20") int fib20(void) { return fib(20); }
EXPORT("fib90") u64 fib90(void) { return fib_iter(90); }
EXPORT("factorial20") u64 factorial20(void) { return factorial(20); }
EXPORT("golden") double golden(void) { return golden_ratio(40); }
