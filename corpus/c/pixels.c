// barq corpus: 8- and 16-bit maps as image and audio code writes them (pattern
// `map`): invert, wrapping and saturating adds, a threshold, a brightness step,
// an alpha blend, halving 16-bit samples. Exact: SIMD128 lockstep, each lane one
// element in i32 arithmetic, at -O1, -Os and -Oz (the blend's division by 255 has
// no SIMD form: declined). clang -O2 and -O3 unroll these loops four times: left
// alone (a lockstep of the unrolled copies measured slower than the scalar loop in
// V8; bench/results/2026-12-06-vm-threshold-unrolled-lockstep.md).
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("invert_u8") void invert_u8(uint8_t *p, int n) {
    for (int i = 0; i < n; i++) p[i] = 255 - p[i];
}

EXPORT("add_wrap_u8") void add_wrap_u8(uint8_t *p, const uint8_t *q, int n) {
    for (int i = 0; i < n; i++) p[i] = p[i] + q[i];
}

EXPORT("add_sat_u8") void add_sat_u8(uint8_t *p, const uint8_t *q, int n) {
    for (int i = 0; i < n; i++) {
        int s = p[i] + q[i];
        p[i] = s > 255 ? 255 : s;
    }
}

EXPORT("threshold_u8") void threshold_u8(const uint8_t *in, uint8_t *out, int n, int t) {
    for (int i = 0; i < n; i++) out[i] = in[i] > t ? 255 : 0;
}

EXPORT("brighten_u8") void brighten_u8(uint8_t *p, int n) {
    for (int i = 0; i < n; i++) p[i] = p[i] > 205 ? 255 : p[i] + 50;
}

EXPORT("blend_u8") void blend_u8(uint8_t *out, const uint8_t *a, const uint8_t *b, int n, int alpha) {
    for (int i = 0; i < n; i++) out[i] = (a[i] * alpha + b[i] * (255 - alpha)) / 255;
}

EXPORT("halve_i16") void halve_i16(int16_t *x, int n) {
    for (int i = 0; i < n; i++) x[i] = x[i] >> 1;
}
