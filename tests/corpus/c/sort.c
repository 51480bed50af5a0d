/* Sorting through function pointers (call_indirect): a generic quicksort and
 * a generic merge sort over records of any size, as C's qsort does, with
 * comparators picked from a table at run time.
 *   sort_records(n, size, key, algorithm) sorts n records of `size` bytes at
 *   IN in place: key 0 orders by the i32 at offset 0, 1 by the u64 at offset
 *   8 descending, 2 by the NUL-padded name at offset 16 then the i32, 3 by
 *   the f64 at offset 24 (NaN-free); algorithm 0 is the quicksort, 1 the
 *   merge sort (stable: records equal by key keep their order). Returns the
 *   number of comparisons. */
#include "corpus.h"

typedef int (*compare_fn)(const void *, const void *);

static int by_i32(const void *a, const void *b) {
    i32 x = *(const i32 *)a, y = *(const i32 *)b;
    return (x > y) - (x < y);
}

static int by_u64_desc(const void *a, const void *b) {
    u64 x = *(const u64 *)((const u8 *)a + 8), y = *(const u64 *)((const u8 *)b + 8);
    return (x < y) - (x > y);
}

static int by_name_then_i32(const void *a, const void *b) {
    int c = memcmp((const u8 *)a + 16, (const u8 *)b + 16, 8);
    return c ? (c > 0) - (c < 0) : by_i32(a, b);
}

static int by_f64(const void *a, const void *b) {
    double x = *(const double *)((const u8 *)a + 24), y = *(const double *)((const u8 *)b + 24);
    return (x > y) - (x < y);
}

static const compare_fn COMPARATORS[] = {by_i32, by_u64_desc, by_name_then_i32, by_f64};
static compare_fn CMP;
static u32 COMPARISONS;

static int counted(const void *a, const void *b) {
    COMPARISONS++;
    return CMP(a, b);
}

static void swap(u8 *a, u8 *b, u32 size) {
    for (u32 i = 0; i < size; i++) {
        u8 t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

static void quicksort(u8 *base, u32 n, u32 size, compare_fn cmp) {
    while (n > 1) {
        if (n < 8) { /* insertion sort for short runs */
            for (u32 i = 1; i < n; i++)
                for (u32 j = i; j > 0 && cmp(base + (j - 1) * size, base + j * size) > 0; j--)
                    swap(base + (j - 1) * size, base + j * size, size);
            return;
        }
        swap(base, base + (n / 2) * size, size); /* middle element as the pivot, moved to the front */
        u32 last = 0;
        for (u32 i = 1; i < n; i++)
            if (cmp(base + i * size, base) < 0) swap(base + ++last * size, base + i * size, size);
        swap(base, base + last * size, size);
        /* recurse into the smaller side, loop on the larger */
        if (last < n - last - 1) {
            quicksort(base, last, size, cmp);
            base += (last + 1) * size;
            n -= last + 1;
        } else {
            quicksort(base + (last + 1) * size, n - last - 1, size, cmp);
            n = last;
        }
    }
}

static u8 TMP[IO_SIZE];

static void mergesort(u8 *base, u32 n, u32 size, compare_fn cmp) {
    if (n < 2) return;
    u32 half = n / 2;
    mergesort(base, half, size, cmp);
    mergesort(base + half * size, n - half, size, cmp);
    u32 i = 0, j = half, k = 0;
    while (i < half && j < n) {
        if (cmp(base + j * size, base + i * size) < 0) memcpy(TMP + k++ * size, base + j++ * size, size);
        else memcpy(TMP + k++ * size, base + i++ * size, size);
    }
    while (i < half) memcpy(TMP + k++ * size, base + i++ * size, size);
    while (j < n) memcpy(TMP + k++ * size, base + j++ * size, size);
    memcpy(base, TMP, n * size);
}

static void (*const ALGORITHMS[])(u8 *, u32, u32, compare_fn) = {quicksort, mergesort};

EXPORT("sort_records") i32 sort_records(u32 n, u32 size, u32 key, u32 algorithm) {
    if (key > 3 || algorithm > 1 || size < 32 || n * size > IO_SIZE) return -1;
    CMP = COMPARATORS[key];
    COMPARISONS = 0;
    ALGORITHMS[algorithm](IN, n, size, counted);
    return (i32)COMPARISONS;
}
