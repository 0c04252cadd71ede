// barq near misses for `zstd_decompress`: functions with ZSTD_decompress's
// signature that parse a Zstandard frame (RFC 8878) but do not decode it as the
// library does, so whole-function probing must not take them for it:
// `zstd_raw_only` decodes raw and RLE blocks and refuses compressed ones (and
// never checks the checksum); `zstd_size_only` returns the declared content size
// and writes nothing.
// barq-cflags: -fno-builtin
#include <stddef.h>
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

#define MAGIC 0xFD2FB528u
#define ERROR(n) ((size_t)-(n))

static uint64_t read_le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

// Parses the frame header at `ip`; returns its size (0 when malformed) and the
// content size (-1 when absent) and checksum flag.
static size_t header(const uint8_t *ip, size_t avail, uint64_t *content, int *checksum) {
    static const int fcs_bytes[4] = {0, 2, 4, 8};
    static const int did_bytes[4] = {0, 1, 2, 4};
    if (avail < 5 || read_le(ip, 4) != MAGIC) return 0;
    unsigned fhd = ip[4];
    int single = fhd >> 5 & 1;
    int fcs = fcs_bytes[fhd >> 6];
    if (fcs == 0 && single) fcs = 1;
    size_t size = 5 + !single + did_bytes[fhd & 3] + fcs;
    if (avail < size || (fhd & 8)) return 0;
    *content = fcs ? read_le(ip + size - fcs, fcs) + (fcs == 2 ? 256 : 0) : (uint64_t)-1;
    *checksum = fhd >> 2 & 1;
    return size;
}

EXPORT("zstd_raw_only")
size_t zstd_raw_only(uint8_t *dst, size_t cap, const uint8_t *src, size_t size) {
    uint64_t content;
    int checksum;
    size_t h = header(src, size, &content, &checksum);
    if (!h) return ERROR(10);
    const uint8_t *ip = src + h, *iend = src + size;
    uint8_t *op = dst, *oend = dst + cap;
    for (;;) {
        if (iend - ip < 3) return ERROR(72);
        uint32_t bh = (uint32_t)read_le(ip, 3);
        ip += 3;
        size_t bsize = bh >> 3;
        int type = bh >> 1 & 3;
        if (type == 0) {
            if ((size_t)(iend - ip) < bsize) return ERROR(72);
            if ((size_t)(oend - op) < bsize) return ERROR(70);
            for (size_t i = 0; i < bsize; i++) op[i] = ip[i];
            ip += bsize;
        } else if (type == 1) {
            if (ip >= iend) return ERROR(72);
            if ((size_t)(oend - op) < bsize) return ERROR(70);
            for (size_t i = 0; i < bsize; i++) op[i] = *ip;
            ip += 1;
        } else {
            return ERROR(20);
        }
        op += bsize;
        if (bh & 1) break;
    }
    if (checksum) ip += 4;
    if (ip > iend) return ERROR(72);
    return (size_t)(op - dst);
}

EXPORT("zstd_size_only")
size_t zstd_size_only(uint8_t *dst, size_t cap, const uint8_t *src, size_t size) {
    uint64_t content;
    int checksum;
    (void)dst;
    if (!header(src, size, &content, &checksum)) return ERROR(10);
    if (content == (uint64_t)-1) return ERROR(14);
    if (content > cap) return ERROR(70);
    return (size_t)content;
}
