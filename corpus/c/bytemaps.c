// barq corpus: byte maps, near misses of `memcpy` / `memset` that are not copies
// or fills but transform each byte on its own: rewritten as lockstep maps (exact),
// not as bulk memory. Built with -fno-builtin, like bytes.c.
// barq-cflags: -fno-builtin
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

// Every other byte: lockstep loads 2 bytes per lane and picks one.
EXPORT("gather_u8") void gather_u8(uint8_t *dst, const uint8_t *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = src[2 * i];
}

EXPORT("xor_u8") void xor_u8(uint8_t *dst, const uint8_t *src, int n, int key) {
    for (int i = 0; i < n; i++) dst[i] = src[i] ^ (uint8_t)key;
}

EXPORT("iota_u8") void iota_u8(uint8_t *dst, int n) {
    for (int i = 0; i < n; i++) dst[i] = (uint8_t)i;
}
