// barq corpus: pattern `sum` over any lane-wise function of the loads (not just a
// load or a product of two), here a scaled term. Integer sums: exact.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("sum_scaled_i32") int sum_scaled_i32(const int *x, int n, int k) {
    int acc = 0;
    for (int i = 0; i < n; i++) acc += x[i] * k;
    return acc;
}
