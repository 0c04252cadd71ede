// barq corpus: C loops that check each index against a length and trap
// (`__builtin_trap()`, as a checked-array macro or a hardened build does).
#define EXPORT(name) __attribute__((export_name(name)))
#define CHECK(i, n) do { if ((unsigned)(i) >= (unsigned)(n)) __builtin_trap(); } while (0)

EXPORT("scale_checked_c")
void scale_checked_c(float *x, int len, int n, float s) {
    for (int i = 0; i < n; i++) {
        CHECK(i, len);
        x[i] *= s;
    }
}

EXPORT("add_checked_c")
void add_checked_c(const int *a, int na, const int *b, int nb, int *c, int n) {
    for (int i = 0; i < n; i++) {
        CHECK(i, na);
        CHECK(i, nb);
        c[i] = a[i] + b[i];
    }
}

EXPORT("shift_checked_c")
void shift_checked_c(unsigned char *dst, const unsigned char *src, int len, int off, int n) {
    for (int i = n - 1; i >= 0; i--) {
        CHECK(i + off, len);
        dst[i] = src[i + off] >> 1;
    }
}
