// barq corpus: patterns `axpy` (y += a*x) and `scale` (y = a*x), f32. Exact: each
// output element is computed independently, in the same order as the scalar code.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("axpy") void axpy(float a, const float *x, float *y, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

EXPORT("scale") void scale(float a, const float *x, float *y, unsigned n) {
    for (unsigned i = 0; i < n; i++) y[i] = a * x[i];
}

EXPORT("add_f32") void add_f32(const float *a, const float *b, float *out, int n) {
    for (int i = 0; i < n; i++) out[i] = a[i] + b[i];
}
