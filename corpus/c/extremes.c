// barq corpus: running minimums and maximums (patterns `reduce_min`, `reduce_max`), f32, f64,
// i32 (signed and unsigned) and i64, as people write them: `if (x[i] > m) m = x[i]`,
// the ternary, `>=` (the last of equal values wins), of a function of the element.
// Exact: integer extremes do not depend on the order; float ones only in which zero
// wins a tie, which the kernel settles by redoing the fold in order.
// Near misses: ../near-miss/extremes_like.c.
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("max_f32") float max_f32(const float *x, int n) {
    float m = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > m) m = x[i];
    return m;
}

EXPORT("max_ge_f32") float max_ge_f32(const float *x, int n) {
    float m = -1e30f;
    for (int i = 0; i < n; i++)
        if (x[i] >= m) m = x[i];
    return m;
}

EXPORT("min_f64") double min_f64(const double *x, int n) {
    double m = 1e300;
    for (int i = 0; i < n; i++) m = x[i] < m ? x[i] : m;
    return m;
}

EXPORT("max_abs_f32") float max_abs_f32(const float *x, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) {
        float a = __builtin_fabsf(x[i]);
        if (a > m) m = a;
    }
    return m;
}

EXPORT("max_i32") int max_i32(const int *x, int n) {
    int m = INT32_MIN;
    for (int i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    return m;
}

EXPORT("min_u32") uint32_t min_u32(const uint32_t *x, int n) {
    uint32_t m = UINT32_MAX;
    for (int i = 0; i < n; i++)
        if (x[i] < m) m = x[i];
    return m;
}

EXPORT("max_i64") int64_t max_i64(const int64_t *x, int n) {
    int64_t m = INT64_MIN;
    for (int i = 0; i < n; i++)
        if (x[i] > m) m = x[i];
    return m;
}

// 8- and 16-bit elements, read four to a vector and widened as the loop reads them.
// A `uint8_t`/`int16_t` running value is re-narrowed by the loop every step
// (`m & 255`, a sign extension); the kernel runs when it starts narrow (the guard
// checks), which every value it then takes is.
EXPORT("max_u8") int max_u8(const uint8_t *p, int n) {
    uint8_t m = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > m) m = p[i];
    return m;
}

EXPORT("min_i16") int min_i16(const int16_t *p, int n) {
    int16_t m = 32767;
    for (int i = 0; i < n; i++)
        if (p[i] < m) m = p[i];
    return m;
}

EXPORT("max_u8_int") int max_u8_int(const uint8_t *p, int n) {
    int m = -1;
    for (int i = 0; i < n; i++)
        if (p[i] > m) m = p[i];
    return m;
}
