// barq corpus: pattern `dot` (f32). Float reduction: rewritten only under --fast-math.
#include <stddef.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("dot_f32") float dot_f32(const float *a, const float *b, int n) {
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

EXPORT("dot_f64") double dot_f64(const double *a, const double *b, size_t n) {
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) acc += a[i] * b[i];
    return acc;
}

// Integer dot: wrapping arithmetic is associative, so this one is exact.
EXPORT("dot_i32") int dot_i32(const int *a, const int *b, int n) {
    int acc = 0;
    while (n--) acc += *a++ * *b++;
    return acc;
}

// Widening i8 -> i32 dot, the inner loop of INT8 inference.
EXPORT("dot_i8") int dot_i8(const signed char *a, const signed char *b, unsigned n) {
    int acc = 0;
    for (unsigned i = 0; i < n; i++) acc += (int)a[i] * (int)b[i];
    return acc;
}
