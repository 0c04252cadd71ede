// barq corpus: `axpy` and `sum` written with manual 4x unrolling and a remainder
// loop, as hand-tuned C often is; and a `scale` through bumped pointers and while(n--).
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("axpy_unrolled") void axpy_unrolled(float a, const float *x, float *y, int n) {
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        y[i] += a * x[i];
        y[i + 1] += a * x[i + 1];
        y[i + 2] += a * x[i + 2];
        y[i + 3] += a * x[i + 3];
    }
    for (; i < n; i++) y[i] += a * x[i];
}

EXPORT("sum_unrolled") int sum_unrolled(const int *x, int n) {
    int s = 0, i = 0;
    for (; i + 4 <= n; i += 4) s += x[i] + x[i + 1] + x[i + 2] + x[i + 3];
    for (; i < n; i++) s += x[i];
    return s;
}

EXPORT("scale_bumped") void scale_bumped(float a, const float *x, float *y, unsigned n) {
    while (n--) *y++ = a * *x++;
}
