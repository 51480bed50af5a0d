/* crc32: the table-driven CRC-32 (IEEE 802.3, reflected polynomial
 * 0xEDB88320, as in zlib) of an n-byte buffer of pseudo-random bytes; run(n)
 * returns the CRC. The 256-entry table is rebuilt on every call. Measures
 * byte loads, table lookups (i32 loads at computed addresses) and shifts. */
#include "bench.h"

#define MAX_BYTES (1 << 20)

static u8 data[MAX_BYTES];
static u32 table[256];

static void make_table(void) {
    for (u32 i = 0; i < 256; i++) {
        u32 c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

EXPORT("run") u32 run(u32 n) {
    if (n > MAX_BYTES) n = MAX_BYTES;
    make_table();
    u32 seed = 2;
    for (u32 i = 0; i < n; i++) data[i] = (u8)(lcg32(&seed) >> 24);
    u32 crc = 0xFFFFFFFFu;
    for (u32 i = 0; i < n; i++) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
    return crc ^ 0xFFFFFFFFu;
}
