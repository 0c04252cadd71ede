// barq near misses of min/max reductions (../c/extremes.c): a comparison that takes
// NaN elements (`!(x <= m)`: the result then depends on where NaNs sit), an index
// of the maximum compared with another element than the one it names
// (`x[i] > x[best / 2]`; `x[i] > x[best]` is ../c/argmax.c's, rewritten), a maximum
// plus one (the value taken is not the value compared), and a maximum over a
// stride-2 walk read backwards.
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("max_nan_taking") float max_nan_taking(const float *x, int n) {
    float m = 0;
    for (int i = 0; i < n; i++)
        if (!(x[i] <= m)) m = x[i];
    return m;
}

EXPORT("argmax_half_f32") int argmax_half_f32(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best / 2]) best = i;
    return best;
}

EXPORT("max_plus_one") int max_plus_one(const int *x, int n) {
    int m = 0;
    for (int i = 0; i < n; i++)
        if (x[i] > m) m = x[i] + 1;
    return m;
}

EXPORT("max_backwards_f32") float max_backwards_f32(const float *x, int n) {
    float m = -1e30f;
    for (int i = n - 1; i >= 0; i--)
        if (x[i] > m) m = x[i];
    return m;
}

// A signed-byte running value over unsigned bytes: `m` keeps `(int8_t)p[i]`, so
// 200 is kept as -56 and compared as such; not the maximum of the elements.
EXPORT("max_u8_into_i8") int max_u8_into_i8(const uint8_t *p, int n) {
    int8_t m = 0;
    for (int i = 0; i < n; i++)
        if (p[i] > m) m = p[i];
    return m;
}
