// barq near misses for `memcpy` / `memset` over bytes. Must stay untouched:
// - repeat2: buf[i] = buf[i - 2] repeats a 2-byte pattern (an LZ77 match copy with
//   distance 2): memmove would copy the old bytes instead;
// (gather_u8, xor_u8 and iota_u8, once here, are byte maps: c/bytemaps.c.)
// barq-cflags: -fno-builtin
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("repeat2") void repeat2(uint8_t *buf, int n) {
    for (int i = 2; i < n; i++) buf[i] = buf[i - 2];
}
