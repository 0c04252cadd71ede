// barq runner corpus: a library module (no _start) whose exports `--invoke` calls,
// with a loop barq rewrites, a trap and an endless loop for the limits.
#define EXPORT(name) __attribute__((export_name(name)))

static int xs[4096];

// A fill (rewritten as a SIMD store loop) and a scaled sum (a SIMD reduction).
EXPORT("fill") void fill(int n, int v) {
    for (int i = 0; i < n; i++) xs[i] = v;
}

EXPORT("scaled_sum") int scaled_sum(int n, int k) {
    int acc = 0;
    for (int i = 0; i < n; i++) acc += xs[i] * k;
    return acc;
}

EXPORT("divide") int divide(int a, int b) { return a / b; }

EXPORT("spin") int spin(int n) {
    volatile int x = 0;
    while (n) x++;
    return x;
}

EXPORT("wide") long long wide(long long a, double b) { return a + (long long)b; }
