// barq near miss: a `sum` with an early exit on a sentinel. Must stay untouched.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("sum_until_negative") int sum_until_negative(const int *x, int n) {
    int acc = 0;
    for (int i = 0; i < n; i++) {
        if (x[i] < 0) break;
        acc += x[i];
    }
    return acc;
}
