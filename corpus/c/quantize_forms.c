// barq corpus: more INT8 (de)quantization forms for the native target's probe,
// and near misses of them. Identified: unsigned bytes with a division and
// roundf; unsigned dequantization; no zero point. Near misses (never identified,
// each differs from every quantization the kernels compute): rounding by
// `(int)(v + 0.5f)`, a symmetric clamp to -127..127, a dequantization with an
// offset added. (The portable target rewrites all of them exactly.)
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("quantize_u8_div") void quantize_u8_div(const float *x, unsigned char *q, int n, float scale, int zero_point) {
    for (int i = 0; i < n; i++) {
        float v = __builtin_roundf(x[i] / scale) + (float)zero_point;
        v = v < 0.0f ? 0.0f : v;
        v = v > 255.0f ? 255.0f : v;
        q[i] = (unsigned char)(int)v;
    }
}

EXPORT("quantize_no_zp") void quantize_no_zp(const float *x, signed char *q, float inv_scale, int n) {
    for (int i = 0; i < n; i++) {
        float v = __builtin_nearbyintf(x[i] * inv_scale);
        v = v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v);
        q[i] = (signed char)v;
    }
}

EXPORT("dequantize_u8") void dequantize_u8(const unsigned char *q, float *x, int n, float scale, int zero_point) {
    for (int i = 0; i < n; i++) x[i] = (float)(q[i] - zero_point) * scale;
}

EXPORT("quantize_half_up") void quantize_half_up(const float *x, signed char *q, int n, float inv_scale, int zero_point) {
    for (int i = 0; i < n; i++) {
        float v = x[i] * inv_scale + (float)zero_point;
        v = v < -128.0f ? -128.0f : v;
        v = v > 127.0f ? 127.0f : v;
        q[i] = (signed char)(int)(v + 0.5f);
    }
}

EXPORT("quantize_symmetric") void quantize_symmetric(const float *x, signed char *q, int n, float inv_scale, int zero_point) {
    for (int i = 0; i < n; i++) {
        float v = __builtin_rintf(x[i] * inv_scale) + (float)zero_point;
        v = v < -127.0f ? -127.0f : v;
        v = v > 127.0f ? 127.0f : v;
        q[i] = (signed char)v;
    }
}

EXPORT("dequantize_offset") void dequantize_offset(const signed char *q, float *x, int n, float scale, int zero_point) {
    for (int i = 0; i < n; i++) x[i] = (float)(q[i] - zero_point) * scale + 0.5f;
}
