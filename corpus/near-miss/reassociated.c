// barq near misses for the reduction rewrites. Each must stay untouched by default.
#define EXPORT(name) __attribute__((export_name(name)))

// Two partial sums, but each adds a pair per step as (a + b): the sum is a tree,
// not a chain, so SIMD lanes would add in another order (float: not exact).
EXPORT("pairs_f32") float pairs_f32(const float *a, int n) {
    float s0 = 0.0f, s1 = 0.0f;
    for (int i = 0; i + 3 < n; i += 4) {
        s0 += a[i] + a[i + 2];
        s1 += a[i + 1] + a[i + 3];
    }
    return s0 + s1;
}

// Three partial sums do not fill whole SIMD vectors.
EXPORT("sum3_f32") float sum3_f32(const float *a, int n) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f;
    for (int i = 0; i + 2 < n; i += 3) {
        s0 += a[i];
        s1 += a[i + 1];
        s2 += a[i + 2];
    }
    return s0 + s1 + s2;
}

// Partial sums of one stream, but the second reads the other stream.
EXPORT("crossed_f32") float crossed_f32(const float *a, const float *b, int n) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    for (int i = 0; i + 3 < n; i += 4) {
        s0 += a[i];
        s1 += b[i + 1];
        s2 += a[i + 2];
        s3 += a[i + 3];
    }
    return s0 + s1 + s2 + s3;
}
