// barq corpus near misses for `softmax` (whole-function; their loops are fair
// game for the loop passes, hence c/, not near-miss/): each differs from a softmax in one
// detail and must never be identified as one.
// barq-cflags: -lc /usr/lib/wasm32-wasi/crt1-reactor.o -Wl,--export=_initialize
#include <math.h>
#define EXPORT(name) __attribute__((export_name(name)))

// No maximum subtracted: equal for small inputs, overflows for large ones.
EXPORT("softmax_unshifted") void softmax_unshifted(const float *x, float *y, int n) {
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += (y[i] = expf(x[i]));
    for (int i = 0; i < n; i++) y[i] /= s;
}

// log-softmax: x - max - log(sum).
EXPORT("log_softmax") void log_softmax(const float *x, float *y, int n) {
    float m = x[0];
    for (int i = 1; i < n; i++) m = fmaxf(m, x[i]);
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += expf(x[i] - m);
    float l = logf(s);
    for (int i = 0; i < n; i++) y[i] = x[i] - m - l;
}

// A temperature of 2.
EXPORT("softmax_t2") void softmax_t2(const float *x, float *y, int n) {
    float m = x[0];
    for (int i = 1; i < n; i++) m = fmaxf(m, x[i]);
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += (y[i] = expf((x[i] - m) * 0.5f));
    for (int i = 0; i < n; i++) y[i] /= s;
}

// The last element left out of the sum.
EXPORT("softmax_short_sum") void softmax_short_sum(const float *x, float *y, int n) {
    float m = x[0];
    for (int i = 1; i < n; i++) m = fmaxf(m, x[i]);
    float s = 0.0f;
    for (int i = 0; i < n; i++) {
        y[i] = expf(x[i] - m);
        if (i + 1 < n) s += y[i];
    }
    for (int i = 0; i < n; i++) y[i] /= s;
}

// Normalized by the largest exponential instead of the sum.
EXPORT("softmax_by_max") void softmax_by_max(const float *x, float *y, int n) {
    float m = x[0];
    for (int i = 1; i < n; i++) m = fmaxf(m, x[i]);
    for (int i = 0; i < n; i++) y[i] = expf(x[i] - m);
}

// Divided by the sum plus an epsilon.
EXPORT("softmax_eps") void softmax_eps(const float *x, float *y, int n) {
    float m = x[0];
    for (int i = 1; i < n; i++) m = fmaxf(m, x[i]);
    float s = 0.0f;
    for (int i = 0; i < n; i++) s += (y[i] = expf(x[i] - m));
    for (int i = 0; i < n; i++) y[i] /= (s + 1e-3f);
}
