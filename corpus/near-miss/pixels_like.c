// barq near misses: byte loops that look like 8-bit maps but are not elementwise,
// so no rewrite may touch them: delta decoding (each byte adds the one before it,
// as PNG's Sub filter does), a write one element ahead of the read, a table lookup
// (a gather), and a channel swap over RGB triples (stride 3).
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("delta_decode_u8") void delta_decode_u8(uint8_t *p, int n) {
    for (int i = 1; i < n; i++) p[i] = p[i] + p[i - 1];
}

EXPORT("shift_ahead_u8") void shift_ahead_u8(uint8_t *p, int n) {
    for (int i = 0; i < n; i++) p[i + 1] = p[i] ^ 0x55;
}

EXPORT("lookup_u8") void lookup_u8(const uint8_t *in, uint8_t *out, const uint8_t *lut, int n) {
    for (int i = 0; i < n; i++) out[i] = lut[in[i]];
}

EXPORT("swap_rb_u8") void swap_rb_u8(uint8_t *p, int n) {
    for (int i = 0; i < n; i++) {
        uint8_t r = p[3 * i];
        p[3 * i] = p[3 * i + 2];
        p[3 * i + 2] = r;
    }
}
