// barq corpus: counts of the elements that pass a test (`k += p[i] == c`): lines
// in a buffer, occurrences of a byte, UTF-8 characters (bytes that are not
// continuation bytes, as Rust's `str::chars().count()` counts them), samples above
// a threshold, zeros. 8- and 16-bit elements counted into 32-bit sums; exact in
// any order, so rewritten by default.
#include <stddef.h>
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("count_byte") int count_byte(const uint8_t *p, int n, uint8_t c) {
    int k = 0;
    for (int i = 0; i < n; i++) k += p[i] == c;
    return k;
}

EXPORT("count_lines") size_t count_lines(const char *s, size_t n) {
    size_t lines = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') lines++;
    }
    return lines;
}

EXPORT("count_utf8_chars") unsigned count_utf8_chars(const uint8_t *s, unsigned n) {
    unsigned chars = 0;
    for (unsigned i = 0; i < n; i++) chars += (int8_t)s[i] >= -64;
    return chars;
}

// The threshold is a whole int: one outside the elements' range counts every
// element or none.
EXPORT("count_above_i8") int count_above_i8(const int8_t *x, int n, int t) {
    int k = 0;
    for (int i = 0; i < n; i++) k += x[i] > t;
    return k;
}

EXPORT("count_zero_i16") int count_zero_i16(const int16_t *x, int n) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (x[i] == 0) k++;
    return k;
}

EXPORT("count_below_u16") unsigned count_below_u16(const uint16_t *x, unsigned n, uint16_t t) {
    unsigned k = 0;
    for (unsigned i = 0; i < n; i++) k += x[i] < t;
    return k;
}

EXPORT("count_not_u8") int count_not_u8(const uint8_t *p, int n, uint8_t c) {
    int k = 0;
    while (n-- > 0) k += *p++ != c;
    return k;
}

// Elements as wide as the count: no widening.
EXPORT("count_positive_f32") int count_positive_f32(const float *x, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) k += x[i] > 0.0f;
    return k;
}
