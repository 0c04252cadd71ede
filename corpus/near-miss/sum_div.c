// barq near miss: a sum of quotients. Division has no SIMD128 form and traps on a
// zero divisor (and INT_MIN / -1), so the loop must stay as it is.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("sum_div_i32") int sum_div_i32(const int *x, int n, int k) {
    int acc = 0;
    for (int i = 0; i < n; i++) acc += x[i] / k;
    return acc;
}
