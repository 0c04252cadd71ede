// barq corpus: patterns `relu`, `clamp` (elementwise), f32 and i32. Exact.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("relu") void relu(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

EXPORT("relu_out") void relu_out(const float *in, float *out, int n) {
    for (int i = 0; i < n; i++) {
        float v = in[i];
        out[i] = v < 0.0f ? 0.0f : v;
    }
}

EXPORT("clamp_i32") void clamp_i32(int *x, int n, int lo, int hi) {
    for (int i = 0; i < n; i++) {
        int v = x[i];
        x[i] = v < lo ? lo : (v > hi ? hi : v);
    }
}
