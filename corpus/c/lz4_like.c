// barq near misses for `lz4_decompress`: decoders that differ from the LZ4 block
// format in one detail each, so that some well-formed LZ4 block decodes otherwise
// (or is refused); whole-function probing must not take any of them for LZ4.
// Compiled with -fno-builtin like corpus/c/lz4.c.
// barq-cflags: -fno-builtin
#include <stddef.h>
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

// The shared shape: `min_match` added to match lengths, `big_endian` offsets,
// `min_last` literals required in the last sequence, `terminate` writes a 0 after
// the output when there is room, `no_extension` reads lengths from the nibbles only.
static int decode(const uint8_t *src, int src_len, uint8_t *dst, int dst_cap, unsigned min_match,
                  int big_endian, size_t min_last, int terminate, int no_extension) {
    const uint8_t *ip = src, *iend = src + src_len;
    uint8_t *op = dst, *oend = dst + dst_cap;
    if (src_len <= 0 || dst_cap < 0) return -1;
    for (;;) {
        unsigned token = *ip++;
        size_t lit = token >> 4;
        if (lit == 15 && !no_extension) {
            unsigned b;
            do {
                if (ip >= iend) return -1;
                b = *ip++;
                lit += b;
            } while (b == 255);
        }
        if ((size_t)(iend - ip) < lit || (size_t)(oend - op) < lit) return -1;
        for (size_t i = 0; i < lit; i++) op[i] = ip[i];
        op += lit;
        ip += lit;
        if (ip == iend) {
            if (lit < min_last) return -1;
            if (terminate && op < oend) *op = 0;
            return (int)(op - dst);
        }
        if (iend - ip < 2) return -1;
        size_t off = big_endian ? (size_t)ip[0] << 8 | ip[1] : (size_t)ip[0] | (size_t)ip[1] << 8;
        ip += 2;
        if (off == 0 || off > (size_t)(op - dst)) return -1;
        size_t len = token & 15;
        if (len == 15 && !no_extension) {
            unsigned b;
            do {
                if (ip >= iend) return -1;
                b = *ip++;
                len += b;
            } while (b == 255);
        }
        len += min_match;
        if ((size_t)(oend - op) < len) return -1;
        const uint8_t *m = op - off;
        for (size_t i = 0; i < len; i++) op[i] = m[i];
        op += len;
        if (ip >= iend) return -1;
    }
}

EXPORT("lz4_min_match_3") int lz4_min_match_3(const uint8_t *s, int n, uint8_t *d, int cap) {
    return decode(s, n, d, cap, 3, 0, 0, 0, 0);
}
EXPORT("lz4_big_endian_offset") int lz4_big_endian_offset(const uint8_t *s, int n, uint8_t *d, int cap) {
    return decode(s, n, d, cap, 4, 1, 0, 0, 0);
}
EXPORT("lz4_five_last_literals") int lz4_five_last_literals(const uint8_t *s, int n, uint8_t *d, int cap) {
    return decode(s, n, d, cap, 4, 0, 5, 0, 0);
}
EXPORT("lz4_zero_terminated") int lz4_zero_terminated(const uint8_t *s, int n, uint8_t *d, int cap) {
    return decode(s, n, d, cap, 4, 0, 0, 1, 0);
}
EXPORT("lz4_no_length_bytes") int lz4_no_length_bytes(const uint8_t *s, int n, uint8_t *d, int cap) {
    return decode(s, n, d, cap, 4, 0, 0, 0, 1);
}
