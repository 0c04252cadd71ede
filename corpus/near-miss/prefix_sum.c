// barq near miss: looks like `add`/`sum`, but out[i] depends on out[i-1] (a
// loop-carried memory dependence). Must stay untouched.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("prefix_sum") void prefix_sum(float *x, int n) {
    for (int i = 1; i < n; i++) x[i] += x[i - 1];
}
