// barq corpus: pattern `sum` over any lane-wise function of the loads (not just a
// load or a product of two), here a scaled term. Integer sums: exact.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("sum_scaled_i32") int sum_scaled_i32(const int *x, int n, int k) {
    int acc = 0;
    for (int i = 0; i < n; i++) acc += x[i] * k;
    return acc;
}

// Sums of two terms per element: clang reassociates the integer addition into
// `acc + a[i] + b[i]` (two terms of one element, exact in any grouping); the
// bitwise-or fold keeps both terms of the same element together too.
EXPORT("sum_pair_i32") int sum_pair_i32(const int *a, const int *b, int n) {
    int acc = 0;
    for (int i = 0; i < n; i++) acc += a[i] + b[i];
    return acc;
}

EXPORT("sum_mixed_i32") int sum_mixed_i32(const int *x, int n, int k) {
    int acc = 0;
    for (int i = 0; i < n; i++) acc += x[i] * k + (x[i] >> 3);
    return acc;
}

EXPORT("or_pair_i32") unsigned or_pair_i32(const unsigned *a, const unsigned *b, int n) {
    unsigned acc = 0;
    for (int i = 0; i < n; i++) acc |= a[i] | (b[i] << 1);
    return acc;
}
