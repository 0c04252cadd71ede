// barq near misses: loops that look like integer folds (sums, `|=`, `^=`) but
// are not one associative operation over independent terms. None may be
// rewritten: reordering any of them changes the result.
#include <stdint.h>
#define EXPORT(name) __attribute__((export_name(name)))

// Two different folds in turn: `(acc | a[i]) ^ b[i]` depends on the order.
EXPORT("or_then_xor") uint32_t or_then_xor(const uint32_t *a, const uint32_t *b, int n) {
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) acc = (acc | a[i]) ^ b[i];
    return acc;
}

// Bit packing: the running value is shifted every step.
EXPORT("pack_bits") uint32_t pack_bits(const uint8_t *p, int n) {
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) acc = (acc << 1) | (p[i] & 1);
    return acc;
}

// A sum of absolute differences that saturates every step: a clamp of the
// running sum is not associative.
EXPORT("sad_saturating") uint32_t sad_saturating(const uint8_t *a, const uint8_t *b, int n) {
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) {
        int d = a[i] - b[i];
        acc += d < 0 ? -d : d;
        if (acc > 1000) acc = 1000;
    }
    return acc;
}

// Each byte's term uses the running value (a rolling hash).
EXPORT("xor_rolling") uint32_t xor_rolling(const uint8_t *p, int n) {
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) acc ^= (acc >> 3) + p[i];
    return acc;
}

// A widened byte term that depends on the iteration before: the distance to the
// last byte seen above a threshold (a value carried by a second recurrence).
EXPORT("sad_to_last_peak") uint32_t sad_to_last_peak(const uint8_t *p, int n) {
    uint32_t acc = 0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        int d = p[i] - last;
        acc += d < 0 ? -d : d;
        if (p[i] > 200) last = p[i];
    }
    return acc;
}

// A widened byte term that reads the running sum itself.
EXPORT("sum_mixed_by_acc") uint32_t sum_mixed_by_acc(const uint8_t *p, int n) {
    uint32_t acc = 0;
    for (int i = 0; i < n; i++) acc += (uint8_t)(p[i] ^ acc);
    return acc;
}
