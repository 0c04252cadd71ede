// barq corpus: near misses of the 3x3 convolution for the native target's probe:
// each computes something `conv3x3_f32_v1` does not. None may be identified. (The
// portable target rewrites them exactly: lockstep keeps each pixel's own order.)
#define EXPORT(name) __attribute__((export_name(name)))

// The nine products summed column by column (another order).
EXPORT("conv3x3_columns") void conv3x3_columns(const float *in, const float *k, float bias, float *out, int h, int w) {
    for (int y = 0; y < h - 2; y++)
        for (int x = 0; x < w - 2; x++) {
            float s = bias;
            for (int kx = 0; kx < 3; kx++)
                for (int ky = 0; ky < 3; ky++) s += in[(y + ky) * w + (x + kx)] * k[ky * 3 + kx];
            out[y * (w - 2) + x] = s > 0.0f ? s : 0.0f;
        }
}

// The kernel flipped (a true convolution rather than a correlation).
EXPORT("conv3x3_flipped") void conv3x3_flipped(const float *in, const float *k, float bias, float *out, int h, int w) {
    for (int y = 0; y < h - 2; y++)
        for (int x = 0; x < w - 2; x++) {
            float s = bias;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) s += in[(y + ky) * w + (x + kx)] * k[8 - (ky * 3 + kx)];
            out[y * (w - 2) + x] = s > 0.0f ? s : 0.0f;
        }
}

// Output rows as wide as the input's (a different layout).
EXPORT("conv3x3_wide_rows") void conv3x3_wide_rows(const float *in, const float *k, float bias, float *out, int h, int w) {
    for (int y = 0; y < h - 2; y++)
        for (int x = 0; x < w - 2; x++) {
            float s = bias;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) s += in[(y + ky) * w + (x + kx)] * k[ky * 3 + kx];
            out[y * w + x] = s > 0.0f ? s : 0.0f;
        }
}

// A leaky ReLU.
EXPORT("conv3x3_leaky") void conv3x3_leaky(const float *in, const float *k, float bias, float *out, int h, int w) {
    for (int y = 0; y < h - 2; y++)
        for (int x = 0; x < w - 2; x++) {
            float s = bias;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) s += in[(y + ky) * w + (x + kx)] * k[ky * 3 + kx];
            out[y * (w - 2) + x] = s > 0.0f ? s : 0.01f * s;
        }
}
