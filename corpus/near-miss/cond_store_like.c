// barq near misses of conditional stores (../c/cond_store.c): a store that also
// counts (a local written under the condition: a value carried across iterations)
// and a store one element ahead of the element tested (the next iteration reads
// what this one wrote). Neither may be rewritten.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("relu_count") int relu_count(float *x, int n) {
    int count = 0;
    for (int i = 0; i < n; i++)
        if (x[i] < 0) {
            x[i] = 0;
            count++;
        }
    return count;
}

EXPORT("zero_after_negative") void zero_after_negative(float *x, int n) {
    for (int i = 0; i + 1 < n; i++)
        if (x[i] < 0) x[i + 1] = 0;
}
