// barq corpus: pattern `softmax` (f32): a max reduction, exp of the differences,
// their sum, then a multiplication by the reciprocal (softmax) or a division
// (softmax_div). expf is wasi-libc's (musl's) libm, linked into the module
// (a reactor: plain exports, no command wrappers around them).
// barq-cflags: -lc /usr/lib/wasm32-wasi/crt1-reactor.o -Wl,--export=_initialize
#include <math.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("softmax") void softmax(const float *x, float *y, int n) {
    float m = x[0];
    for (int i = 1; i < n; i++)
        if (x[i] > m) m = x[i];
    float s = 0.0f;
    for (int i = 0; i < n; i++) {
        float e = expf(x[i] - m);
        y[i] = e;
        s += e;
    }
    float inv = 1.0f / s;
    for (int i = 0; i < n; i++) y[i] *= inv;
}

EXPORT("softmax_div") void softmax_div(const float *x, float *y, int n) {
    float m = x[0];
    for (int i = 1; i < n; i++) m = fmaxf(m, x[i]);
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += (y[i] = expf(x[i] - m));
    for (int i = 0; i < n; i++) y[i] = y[i] / s;
}

// In place, walking a pointer, a division by the sum folded into a reciprocal.
EXPORT("softmax_inplace") void softmax_inplace(float *x, int n) {
    if (n <= 0) return;
    float m = -INFINITY;
    for (float *p = x; p < x + n; p++) m = *p > m ? *p : m;
    float s = 0.0f;
    for (float *p = x; p < x + n; p++) { *p = expf(*p - m); s += *p; }
    float inv = 1.0f / s;
    for (float *p = x; p < x + n; p++) *p *= inv;
}
