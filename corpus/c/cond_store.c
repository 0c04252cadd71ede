// barq corpus: elementwise loops whose store runs only under a condition
// (`if (c) x[i] = v`), as people write ReLU, clamping and masking in place. Exact:
// the rewrite stores `c ? v : x[i]` for every element, the same bytes.
// Near misses: ../near-miss/cond_store_like.c.
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("relu_if") void relu_if(float *x, int n) {
    for (int i = 0; i < n; i++)
        if (x[i] < 0) x[i] = 0;
}

EXPORT("leaky_if") void leaky_if(float *x, int n, float a) {
    for (int i = 0; i < n; i++)
        if (x[i] < 0) x[i] *= a;
}

EXPORT("masked_copy") void masked_copy(float *out, const float *in, const uint32_t *mask, int n) {
    for (int i = 0; i < n; i++)
        if (mask[i]) out[i] = in[i];
}

EXPORT("replace_nan") void replace_nan(double *x, int n, double v) {
    for (int i = 0; i < n; i++)
        if (x[i] != x[i]) x[i] = v;
}

EXPORT("cap_i64") void cap_i64(int64_t *x, int n, int64_t cap) {
    for (int i = 0; i < n; i++)
        if (x[i] > cap) x[i] = cap;
}

EXPORT("keep_positive") void keep_positive(float *out, const float *in, int n) {
    for (int i = 0; i < n; i++)
        if (in[i] > 0) out[i] = in[i];
}
