// barq corpus: reductions written with several partial sums, acc_j taking every
// m-th element (hand-unrolled code, and what clang's interleaving emits under
// -ffast-math without SIMD). SIMD lane j adds exactly what acc_j adds, in the same
// order, so even the float versions are rewritten exactly, by default.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("dot4_f32") float dot4_f32(const float *a, const float *b, int n) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

EXPORT("sum8_f32") float sum8_f32(const float *x, int blocks) {
    float s[8] = {0};
    for (int b = 0; b < blocks; b++)
        for (int j = 0; j < 8; j++) s[j] += x[8 * b + j];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

EXPORT("sum_squares2_f64") double sum_squares2_f64(const double *x, int n) {
    double s0 = 0.0, s1 = 0.0;
    for (int i = 0; i + 1 < n; i += 2) {
        s0 += x[i] * x[i];
        s1 += x[i + 1] * x[i + 1];
    }
    return s0 + s1;
}

EXPORT("sum4_i32") int sum4_i32(const int *x, int n) {
    int s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (int i = 0; i + 3 < n; i += 4) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
    }
    return s0 ^ s1 ^ s2 ^ s3;
}
