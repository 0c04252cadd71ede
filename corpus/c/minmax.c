// barq corpus: ReLU and clamps through libm's fmaxf/fminf (fmax/fmin for f64),
// which clang compiles to calls (wasm's f32.max gives NaN for a NaN operand;
// fmaxf gives the other operand): wasi-libc's (musl's) functions, linked in.
// barq-cflags: -lc /usr/lib/wasm32-wasi/crt1-reactor.o -Wl,--export=_initialize
#include <math.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("relu_fmaxf") void relu_fmaxf(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = fmaxf(x[i], 0.0f);
}

EXPORT("clamp_fminmaxf") void clamp_fminmaxf(const float *x, float *y, int n, float lo, float hi) {
    for (int i = 0; i < n; i++) y[i] = fminf(fmaxf(x[i], lo), hi);
}

EXPORT("relu_fmax_f64") void relu_fmax_f64(double *x, int n) {
    for (int i = 0; i < n; i++) x[i] = fmax(0.0, x[i]);
}

EXPORT("max_fmaxf") float max_fmaxf(const float *x, int n) {
    float m = -INFINITY;
    for (int i = 0; i < n; i++) m = fmaxf(m, x[i]);
    return m;
}
