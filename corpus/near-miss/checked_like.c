// barq near misses for `bounds-checks`: C loops whose index checks cannot be
// decided once before the loop.
#define EXPORT(name) __attribute__((export_name(name)))
#define CHECK(i, n) do { if ((unsigned)(i) >= (unsigned)(n)) __builtin_trap(); } while (0)

// The checked index is loaded (a gather), not affine in the loop counter.
EXPORT("gather_checked_c")
void gather_checked_c(float *y, const float *x, const int *idx, int len, int n) {
    for (int i = 0; i < n; i++) {
        CHECK(idx[i], len);
        y[i] = x[idx[i]];
    }
}

// The length shrinks as the loop runs.
EXPORT("shrinking_checked_c")
void shrinking_checked_c(int *x, int len, int n) {
    for (int i = 0; i < n; i++) {
        CHECK(i, len);
        x[i] = len;
        len -= x[n - 1 - i] & 1;
    }
}
