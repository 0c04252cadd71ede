// barq corpus: 8- and 16-bit maps as image and audio code writes them (pattern
// `map`): invert, wrapping and saturating adds, a threshold, a brightness step,
// an alpha blend, halving 16-bit samples, and, in other styles, an 8-bit absolute
// value, a 3/4 scale, 16-bit unsigned shifts, a colour key, an unsigned threshold,
// a pointer walk and a 16-bit gain with clipping. Exact: SIMD128 in i8x16 or i16x8
// lanes (each lane the element's i32 value modulo 2^8 or 2^16; comparisons and
// right shifts only where a value-range analysis shows the value fits the lane),
// at every level, clang -O2/-O3's unrolled copies included. The blend's division by
// 255 has no SIMD form (declined); the gain's clipping compares values wider than
// 16 bits (the loop-nest pass's i32 lanes take it at -O1, -Os, -Oz). Mixed widths:
// 16-bit values clipped to bytes, bytes widened to 16 bits (each stream advances by
// its own element), and a codec's reconstruction (prediction plus a 16-bit
// residual, clipped: the sum needs 17 bits, so only the i32 lanes take it).
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

EXPORT("abs_i8") void abs_i8(int8_t *x, int n) {
    for (int i = 0; i < n; i++) x[i] = x[i] < 0 ? -x[i] : x[i];
}

EXPORT("scale_u8") void scale_u8(uint8_t *p, int n) {
    for (int i = 0; i < n; i++) p[i] = (p[i] * 3) >> 2;
}

EXPORT("shift_u16") void shift_u16(uint16_t *x, const uint16_t *y, int n) {
    for (int i = 0; i < n; i++) x[i] = (uint16_t)((x[i] >> 4) + (y[i] << 3));
}

EXPORT("key_u8") void key_u8(uint8_t *p, int n, int key) {
    for (int i = 0; i < n; i++)
        if (p[i] == key) p[i] = 0;
}

EXPORT("below_u8") void below_u8(const uint8_t *in, uint8_t *out, int n, unsigned t) {
    for (int i = 0; i < n; i++) out[i] = (unsigned)in[i] < t ? 1 : 0;
}

EXPORT("darken_u8") void darken_u8(uint8_t *p, int n, int by) {
    uint8_t *end = p + n;
    while (p < end) {
        int v = *p - by;
        *p++ = v < 0 ? 0 : v;
    }
}

EXPORT("gain_i16") void gain_i16(int16_t *x, int n) {
    for (int i = 0; i < n; i++) {
        int v = x[i] * 3;
        x[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
    }
}

EXPORT("near_zero_i8") void near_zero_i8(const int8_t *in, uint8_t *out, int n) {
    for (int i = 0; i < n; i++) out[i] = in[i] >= -3 && in[i] <= 3;
}

EXPORT("above_u_i8") void above_u_i8(const int8_t *in, uint8_t *out, int n) {
    for (int i = 0; i < n; i++) out[i] = (unsigned)in[i] > 5u ? 200 : 10;
}

EXPORT("absdiff_u8") void absdiff_u8(const uint8_t *a, const uint8_t *b, uint8_t *out, int n) {
    for (int i = 0; i < n; i++) out[i] = a[i] > b[i] ? a[i] - b[i] : b[i] - a[i];
}

EXPORT("clip_i16_u8") void clip_i16_u8(const int16_t *in, uint8_t *out, int n) {
    for (int i = 0; i < n; i++) out[i] = in[i] < 0 ? 0 : in[i] > 255 ? 255 : in[i];
}

EXPORT("center_u8_i16") void center_u8_i16(const uint8_t *in, int16_t *out, int n) {
    for (int i = 0; i < n; i++) out[i] = (int16_t)((in[i] - 128) << 4);
}

EXPORT("add_residual_u8") void add_residual_u8(const uint8_t *pred, const int16_t *res, uint8_t *out, int n) {
    for (int i = 0; i < n; i++) {
        int v = pred[i] + res[i];
        out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
}

// Audio: 16-bit samples clamped to a caller's range (one past the range of an
// int16_t does not fit a 16-bit lane: the kernel compares with the bounds as they
// are and settles, once per call, the bounds outside the sample range).
EXPORT("limit_i16") void limit_i16(const int16_t *x, int16_t *out, int n, int lo, int hi) {
    for (int i = 0; i < n; i++) out[i] = x[i] < lo ? lo : x[i] > hi ? hi : x[i];
}

// Saturating arithmetic written as clamps: `i16x8.add_sat_s` and friends where the
// clamp is exactly the lane's range (found by evaluating the clamp at every value
// the sum can take), and two clamps that only look like it: to 254 (not the
// lane's range) and a 16-bit sum clamped at the top only (a negative overflow
// wraps). Audio mixing, image differences.
EXPORT("mix_sat_i16") void mix_sat_i16(const int16_t *x, const int16_t *y, int16_t *out, int n) {
    for (int i = 0; i < n; i++) {
        int s = x[i] + y[i];
        out[i] = s > 32767 ? 32767 : s < -32768 ? -32768 : s;
    }
}

EXPORT("sub_sat_u8") void sub_sat_u8(uint8_t *p, const uint8_t *q, int n) {
    for (int i = 0; i < n; i++) p[i] = p[i] > q[i] ? p[i] - q[i] : 0;
}

EXPORT("add_sat_u16") void add_sat_u16(uint16_t *x, const uint16_t *y, int n) {
    for (int i = 0; i < n; i++) {
        unsigned s = x[i] + y[i];
        x[i] = s > 65535 ? 65535 : s;
    }
}

EXPORT("add_clip_254") void add_clip_254(uint8_t *p, const uint8_t *q, int n) {
    for (int i = 0; i < n; i++) {
        int s = p[i] + q[i];
        p[i] = s > 254 ? 254 : s;
    }
}

EXPORT("mix_top_i16") void mix_top_i16(int16_t *x, const int16_t *y, int n) {
    for (int i = 0; i < n; i++) {
        int s = x[i] + y[i];
        x[i] = s > 32767 ? 32767 : s;
    }
}
