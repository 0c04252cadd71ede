// barq near misses: loops walking backwards whose elements depend on each other
// through memory. None may be rewritten.
#define EXPORT(name) __attribute__((export_name(name)))

// Reads the element the previous iteration wrote (a suffix sum in place).
EXPORT("suffix_sum") void suffix_sum(float *x, int n) {
    for (int i = n - 2; i >= 0; --i) x[i] += x[i + 1];
}

// Writes each element from the one above it in the same array (a shift up).
EXPORT("shift_up") void shift_up(int *x, int n, int s) {
    for (int i = n - 1; i > 0; --i) x[i] = x[i - 1] * s;
}
