// barq corpus: widening integer reductions (8- and 16-bit elements summed into
// 32-bit wrapping sums): the inner loops of INT8 inference, audio mixing and
// checksums. Exact in any order, so rewritten by default.
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("dot_u8") uint32_t dot_u8(const uint8_t *a, const uint8_t *b, int n) {
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

// Activations are unsigned, weights signed (the usual quantized layout).
EXPORT("dot_u8_i8") int32_t dot_u8_i8(const uint8_t *x, const int8_t *w, int n) {
    int32_t acc = 0;
    for (int i = 0; i < n; i++) acc += x[i] * w[i];
    return acc;
}

EXPORT("dot_i16") int32_t dot_i16(const int16_t *a, const int16_t *b, unsigned n) {
    int32_t acc = 0;
    for (unsigned i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

EXPORT("dot_u16") uint32_t dot_u16(const uint16_t *a, const uint16_t *b, int n) {
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) acc += (uint32_t)a[i] * b[i];
    return acc;
}

EXPORT("sum_u8") uint32_t sum_u8(const uint8_t *p, int n) {
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) acc += p[i];
    return acc;
}

EXPORT("sum_i16") int32_t sum_i16(const int16_t *p, int n) {
    int32_t acc = 0;
    for (int i = 0; i < n; i++) acc += p[i];
    return acc;
}

EXPORT("sum_squares_i16") int32_t sum_squares_i16(const int16_t *p, int n) {
    int32_t acc = 0;
    for (int i = 0; i < n; i++) acc += p[i] * p[i];
    return acc;
}

// A 16-bit accumulator: wrapping at 16 bits every step equals wrapping at 32 bits
// and truncating once at the end, so clang keeps an i32 sum (exact to rewrite).
EXPORT("dot_i8_acc16") int16_t dot_i8_acc16(const int8_t *a, const int8_t *b, int n) {
    int16_t acc = 0;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

// Terms other than a load, a product of loads or a comparison, computed in i32
// lanes from four extended elements: the sum of absolute differences of motion
// search and image diffs (clang's `abs` is a shift, xor and subtract), the sum of
// squared differences, the absolute sum of 16-bit samples (a ternary), a weighted
// sum by a parameter and a count of bytes in a range (a subtract and one unsigned
// comparison).
EXPORT("sad_u8") uint32_t sad_u8(const uint8_t *a, const uint8_t *b, int n) {
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) {
        int d = a[i] - b[i];
        acc += d < 0 ? -d : d;
    }
    return acc;
}

EXPORT("ssd_u8") uint32_t ssd_u8(const uint8_t *a, const uint8_t *b, int n) {
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) {
        int d = a[i] - b[i];
        acc += d * d;
    }
    return acc;
}

EXPORT("abs_sum_i16") int32_t abs_sum_i16(const int16_t *x, int n) {
    int32_t acc = 0;
    for (int i = 0; i < n; i++) acc += x[i] < 0 ? -x[i] : x[i];
    return acc;
}

EXPORT("weighted_u16") uint32_t weighted_u16(const uint16_t *x, uint32_t w, int n) {
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) acc += x[i] * w + (x[i] >> 3);
    return acc;
}

EXPORT("count_range_u8") int count_range_u8(const uint8_t *p, int lo, int hi, int n) {
    int acc = 0;
    for (int i = 0; i < n; i++) acc += p[i] >= lo && p[i] <= hi;
    return acc;
}

// A constant-time comparison: the or of the bytes' differences (a bitwise fold).
EXPORT("ct_diff_u8") int ct_diff_u8(const uint8_t *a, const uint8_t *b, int n) {
    uint8_t acc = 0;
    for (int i = 0; i < n; i++) acc |= a[i] ^ b[i];
    return acc != 0;
}
