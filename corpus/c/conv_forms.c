// barq corpus: pattern `conv2d` in the forms the issue names beyond conv3x3.c's
// single-channel 3x3: several input and output channels (CHW with a bias per output
// channel and ReLU; HWC, channels last), a 5x5 kernel, zero padding by bounds tests
// inside the window ("same" output), and stride 2. Exact when vectorized across
// output pixels (each lane keeps its pixel's order of products).
#define EXPORT(name) __attribute__((export_name(name)))

// multi-channel, KxK generic, valid, stride 1: in[c][h][w], k[oc][c][K][K], out[oc][oh][ow]
EXPORT("conv_chw") void conv_chw(const float *in, const float *k, const float *bias, float *out,
                                 int c_in, int c_out, int h, int w, int K) {
    int oh = h - K + 1, ow = w - K + 1;
    for (int o = 0; o < c_out; o++)
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) {
                float s = bias[o];
                for (int c = 0; c < c_in; c++)
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++)
                            s += in[(c * h + y + ky) * w + x + kx] * k[((o * c_in + c) * K + ky) * K + kx];
                out[(o * oh + y) * ow + x] = s > 0.0f ? s : 0.0f;
            }
}

// 5x5 constant kernel size, single channel
EXPORT("conv5x5") void conv5x5(const float *in, const float *k, float *out, int h, int w) {
    for (int y = 0; y + 4 < h; y++)
        for (int x = 0; x + 4 < w; x++) {
            float s = 0.0f;
            for (int ky = 0; ky < 5; ky++)
                for (int kx = 0; kx < 5; kx++) s += in[(y + ky) * w + x + kx] * k[ky * 5 + kx];
            out[y * (w - 4) + x] = s;
        }
}

// padded ("same") 3x3, zero padding by bounds checks
EXPORT("conv_same") void conv_same(const float *in, const float *k, float *out, int h, int w) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            float s = 0.0f;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    int iy = y + ky - 1, ix = x + kx - 1;
                    if (iy >= 0 && iy < h && ix >= 0 && ix < w) s += in[iy * w + ix] * k[ky * 3 + kx];
                }
            out[y * w + x] = s;
        }
}

// stride 2, 3x3 valid
EXPORT("conv_s2") void conv_s2(const float *in, const float *k, float *out, int h, int w) {
    int oh = (h - 3) / 2 + 1, ow = (w - 3) / 2 + 1;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            float s = 0.0f;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) s += in[(2 * y + ky) * w + 2 * x + kx] * k[ky * 3 + kx];
            out[y * ow + x] = s;
        }
}

// HWC layout (channels last), 3x3, c_in channels -> c_out
EXPORT("conv_hwc") void conv_hwc(const float *in, const float *k, float *out, int h, int w, int ci, int co) {
    for (int y = 0; y + 2 < h; y++)
        for (int x = 0; x + 2 < w; x++)
            for (int o = 0; o < co; o++) {
                float s = 0.0f;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                        for (int c = 0; c < ci; c++)
                            s += in[((y + ky) * w + x + kx) * ci + c] * k[((ky * 3 + kx) * ci + c) * co + o];
                out[(y * (w - 2) + x) * co + o] = s;
            }
}
