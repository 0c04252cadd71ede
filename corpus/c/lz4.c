// barq corpus: pattern `lz4_decompress`, an LZ4 block decoder written from the
// format description (lz4_Block_format.md): sequences of a token (literal length
// in the high nibble, match length - 4 in the low one, 15 meaning "more bytes
// follow, each added, until one is not 255"), the literals, a 2-byte little-endian
// offset and the match, copied byte by byte so that overlapping matches repeat.
// The last sequence has literals only. Every read and write is checked: returns
// the decompressed size, or -1 for malformed input or a too small output.
// Compiled with -fno-builtin so that the copy loops stay loops.
// barq-cflags: -fno-builtin
#include <stddef.h>
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("lz4_decompress")
int lz4_decompress(const uint8_t *src, int src_len, uint8_t *dst, int dst_cap) {
    const uint8_t *ip = src, *iend = src + src_len;
    uint8_t *op = dst, *oend = dst + dst_cap;
    if (src_len <= 0 || dst_cap < 0) return -1;
    for (;;) {
        unsigned token = *ip++;
        size_t lit = token >> 4;
        if (lit == 15) {
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
        if (ip == iend) return (int)(op - dst);
        if (iend - ip < 2) return -1;
        size_t off = (size_t)ip[0] | (size_t)ip[1] << 8;
        ip += 2;
        if (off == 0 || off > (size_t)(op - dst)) return -1;
        size_t len = token & 15;
        if (len == 15) {
            unsigned b;
            do {
                if (ip >= iend) return -1;
                b = *ip++;
                len += b;
            } while (b == 255);
        }
        len += 4;
        if ((size_t)(oend - op) < len) return -1;
        const uint8_t *m = op - off;
        for (size_t i = 0; i < len; i++) op[i] = m[i];
        op += len;
        if (ip >= iend) return -1;
    }
}
