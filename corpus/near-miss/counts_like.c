// barq near misses: loops that look like counts of matching elements but are not
// a sum of independent terms, or leave early. None may be rewritten.
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

// Compares each byte with the previous one: a value carried across iterations.
EXPORT("count_rising") int count_rising(const uint8_t *p, int n) {
    int k = 0;
    uint8_t last = 0;
    for (int i = 0; i < n; i++) {
        k += p[i] > last;
        last = p[i];
    }
    return k;
}

// The compared value moves with the loop.
EXPORT("count_moving_target") int count_moving_target(const uint8_t *p, int n, uint8_t c) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        k += p[i] == c;
        c += 3;
    }
    return k;
}

// Stops at the first zero byte (a C string's length bounds the count).
EXPORT("count_until_nul") int count_until_nul(const uint8_t *p, int n, uint8_t c) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] == 0) break;
        k += p[i] == c;
    }
    return k;
}

// The count saturates: not a sum.
EXPORT("count_capped") int count_capped(const uint8_t *p, int n, uint8_t c) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        k += p[i] == c;
        if (k > 100) k = 100;
    }
    return k;
}
