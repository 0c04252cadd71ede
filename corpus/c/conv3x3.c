// barq corpus: pattern `conv2d` (3x3, valid borders, f32, bias + fused ReLU), and an
// 8-bit 3x3 edge detector. Exact when vectorized across output pixels.
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("conv3x3_relu") void conv3x3_relu(const float *in, const float *k, float bias, float *out, int h, int w) {
    for (int y = 0; y < h - 2; y++)
        for (int x = 0; x < w - 2; x++) {
            float s = bias;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) s += in[(y + ky) * w + (x + kx)] * k[ky * 3 + kx];
            out[y * (w - 2) + x] = s > 0.0f ? s : 0.0f;
        }
}

EXPORT("edges_u8") void edges_u8(const unsigned char *img, unsigned char *out, int h, int w) {
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            int c = 8 * img[y * w + x] - img[(y - 1) * w + x - 1] - img[(y - 1) * w + x] -
                    img[(y - 1) * w + x + 1] - img[y * w + x - 1] - img[y * w + x + 1] -
                    img[(y + 1) * w + x - 1] - img[(y + 1) * w + x] - img[(y + 1) * w + x + 1];
            out[y * w + x] = c < 0 ? 0 : (c > 255 ? 255 : c);
        }
}
