// barq corpus: patterns `sum_squares` and `l2_norm` (f32). Float reductions: --fast-math.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("sum_squares") float sum_squares(const float *x, int n) {
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += x[i] * x[i];
    return acc;
}

EXPORT("l2_norm") float l2_norm(const float *x, long n) {
    float acc = 0.0f;
    for (long i = 0; i < n; ++i) acc += x[i] * x[i];
    return __builtin_sqrtf(acc);
}

EXPORT("sum_i32") int sum_i32(const int *x, int n) {
    int acc = 0;
    for (const int *end = x + n; x != end; x++) acc += *x;
    return acc;
}
