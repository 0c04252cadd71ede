// barq corpus: the index of the largest (smallest) element, as classifiers,
// nearest-neighbour searches and pivoting code write it: the value and its index
// carried together (`if (x[i] > m) { m = x[i]; k = i; }`) or the value re-read
// through the index (`if (x[i] > x[best]) best = i`), strict comparisons
// keeping the first occurrence, `>=`/`<=` the last, floats (NaN never taken), signed
// and unsigned integers, a magnitude, and a running pair passed in. Exact: each
// SIMD lane folds its own subsequence the same way, the lanes then merge by value
// and, among equal values, by index (see rewrite::reduce::build_argmax_kernel).
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("argmax_first_f32") int argmax_first_f32(const float *x, int n) {
    float m = x[0];
    int k = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > m) { m = x[i]; k = i; }
    return k;
}

EXPORT("argmin_i32") int argmin_i32(const int32_t *x, int n) {
    int32_t m = INT32_MAX;
    int k = -1;
    for (int i = 0; i < n; i++)
        if (x[i] < m) { m = x[i]; k = i; }
    return k;
}

EXPORT("argmax_last_f64") int argmax_last_f64(const double *x, int n) {
    double m = -1e300;
    int k = -1;
    for (int i = 0; i < n; i++)
        if (x[i] >= m) { m = x[i]; k = i; }
    return k;
}

EXPORT("argmin_last_f32") int argmin_last_f32(const float *x, int n) {
    float m = 3.0e38f;
    int k = -1;
    for (int i = 0; i < n; i++)
        if (x[i] <= m) { m = x[i]; k = i; }
    return k;
}

EXPORT("argmax_u32") int argmax_u32(const uint32_t *x, int n) {
    uint32_t m = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (x[i] > m) { m = x[i]; k = i; }
    return k;
}

EXPORT("argmax_i64") int argmax_i64(const int64_t *x, int n) {
    int64_t m = INT64_MIN;
    int k = -1;
    for (int i = 0; i < n; i++)
        if (x[i] > m) { m = x[i]; k = i; }
    return k;
}

EXPORT("argmax_abs_f32") int argmax_abs_f32(const float *x, int n) {
    float m = -1.0f;
    int k = -1;
    for (int i = 0; i < n; i++) {
        float a = __builtin_fabsf(x[i]);
        if (a > m) { m = a; k = i; }
    }
    return k;
}

// A running pair continued (a search over blocks): the extreme goes out through
// `best`, so its bits (which zero, which NaN) are compared too.
EXPORT("argmax_from_f32") int argmax_from_f32(const float *x, float *best, int n, float m, int k) {
    for (int i = 0; i < n; i++)
        if (x[i] >= m) { m = x[i]; k = i; }
    *best = m;
    return k;
}

EXPORT("argmin_from_f32") int argmin_from_f32(const float *x, float *best, int n, float m, int k) {
    for (int i = 0; i < n; i++)
        if (x[i] < m) { m = x[i]; k = i; }
    *best = m;
    return k;
}

// The textbook form: the extreme re-read through the index every iteration (clang
// walks x[i] with a pointer and reads x[best] from the base; the guard checks that
// they meet).
EXPORT("argmax_ref_f32") int argmax_ref_f32(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

EXPORT("argmin_ref_last_i32") int argmin_ref_last_i32(const int32_t *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] <= x[best]) best = i;
    return best;
}
