// barq corpus: patterns `memcpy` and `memset` written as loops (byte, halfword,
// word and i64 elements; forward and backward; constant and variable fill; the
// "smear" fill buf[i] = buf[i-1]). Built with -fno-builtin, since clang otherwise
// turns these loops into memcpy/memset calls itself.
// barq-cflags: -fno-builtin
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("copy_u8") void copy_u8(uint8_t *dst, const uint8_t *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = src[i];
}

EXPORT("copy_u8_ptr") void copy_u8_ptr(uint8_t *dst, const uint8_t *src, unsigned n) {
    while (n--) *dst++ = *src++;
}

EXPORT("copy_back_u8") void copy_back_u8(uint8_t *dst, const uint8_t *src, int n) {
    for (int i = n - 1; i >= 0; i--) dst[i] = src[i];
}

EXPORT("copy_u16") void copy_u16(uint16_t *dst, const uint16_t *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = src[i];
}

EXPORT("copy_u32") void copy_u32(uint32_t *dst, const uint32_t *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = src[i];
}

EXPORT("copy_u64") void copy_u64(uint64_t *dst, const uint64_t *src, int n) {
    for (int i = 0; i < n; i++) dst[i] = src[i];
}

EXPORT("fill_u8") void fill_u8(uint8_t *dst, uint8_t v, int n) {
    for (int i = 0; i < n; i++) dst[i] = v;
}

EXPORT("zero_u8") void zero_u8(uint8_t *dst, int n) {
    for (int i = 0; i < n; i++) dst[i] = 0;
}

EXPORT("fill_u16") void fill_u16(uint16_t *dst, uint16_t v, int n) {
    for (int i = 0; i < n; i++) dst[i] = v;
}

EXPORT("zero_u32") void zero_u32(uint32_t *dst, int n) {
    for (int i = 0; i < n; i++) dst[i] = 0;
}

EXPORT("ones_u64") void ones_u64(uint64_t *dst, int n) {
    for (int i = 0; i < n; i++) dst[i] = ~(uint64_t)0;
}

EXPORT("smear_u8") void smear_u8(uint8_t *buf, int n) {
    for (int i = 1; i < n; i++) buf[i] = buf[i - 1];
}

// A copy nested in another loop (the rows of a 2-D block, `stride` bytes apart):
// many short copies in hot code, as in decoders.
EXPORT("copy_rows_u8")
void copy_rows_u8(uint8_t *dst, const uint8_t *src, int n, int rows, int stride) {
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) dst[r * stride + i] = src[r * stride + i];
}

// Fills nested in another loop (rows of a 2-D block, `stride` elements apart).
EXPORT("fill_rows_u8")
void fill_rows_u8(uint8_t *dst, uint8_t v, int n, int rows, int stride) {
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) dst[r * stride + i] = v;
}

EXPORT("zero_rows_u32") void zero_rows_u32(uint32_t *dst, int n, int rows, int stride) {
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) dst[r * stride + i] = 0;
}
