// barq near misses of gathered lanes (`simd-nest`, lanes a stride apart): the
// step between rows changes from one row to the next, or is read from memory
// that the loop may write. None may run in lockstep.
#define EXPORT(name) __attribute__((export_name(name)))

// Packed triangular rows: row i holds n + i elements, so the step grows.
EXPORT("rows_growing")
void rows_growing(const float *a, float *y, int m, int n, int c) {
    const float *p = a;
    for (int i = 0; i < m; i++) {
        y[i] = p[c] * 2.0f;
        p += n + i;
    }
}

// The stride is read from memory in every iteration (y may alias it: the same
// element type, so clang cannot hoist the load).
EXPORT("stride_loaded")
void stride_loaded(const float *a, float *y, const float *s, int m) {
    for (int i = 0; i < m; i++) y[i] = a[i * (int)s[0]] + 1.0f;
}

// The "invariant" changes as the loop runs.
EXPORT("stride_written")
void stride_written(const float *a, float *y, int m, int n) {
    for (int i = 0; i < m; i++) {
        y[i] = a[i * n] + 1.0f;
        n += 1;
    }
}
