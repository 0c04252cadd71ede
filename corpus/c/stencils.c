// barq corpus: 3x3 stencils on 8-bit images for the native target's probe (the
// weights are read off the function by probing, not assumed). Identified:
// sharpening and a clamped vertical Sobel, written with other parameter orders and
// loop shapes than conv3x3.c's edge detector. Near misses (never identified): a
// box blur that divides by 9, an absolute Sobel, an output in the valid layout.
// (The portable target rewrites them exactly.)
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("sharpen_u8") void sharpen_u8(int w, int h, const unsigned char *in, unsigned char *out) {
    for (int y = 1; y + 1 < h; y++) {
        const unsigned char *above = in + (y - 1) * w, *row = in + y * w, *below = in + (y + 1) * w;
        for (int x = 1; x + 1 < w; x++) {
            int v = 5 * row[x] - row[x - 1] - row[x + 1] - above[x] - below[x];
            out[y * w + x] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
    }
}

EXPORT("sobel_y_u8") void sobel_y_u8(unsigned char *out, const unsigned char *in, int h, int w) {
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            int g = 0;
            static const int k[3][3] = {{-1, -2, -1}, {0, 0, 0}, {1, 2, 1}};
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) g += k[dy + 1][dx + 1] * in[(y + dy) * w + x + dx];
            out[y * w + x] = g < 0 ? 0 : (g > 255 ? 255 : g);
        }
}

EXPORT("blur_u8") void blur_u8(const unsigned char *in, unsigned char *out, int h, int w) {
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            int s = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) s += in[(y + dy) * w + x + dx];
            out[y * w + x] = s / 9;
        }
}

EXPORT("sobel_abs_u8") void sobel_abs_u8(const unsigned char *in, unsigned char *out, int h, int w) {
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            int g = in[(y + 1) * w + x - 1] + 2 * in[(y + 1) * w + x] + in[(y + 1) * w + x + 1] -
                    in[(y - 1) * w + x - 1] - 2 * in[(y - 1) * w + x] - in[(y - 1) * w + x + 1];
            g = g < 0 ? -g : g;
            out[y * w + x] = g > 255 ? 255 : g;
        }
}

EXPORT("edges_valid_u8") void edges_valid_u8(const unsigned char *in, unsigned char *out, int h, int w) {
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            int c = 8 * in[y * w + x] - in[(y - 1) * w + x - 1] - in[(y - 1) * w + x] - in[(y - 1) * w + x + 1] -
                    in[y * w + x - 1] - in[y * w + x + 1] - in[(y + 1) * w + x - 1] - in[(y + 1) * w + x] -
                    in[(y + 1) * w + x + 1];
            out[(y - 1) * (w - 2) + x - 1] = c < 0 ? 0 : (c > 255 ? 255 : c);
        }
}
