// barq corpus: pattern `cosine` (f32), written as one loop with three sums and as
// three adjacent loops. Float reductions: rewritten only under --fast-math.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("cosine_fused") float cosine_fused(const float *a, const float *b, int n) {
    float dot = 0.0f, na = 0.0f, nb = 0.0f;
    for (int i = 0; i < n; i++) {
        dot += a[i] * b[i];
        na += a[i] * a[i];
        nb += b[i] * b[i];
    }
    return dot / (__builtin_sqrtf(na) * __builtin_sqrtf(nb));
}

static float dot(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

static float norm(const float *a, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += a[i] * a[i];
    return __builtin_sqrtf(s);
}

EXPORT("cosine_split") float cosine_split(const float *a, const float *b, int n) {
    return dot(a, b, n) / (norm(a, n) * norm(b, n));
}

EXPORT("l2_norm_f64") double l2_norm_f64(const double *x, unsigned n) {
    double s = 0.0;
    for (unsigned i = 0; i < n; i++) s += x[i] * x[i];
    return __builtin_sqrt(s);
}
