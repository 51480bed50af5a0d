/* sort: quicksort (Hoare partition, middle pivot; recurse into the smaller
 * part, loop on the larger) of n pseudo-random signed 32-bit integers.
 * run(n) returns sum((i + 1) * a[i]) mod 2^32 over the sorted array, or 0 if
 * it is not sorted. Measures loads/stores, signed compares and branches. */
#include "bench.h"

#define MAX_ITEMS (1 << 18)

static i32 items[MAX_ITEMS];

static void quicksort(i32 *a, i32 lo, i32 hi) {
    while (lo < hi) {
        i32 pivot = a[lo + (hi - lo) / 2];
        i32 i = lo - 1, j = hi + 1;
        for (;;) {
            do i++; while (a[i] < pivot);
            do j--; while (a[j] > pivot);
            if (i >= j) break;
            i32 t = a[i]; a[i] = a[j]; a[j] = t;
        }
        if (j - lo < hi - j) {
            quicksort(a, lo, j);
            lo = j + 1;
        } else {
            quicksort(a, j + 1, hi);
            hi = j;
        }
    }
}

EXPORT("run") u32 run(u32 n) {
    if (n > MAX_ITEMS) n = MAX_ITEMS;
    u32 seed = 3;
    for (u32 i = 0; i < n; i++) items[i] = (i32)lcg32(&seed);
    quicksort(items, 0, (i32)n - 1);
    u32 sum = 0;
    for (u32 i = 0; i < n; i++) {
        if (i > 0 && items[i - 1] > items[i]) return 0;
        sum += (i + 1) * (u32)items[i];
    }
    return sum;
}
