// barq corpus, near misses of `attention`: each differs from scaled dot-product
// attention in one detail and must never be identified: no maximum subtracted
// (expf overflows on large scores), a causal mask that lets each query see one
// key too many, the scale multiplied by sqrt(d) instead of divided, no
// normalization by the sum, V read transposed, and the scores left in a caller's
// buffer (memory the kernel would not write).
// barq-cflags: -lc /usr/lib/wasm32-wasi/crt1-reactor.o -Wl,--export=_initialize
#include <float.h>
#include <math.h>
#define EXPORT(name) __attribute__((export_name(name)))

#define BODY(SCALE, MAXSUB, NORM, VAT, LIMIT) \
    for (int i = 0; i < n; i++) { \
        float mx = -FLT_MAX; \
        for (int j = 0; j < LIMIT; j++) { \
            float dot = 0.0f; \
            for (int c = 0; c < d; c++) dot += q[i * d + c] * k[j * d + c]; \
            s[j] = dot * (SCALE); \
            if (s[j] > mx) mx = s[j]; \
        } \
        float sum = 0.0f; \
        for (int j = 0; j < LIMIT; j++) { \
            s[j] = expf(s[j] - (MAXSUB)); \
            sum += s[j]; \
        } \
        for (int c = 0; c < d; c++) { \
            float acc = 0.0f; \
            for (int j = 0; j < LIMIT; j++) acc += s[j] * v[VAT]; \
            out[i * d + c] = (NORM) ? acc / sum : acc; \
        } \
    }

EXPORT("attention_no_max")
void attention_no_max(const float *q, const float *k, const float *v, float *out, int n, int d) {
    float s[n > 0 ? n : 1];
    BODY(1.0f / sqrtf((float)d), 0.0f, 1, j * d + c, n)
}

EXPORT("attention_causal_plus_one")
void attention_causal_plus_one(const float *q, const float *k, const float *v, float *out, int n,
                               int d) {
    float s[n > 0 ? n : 1];
    BODY(1.0f / sqrtf((float)d), mx, 1, j * d + c, (i + 2 < n ? i + 2 : n))
}

EXPORT("attention_times_sqrt")
void attention_times_sqrt(const float *q, const float *k, const float *v, float *out, int n,
                          int d) {
    float s[n > 0 ? n : 1];
    BODY(sqrtf((float)d), mx, 1, j * d + c, n)
}

EXPORT("attention_unnormalized")
void attention_unnormalized(const float *q, const float *k, const float *v, float *out, int n,
                            int d) {
    float s[n > 0 ? n : 1];
    BODY(1.0f / sqrtf((float)d), mx, 0, j * d + c, n)
}

EXPORT("attention_v_transposed")
void attention_v_transposed(const float *q, const float *k, const float *v, float *out, int n,
                            int d) {
    float s[n > 0 ? n : 1];
    BODY(1.0f / sqrtf((float)d), mx, 1, c * n + j, n)
}

EXPORT("attention_scratch")
void attention_scratch(const float *q, const float *k, const float *v, float *out, float *s,
                       int n, int d) {
    BODY(1.0f / sqrtf((float)d), mx, 1, j * d + c, n)
}
