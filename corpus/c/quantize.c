// barq corpus: patterns `quantize` (f32 -> i8, round to nearest even, clamp) and
// `dequantize` (i8 -> f32). Exact.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("quantize_i8") void quantize_i8(const float *x, signed char *q, int n, float inv_scale, int zero_point) {
    for (int i = 0; i < n; i++) {
        float v = __builtin_rintf(x[i] * inv_scale) + (float)zero_point;
        v = v < -128.0f ? -128.0f : v;
        v = v > 127.0f ? 127.0f : v;
        q[i] = (signed char)v;
    }
}

EXPORT("dequantize_i8") void dequantize_i8(const signed char *q, float *x, int n, float scale, int zero_point) {
    for (int i = 0; i < n; i++) x[i] = (float)(q[i] - zero_point) * scale;
}
