// barq corpus: pattern `attention` (f32): single-head scaled dot-product attention,
// out = softmax(Q K^T * scale) V, Q n x d, K and V m x d (or n x d), row-major.
// Written three ways: the scores in a variable-length array on the stack then a
// softmax and a weighted sum (attention), online softmax accumulating into the
// output row with keys and queries counted apart (attention_online), and the
// scale as a parameter with the weights normalized before the sum
// (attention_scaled), a causal mask as a decoder with a KV cache applies it,
// query i of the n newest seeing keys 0..=i + m - n (attention_causal), and the
// scores in a fixed local array of 512 (attention_fixed: at most 512 keys). expf/sqrtf are wasi-libc's (musl's) libm, linked in.
// barq-cflags: -lc /usr/lib/wasm32-wasi/crt1-reactor.o -Wl,--export=_initialize
#include <float.h>
#include <math.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("attention")
void attention(const float *q, const float *k, const float *v, float *out, int n, int d) {
    float scale = 1.0f / sqrtf((float)d);
    float s[n > 0 ? n : 1];
    for (int i = 0; i < n; i++) {
        const float *qi = q + i * d;
        float mx = -FLT_MAX;
        for (int j = 0; j < n; j++) {
            float dot = 0.0f;
            for (int c = 0; c < d; c++) dot += qi[c] * k[j * d + c];
            s[j] = dot * scale;
            if (s[j] > mx) mx = s[j];
        }
        float sum = 0.0f;
        for (int j = 0; j < n; j++) {
            s[j] = expf(s[j] - mx);
            sum += s[j];
        }
        for (int c = 0; c < d; c++) {
            float acc = 0.0f;
            for (int j = 0; j < n; j++) acc += s[j] * v[j * d + c];
            out[i * d + c] = acc / sum;
        }
    }
}

EXPORT("attention_online")
void attention_online(const float *q, const float *k, const float *v, float *out, int n,
                      int m, int d) {
    const float scale = 1.0f / sqrtf((float)d);
    for (int i = 0; i < n; i++) {
        float *o = out + i * d;
        for (int c = 0; c < d; c++) o[c] = 0.0f;
        float mx = -FLT_MAX, sum = 0.0f;
        for (int j = 0; j < m; j++) {
            float dot = 0.0f;
            for (int c = 0; c < d; c++) dot += q[i * d + c] * k[j * d + c];
            dot *= scale;
            if (dot > mx) {
                float r = expf(mx - dot);
                sum *= r;
                for (int c = 0; c < d; c++) o[c] *= r;
                mx = dot;
            }
            float p = expf(dot - mx);
            sum += p;
            for (int c = 0; c < d; c++) o[c] += p * v[j * d + c];
        }
        for (int c = 0; c < d; c++) o[c] /= sum;
    }
}

EXPORT("attention_scaled")
void attention_scaled(float *out, const float *q, const float *k, const float *v, int d,
                      int n, float scale) {
    for (int i = 0; i < n; i++) {
        float w[n];
        float mx = -FLT_MAX;
        for (int j = 0; j < n; j++) {
            const float *a = q + i * d, *b = k + j * d;
            float dot = 0.0f;
            for (int c = 0; c < d; c++) dot += a[c] * b[c];
            w[j] = scale * dot;
            mx = fmaxf(mx, w[j]);
        }
        float sum = 0.0f;
        for (int j = 0; j < n; j++) sum += (w[j] = expf(w[j] - mx));
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) w[j] *= inv;
        for (int c = 0; c < d; c++) out[i * d + c] = 0.0f;
        for (int j = 0; j < n; j++)
            for (int c = 0; c < d; c++) out[i * d + c] += w[j] * v[j * d + c];
    }
}

EXPORT("attention_causal")
void attention_causal(const float *q, const float *k, const float *v, float *out, int n, int m,
                      int d) {
    const float scale = 1.0f / sqrtf((float)d);
    float s[m > 0 ? m : 1];
    for (int i = 0; i < n; i++) {
        int seen = i + 1 + m - n;
        float mx = -FLT_MAX;
        for (int j = 0; j < seen; j++) {
            float dot = 0.0f;
            for (int c = 0; c < d; c++) dot += q[i * d + c] * k[j * d + c];
            s[j] = dot * scale;
            mx = s[j] > mx ? s[j] : mx;
        }
        float sum = 0.0f;
        for (int j = 0; j < seen; j++) sum += s[j] = expf(s[j] - mx);
        for (int c = 0; c < d; c++) {
            float acc = 0.0f;
            for (int j = 0; j < seen; j++) acc += s[j] * v[j * d + c];
            out[i * d + c] = acc / sum;
        }
    }
}

#define MAX_KEYS 512

EXPORT("attention_fixed")
void attention_fixed(const float *q, const float *k, const float *v, float *out, int n, int d) {
    float s[MAX_KEYS];
    const float scale = 1.0f / sqrtf((float)d);
    for (int i = 0; i < n; i++) {
        float mx = -FLT_MAX, sum = 0.0f;
        for (int j = 0; j < n && j < MAX_KEYS; j++) {
            float dot = 0.0f;
            for (int c = 0; c < d; c++) dot += q[i * d + c] * k[j * d + c];
            s[j] = dot * scale;
            if (s[j] > mx) mx = s[j];
        }
        for (int j = 0; j < n && j < MAX_KEYS; j++) sum += s[j] = expf(s[j] - mx);
        for (int c = 0; c < d; c++) {
            float acc = 0.0f;
            for (int j = 0; j < n && j < MAX_KEYS; j++) acc += s[j] * v[j * d + c];
            out[i * d + c] = acc / sum;
        }
    }
}
