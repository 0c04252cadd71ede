// barq corpus: search loops, which leave at the first element that meets a
// condition (an exit inside the iteration, nothing stored). -fno-builtin keeps
// clang from turning strlen/memchr/memcmp loops into libc calls.
// barq-cflags: -fno-builtin
#include <stddef.h>
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

// C strings: the terminator is the only exit.
EXPORT("strlen_u8") size_t strlen_u8(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

// A byte's index, or -1.
EXPORT("find_u8") int find_u8(const uint8_t *p, int n, uint8_t c) {
    for (int i = 0; i < n; i++)
        if (p[i] == c) return i;
    return -1;
}

// memchr: pointer and count both stepping.
EXPORT("memchr_u8") const uint8_t *memchr_u8(const uint8_t *p, uint8_t c, size_t n) {
    for (; n; n--, p++)
        if (*p == c) return p;
    return 0;
}

// memrchr: from the end backwards.
EXPORT("memrchr_u8") int memrchr_u8(const uint8_t *p, int n, uint8_t c) {
    for (int i = n - 1; i >= 0; i--)
        if (p[i] == c) return i;
    return -1;
}

// The first position where two buffers differ.
EXPORT("first_diff_u8") int first_diff_u8(const uint8_t *a, const uint8_t *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return i;
    return n;
}

// memcmp: the difference of the first bytes that differ.
EXPORT("memcmp_u8") int memcmp_u8(const uint8_t *a, const uint8_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return a[i] - b[i];
    return 0;
}

// A key's index in an int array.
EXPORT("find_i32") int find_i32(const int32_t *p, int n, int32_t key) {
    for (int i = 0; i < n; i++)
        if (p[i] == key) return i;
    return -1;
}

// "Is anything set?" (a dirty-page check).
EXPORT("any_nonzero_u8") int any_nonzero_u8(const uint8_t *p, int n) {
    for (int i = 0; i < n; i++)
        if (p[i]) return 1;
    return 0;
}

// "Are all equal?"
EXPORT("all_equal_i32") int all_equal_i32(const int32_t *p, int n, int32_t v) {
    for (int i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

// Two conditions joined by ||: a tokenizer skipping blanks.
EXPORT("skip_spaces") const char *skip_spaces(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    return s;
}

// A float threshold (NaN never exceeds it).
EXPORT("find_above_f32") int find_above_f32(const float *p, int n, float t) {
    for (int i = 0; i < n; i++)
        if (p[i] > t) return i;
    return n;
}

// The ASCII prefix of UTF-8 text (a while loop with && in its test).
EXPORT("find_nonascii") int find_nonascii(const uint8_t *p, int n) {
    int i = 0;
    while (i < n && p[i] < 0x80) i++;
    return i;
}

// 16-bit samples: the first one at or over a level (signed).
EXPORT("find_loud_i16") int find_loud_i16(const int16_t *p, int n, int16_t level) {
    for (int i = 0; i < n; i++)
        if (p[i] >= level || p[i] <= -level) return i;
    return -1;
}

// 64-bit keys.
EXPORT("find_u64") int find_u64(const uint64_t *p, int n, uint64_t key) {
    for (int i = 0; i < n; i++)
        if (p[i] == key) return i;
    return -1;
}

// The first NaN of a double array (x != x).
EXPORT("find_nan_f64") int find_nan_f64(const double *p, int n) {
    for (int i = 0; i < n; i++)
        if (p[i] != p[i]) return i;
    return -1;
}

// strnlen: a terminator or a count.
EXPORT("strnlen_u8") size_t strnlen_u8(const char *s, size_t max) {
    size_t n = 0;
    while (n < max && s[n]) n++;
    return n;
}

// Either of two bytes (a CSV field's end: separator or newline).
EXPORT("find_either_u8") int find_either_u8(const uint8_t *p, int n, uint8_t a, uint8_t b) {
    for (int i = 0; i < n; i++)
        if (p[i] == a || p[i] == b) return i;
    return n;
}

// A character class by mask (the high bit and control characters).
EXPORT("find_special_u8") int find_special_u8(const uint8_t *p, int n) {
    for (int i = 0; i < n; i++)
        if ((p[i] & 0xe0) == 0 || (p[i] & 0x80)) return i;
    return n;
}

// The length of a run of one byte (strspn of one character): the loop stays
// while the bytes equal the key.
EXPORT("span_u8") int span_u8(const uint8_t *p, int n, uint8_t c) {
    int i = 0;
    while (i < n && p[i] == c) i++;
    return i;
}

// The n-th string of a table of NUL-terminated strings (strerror's walk). At
// -O2, -O3 and -Os clang merges the two loops into one with two back edges, one
// of which counts n down: a value that changes on some iterations only
// (declined); the inner loops of -O1 and -Oz, and the first string's loop
// -O2/-O3 peel, are strlens (rewritten).
EXPORT("nth_string") const char *nth_string(const char *s, int n) {
    for (; n > 0; n--)
        while (*s++) {}
    return s;
}
