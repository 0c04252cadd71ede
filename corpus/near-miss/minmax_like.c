// barq near misses: loops calling a function that is almost C's fmaxf but gives a
// NaN operand back in one case (`x > y ? x : y`, `x >= y ? x : y`), or keeps a
// count in a global. None is fmaxf, so no call is inlined and no loop rewritten.
// barq-cflags: -lc /usr/lib/wasm32-wasi/crt1-reactor.o -Wl,--export=_initialize
#define EXPORT(name) __attribute__((export_name(name)))
#define NOINLINE __attribute__((noinline))

NOINLINE float max_gt(float x, float y) { return x > y ? x : y; }
NOINLINE float max_ge(float x, float y) { return x >= y ? x : y; }
static int calls;
NOINLINE float max_counted(float x, float y) {
    calls++;
    return x != x ? y : y != y ? x : x < y ? y : x;
}

EXPORT("relu_max_gt") void relu_max_gt(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = max_gt(0.0f, x[i]);
}

EXPORT("relu_max_ge") void relu_max_ge(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = max_ge(x[i], 0.0f);
}

EXPORT("relu_max_counted") void relu_max_counted(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = max_counted(x[i], 0.0f);
}
